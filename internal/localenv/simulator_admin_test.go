package localenv

import (
	"context"
	"testing"
	"time"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// TestSimulatorCredentialFailures drives each credential and site failure through the admin
// API wrappers against an in-process simulator and checks what a client of it sees: no
// control plane needed.
func TestSimulatorCredentialFailures(t *testing.T) {
	e := &Env{Dir: t.TempDir()}
	t.Cleanup(func() { _ = e.Close() })
	sim, err := e.StartInProcessSimulator(SimulatorOptions{Sites: []string{"marketing"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	signIn := func(site string) error {
		c, err := tableau.NewClient(tableau.Config{ServerURL: sim.URL, Site: site,
			Credentials: tableau.Credentials{PATName: sim.PATName, PATSecret: sim.PATSecret}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.SignIn(ctx)
		return err
	}
	list := func(site string) error {
		c, err := tableau.NewClient(tableau.Config{ServerURL: sim.URL, Site: site,
			Credentials: tableau.Credentials{PATName: sim.PATName, PATSecret: sim.PATSecret}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ListWebhooks(ctx)
		return err
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// PAT revoked, expired, restored ("" is the simulator's own PAT).
	must(sim.RevokePAT(ctx, "", tableautest.PATExpired))
	if pats, err := sim.PATs(ctx); err != nil || len(pats) != 1 || pats[0].State != tableautest.PATExpired {
		t.Fatalf("PATs = %+v, %v", pats, err)
	}
	if err := signIn("marketing"); !tableau.IsUnauthorized(err) {
		t.Errorf("sign-in with an expired PAT: %v", err)
	}
	must(sim.RevokePAT(ctx, "", ""))
	must(sim.RestorePAT(ctx, ""))
	must(signIn("marketing"))
	if err := sim.RevokePAT(ctx, "nobody", ""); err == nil {
		t.Error("RevokePAT of an unknown PAT succeeded")
	}

	// User deleted, restored.
	must(sim.DeleteUser(ctx, ""))
	if users, err := sim.Users(ctx); err != nil || len(users) != 1 || !users[0].Deleted || users[0].Name != sim.PATName {
		t.Fatalf("Users = %+v, %v", users, err)
	}
	if err := signIn("marketing"); !tableau.IsUnauthorized(err) {
		t.Errorf("sign-in of a deleted user: %v", err)
	}
	must(sim.RestoreUser(ctx, ""))
	must(signIn("marketing"))

	// Site role lost, given back.
	must(sim.SetSiteRole(ctx, "", tableautest.SiteRoleExplorer))
	if err := list("marketing"); !tableau.IsForbidden(err) {
		t.Errorf("ListWebhooks without rights: %v", err)
	}
	must(sim.SetSiteRole(ctx, "", tableautest.SiteRoleSiteAdministratorCreator))
	must(list("marketing"))
	if err := sim.SetSiteRole(ctx, "", "Overlord"); err == nil {
		t.Error("SetSiteRole accepted an unknown role")
	}

	// Site deleted, restored, renamed.
	must(sim.DeleteSite(ctx, "marketing"))
	sites, err := sim.ListSites(ctx)
	if err != nil || len(sites.Sites) != 0 || len(sites.DeletedSites) != 1 || sites.DeletedSites[0].ContentURL != "marketing" {
		t.Fatalf("ListSites = %+v, %v", sites, err)
	}
	id := sites.DeletedSites[0].ID
	if err := signIn("marketing"); !tableau.IsUnauthorized(err) {
		t.Errorf("sign-in to a deleted site: %v", err)
	}
	must(sim.RestoreSite(ctx, "marketing", false))
	must(sim.RenameSite(ctx, "marketing", "marketing-2"))
	if err := signIn("marketing"); !tableau.IsUnauthorized(err) {
		t.Errorf("sign-in to the old contentUrl: %v", err)
	}
	must(signIn("marketing-2"))
	if sites, err := sim.ListSites(ctx); err != nil || len(sites.Sites) != 1 || sites.Sites[0].ID != id {
		t.Fatalf("ListSites after rename = %+v, %v (want id %s)", sites, err, id)
	}
}
