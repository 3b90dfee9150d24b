package tableautest

// Credentials that stop working while the operator's Secret stays unchanged (issue 10 item 3):
// revoked or expired PATs, deleted users, lost site-administrator rights. Each is exercised
// over HTTP, raw where exact codes and counts matter and with the project's client where a
// client's view (its error predicates, its recovery) is the point.

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// signInRaw posts a PAT sign-in and returns the answer, whatever it is.
func signInRaw(t *testing.T, srv *Server, contentURL, name, secret string) rawResponse {
	t.Helper()
	return call(t, srv, http.MethodPost, api("/auth/signin"), xmlHeaders(""),
		`<tsRequest><credentials personalAccessTokenName="`+name+`" personalAccessTokenSecret="`+secret+
			`"><site contentUrl="`+contentURL+`"/></credentials></tsRequest>`)
}

// signInPasswordRaw posts a username/password sign-in and returns the answer.
func signInPasswordRaw(t *testing.T, srv *Server, contentURL, name, password string) rawResponse {
	t.Helper()
	return call(t, srv, http.MethodPost, api("/auth/signin"), xmlHeaders(""),
		`<tsRequest><credentials name="`+name+`" password="`+password+`"><site contentUrl="`+contentURL+
			`"/></credentials></tsRequest>`)
}

// listRaw lists a site's webhooks with a token.
func listRaw(t *testing.T, srv *Server, token, siteID string) rawResponse {
	t.Helper()
	return call(t, srv, http.MethodGet, webhooksPath(siteID), xmlHeaders(token), "")
}

// simClient is the project's Tableau client for one site and PAT of srv.
func simClient(t *testing.T, srv *Server, site string, creds tableau.Credentials) *tableau.Client {
	t.Helper()
	c, err := tableau.NewClient(tableau.Config{ServerURL: srv.URL, Site: site, Credentials: creds,
		QPS: 1000, Burst: 1000, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eventuallyNoError polls f until it succeeds: recovery must not depend on how many calls the
// client spends noticing it (a client may back off refused sign-ins).
func eventuallyNoError(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after 10s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRevokePAT(t *testing.T) {
	for _, state := range []PATState{PATRevoked, PATExpired} {
		t.Run(string(state), func(t *testing.T) {
			srv := NewServer(WithSite("mkt"), WithPAT("op-pat", "s3cr3t"), WithPAT("other-pat", "x"))
			defer srv.Close()
			token, siteID := signInPAT(t, srv, "mkt", "op-pat", "s3cr3t")
			other, _ := signInPAT(t, srv, "mkt", "other-pat", "x")
			wantStatus(t, listRaw(t, srv, token, siteID), http.StatusOK)
			srv.ResetStats()

			if err := srv.RevokePAT("op-pat", state); err != nil {
				t.Fatal(err)
			}
			// The session it held is refused as an invalid token, in both formats.
			wantXMLError(t, listRaw(t, srv, token, siteID), http.StatusUnauthorized, CodeInvalidCredentials)
			wantJSONError(t, call(t, srv, http.MethodGet, webhooksPath(siteID), jsonHeaders(token), ""),
				http.StatusUnauthorized, CodeInvalidCredentials)
			// Sign-in answers Tableau's Signin Error, the same as a wrong secret.
			r := signInRaw(t, srv, "mkt", "op-pat", "s3cr3t")
			wantXMLError(t, r, http.StatusUnauthorized, CodeSignInError)
			if doc := decodeXML(t, r); doc.Error.Summary != "Signin Error" {
				t.Errorf("summary = %q, want Signin Error", doc.Error.Summary)
			}
			wantJSONError(t, call(t, srv, http.MethodPost, api("/auth/signin"), jsonHeaders(""),
				`{"credentials":{"site":{"contentUrl":"mkt"},"personalAccessTokenName":"op-pat","personalAccessTokenSecret":"s3cr3t"}}`),
				http.StatusUnauthorized, CodeSignInError)
			// Other PATs are untouched.
			wantStatus(t, listRaw(t, srv, other, siteID), http.StatusOK)
			if got := srv.PATs(); len(got) != 2 || got[0] != (PAT{"op-pat", "op-pat", state}) || got[1].State != PATActive {
				t.Errorf("PATs = %+v", got)
			}
			// The refused requests count as usual.
			if srv.CountStatus(OpSignIn, http.StatusUnauthorized) != 2 || srv.CountStatus(OpListWebhooks, http.StatusUnauthorized) != 2 ||
				srv.CountStatus(OpListWebhooks, http.StatusOK) != 1 {
				t.Errorf("stats = %+v", srv.Stats())
			}

			if err := srv.RestorePAT("op-pat"); err != nil {
				t.Fatal(err)
			}
			// The ended session stays ended; a new sign-in works.
			wantXMLError(t, listRaw(t, srv, token, siteID), http.StatusUnauthorized, CodeInvalidCredentials)
			token, _ = signInPAT(t, srv, "mkt", "op-pat", "s3cr3t")
			wantStatus(t, listRaw(t, srv, token, siteID), http.StatusOK)
			if got := srv.PATs(); got[0].State != PATActive {
				t.Errorf("PATs after restore = %+v", got)
			}
		})
	}
}

func TestRevokePATErrors(t *testing.T) {
	srv := New(WithPAT("op-pat", "s3cr3t"))
	defer srv.Close()
	if err := srv.RevokePAT("nobody", PATRevoked); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown PAT: %v", err)
	}
	if err := srv.RevokePAT("op-pat", PATActive); !errors.Is(err, ErrInvalid) {
		t.Errorf("state active: %v", err)
	}
	if err := srv.RevokePAT("op-pat", "stolen"); !errors.Is(err, ErrInvalid) {
		t.Errorf("state stolen: %v", err)
	}
	if err := srv.RestorePAT("nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("restore unknown PAT: %v", err)
	}
	// Idempotent both ways.
	for _, err := range []error{srv.RestorePAT("op-pat"), srv.RevokePAT("op-pat", PATRevoked), srv.RevokePAT("op-pat", PATExpired)} {
		if err != nil {
			t.Error(err)
		}
	}
	if got := srv.PATs(); len(got) != 1 || got[0].State != PATExpired {
		t.Errorf("PATs = %+v", got)
	}
}

// TestRevokePATClient is the operator's view: its client's calls fail as unauthorized while
// the PAT is revoked, and the same client works again once it is restored.
func TestRevokePATClient(t *testing.T) {
	srv := NewServer(WithSite("mkt"), WithPAT("op-pat", "s3cr3t"))
	defer srv.Close()
	ctx := context.Background()
	c := simClient(t, srv, "mkt", tableau.Credentials{PATName: "op-pat", PATSecret: "s3cr3t"})
	if _, err := c.ListWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.RevokePAT("op-pat", PATExpired); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListWebhooks(ctx); !tableau.IsUnauthorized(err) {
		t.Fatalf("ListWebhooks with an expired PAT: %v, want IsUnauthorized", err)
	}
	if srv.CountStatus(OpSignIn, http.StatusUnauthorized) == 0 {
		t.Errorf("the client's sign-in was not refused: %+v", srv.Stats())
	}
	if err := srv.RestorePAT("op-pat"); err != nil {
		t.Fatal(err)
	}
	eventuallyNoError(t, "ListWebhooks after RestorePAT", func() error { _, err := c.ListWebhooks(ctx); return err })
}

func TestDeleteUser(t *testing.T) {
	// A PAT and a password of one name are one user.
	srv := NewServer(WithSite("mkt"), WithPAT("op", "s3cr3t"), WithUser("op", "pw"), WithPAT("other-pat", "x"))
	defer srv.Close()
	u, ok := srv.User("op")
	if !ok || !u.Password || len(u.PATs) != 1 || u.PATs[0] != "op" || !u.SiteAdmin || u.SiteRole != SiteRoleSiteAdministratorCreator {
		t.Fatalf("User(op) = %+v, %v", u, ok)
	}
	patToken, siteID := signInPAT(t, srv, "mkt", "op", "s3cr3t")
	r := signInPasswordRaw(t, srv, "mkt", "op", "pw")
	wantStatus(t, r, http.StatusOK)
	pwCreds := decodeXML(t, r).Credentials
	if pwCreds.User.ID != u.ID {
		t.Errorf("password sign-in user %s, want the PAT's user %s", pwCreds.User.ID, u.ID)
	}
	other, _ := signInPAT(t, srv, "mkt", "other-pat", "x")
	hook := createXML(t, srv, patToken, siteID, "owned", "WorkbookCreated", hookURL)

	if err := srv.DeleteUser("op"); err != nil {
		t.Fatal(err)
	}
	for name, token := range map[string]string{"PAT": patToken, "password": pwCreds.Token} {
		t.Run(name+" session", func(t *testing.T) {
			wantXMLError(t, listRaw(t, srv, token, siteID), http.StatusUnauthorized, CodeInvalidCredentials)
		})
	}
	wantXMLError(t, signInRaw(t, srv, "mkt", "op", "s3cr3t"), http.StatusUnauthorized, CodeSignInError)
	wantXMLError(t, signInPasswordRaw(t, srv, "mkt", "op", "pw"), http.StatusUnauthorized, CodeSignInError)
	wantStatus(t, listRaw(t, srv, other, siteID), http.StatusOK)
	if u, _ := srv.User("op"); !u.Deleted {
		t.Errorf("User(op) after delete = %+v", u)
	}
	if _, ok := srv.Webhook("mkt", hook.ID); !ok {
		t.Error("deleting the user deleted its webhook")
	}
	if err := srv.DeleteUser("op"); err != nil {
		t.Errorf("delete twice: %v", err)
	}

	// The client with the password sees it as unauthorized.
	c := simClient(t, srv, "mkt", tableau.Credentials{Username: "op", Password: "pw"})
	if _, err := c.ListWebhooks(context.Background()); !tableau.IsUnauthorized(err) {
		t.Errorf("client ListWebhooks of a deleted user: %v, want IsUnauthorized", err)
	}

	if err := srv.RestoreUser("op"); err != nil {
		t.Fatal(err)
	}
	wantXMLError(t, listRaw(t, srv, patToken, siteID), http.StatusUnauthorized, CodeInvalidCredentials)
	r = signInRaw(t, srv, "mkt", "op", "s3cr3t")
	wantStatus(t, r, http.StatusOK)
	if c := decodeXML(t, r).Credentials; c.User.ID != u.ID {
		t.Errorf("restored user id %s, want %s", c.User.ID, u.ID)
	}
	eventuallyNoError(t, "client ListWebhooks after RestoreUser", func() error {
		_, err := c.ListWebhooks(context.Background())
		return err
	})

	if err := srv.DeleteUser("nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete unknown user: %v", err)
	}
	if err := srv.RestoreUser("nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("restore unknown user: %v", err)
	}
}

// TestDeleteUserKeepsRevokedPAT: restoring a user gives back each PAT in the state it had.
func TestDeleteUserKeepsRevokedPAT(t *testing.T) {
	srv := NewServer(WithPAT("op", "s3cr3t"))
	defer srv.Close()
	if err := errors.Join(srv.RevokePAT("op", PATRevoked), srv.DeleteUser("op"), srv.RestoreUser("op")); err != nil {
		t.Fatal(err)
	}
	wantXMLError(t, signInRaw(t, srv, "", "op", "s3cr3t"), http.StatusUnauthorized, CodeSignInError)
	if err := srv.RestorePAT("op"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, signInRaw(t, srv, "", "op", "s3cr3t"), http.StatusOK)
}

func TestSetSiteRole(t *testing.T) {
	rc := newReceiver(t, http.StatusOK, "")
	srv := NewServer(WithSite("mkt"), WithPAT("op", "s3cr3t"), WithDeliveryClient(rc.Client()))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "mkt", "op", "s3cr3t")
	hook := createXML(t, srv, token, siteID, "kept", "WorkbookCreated", rc.URL)
	hookPath := webhooksPath(siteID) + "/" + hook.ID
	calls := []struct{ op, method, path, body string }{
		{OpListWebhooks, http.MethodGet, webhooksPath(siteID), ""},
		{OpGetWebhook, http.MethodGet, hookPath, ""},
		{OpCreateWebhook, http.MethodPost, webhooksPath(siteID), formA("new", "WorkbookCreated", hookURL)},
		{OpUpdateWebhook, http.MethodPut, hookPath, `<tsRequest><webhook name="renamed"/></tsRequest>`},
		{OpTestWebhook, http.MethodGet, hookPath + "/test", ""},
		{OpDeleteWebhook, http.MethodDelete, hookPath, ""},
	}
	srv.ResetStats()

	if err := srv.SetSiteRole("op", SiteRoleExplorer); err != nil {
		t.Fatal(err)
	}
	// The session already open loses the rights at once, on every webhook call.
	for _, c := range calls {
		t.Run(c.op, func(t *testing.T) {
			wantXMLError(t, call(t, srv, c.method, c.path, xmlHeaders(token), c.body), http.StatusForbidden, CodeForbidden)
			if n := srv.CountStatus(c.op, http.StatusForbidden); n != 1 {
				t.Errorf("%s 403 count = %d", c.op, n)
			}
		})
	}
	wantJSONError(t, call(t, srv, http.MethodGet, webhooksPath(siteID), jsonHeaders(token), ""), http.StatusForbidden, CodeForbidden)
	// Sign-in and serverinfo still work; nothing changed in Tableau; nothing was delivered.
	wantStatus(t, call(t, srv, http.MethodGet, api("/serverinfo"), nil, ""), http.StatusOK)
	fresh, _ := signInPAT(t, srv, "mkt", "op", "s3cr3t")
	wantXMLError(t, listRaw(t, srv, fresh, siteID), http.StatusForbidden, CodeForbidden)
	if hooks := srv.Webhooks("mkt"); len(hooks) != 1 || hooks[0].Name != "kept" || len(rc.received()) != 0 {
		t.Fatalf("webhooks = %+v, deliveries %d", hooks, len(rc.received()))
	}
	if u, _ := srv.User("op"); u.SiteAdmin || u.SiteRole != SiteRoleExplorer {
		t.Errorf("User = %+v", u)
	}

	// Rights come back, to the same session.
	if err := srv.SetSiteRole("op", SiteRoleSiteAdministratorExplorer); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, listRaw(t, srv, fresh, siteID), http.StatusOK)
	wantStatus(t, call(t, srv, http.MethodGet, hookPath+"/test", xmlHeaders(fresh), ""), http.StatusOK)

	if err := srv.SetSiteRole("op", "Overlord"); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown role: %v", err)
	}
	if err := srv.SetSiteRole("nobody", SiteRoleViewer); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
}

// TestSetSiteRoleClient is the operator's view of lost rights: every client webhook method
// reports IsForbidden, and the same client works again when the role comes back.
func TestSetSiteRoleClient(t *testing.T) {
	srv := NewServer(WithSite("mkt"), WithPAT("op", "s3cr3t"))
	defer srv.Close()
	ctx := context.Background()
	c := simClient(t, srv, "mkt", tableau.Credentials{PATName: "op", PATSecret: "s3cr3t"})
	spec := tableau.WebhookSpec{Name: "w", Event: "WorkbookCreated", URL: hookURL, Enabled: true}
	created, err := c.CreateWebhook(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetSiteRole("op", SiteRoleViewer); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ServerInfo(ctx); err != nil {
		t.Errorf("ServerInfo without rights: %v", err)
	}
	for op, call := range map[string]func() error{
		"List":   func() error { _, err := c.ListWebhooks(ctx); return err },
		"Get":    func() error { _, err := c.GetWebhook(ctx, created.ID); return err },
		"Create": func() error { _, err := c.CreateWebhook(ctx, spec); return err },
		"Update": func() error { _, err := c.UpdateWebhook(ctx, created.ID, spec); return err },
		"Test":   func() error { _, err := c.TestWebhook(ctx, created.ID); return err },
		"Delete": func() error { return c.DeleteWebhook(ctx, created.ID) },
	} {
		if err := call(); !tableau.IsForbidden(err) || tableau.IsUnauthorized(err) {
			t.Errorf("%s without rights: %v, want IsForbidden", op, err)
		}
	}
	if n := srv.CountStatus(OpSignIn, http.StatusOK); n != 1 {
		t.Errorf("a 403 made the client sign in again: %d sign-ins", n)
	}
	if err := srv.SetSiteRole("op", SiteRoleSiteAdministratorCreator); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetWebhook(ctx, created.ID); err != nil {
		t.Errorf("GetWebhook after the role came back: %v", err)
	}
}

// TestNonAdminPATIsASiteRole: WithNonAdminPAT is SiteRoleExplorer, which SetSiteRole changes
// like any other role.
func TestNonAdminPATIsASiteRole(t *testing.T) {
	srv := NewServer(WithPAT("op", "s3cr3t"), WithNonAdminPAT("viewer", "v"))
	defer srv.Close()
	if u, ok := srv.User("viewer"); !ok || u.SiteRole != SiteRoleExplorer || u.SiteAdmin {
		t.Fatalf("User(viewer) = %+v, %v", u, ok)
	}
	token, siteID := signInPAT(t, srv, "", "viewer", "v")
	wantXMLError(t, listRaw(t, srv, token, siteID), http.StatusForbidden, CodeForbidden)
	if err := srv.SetSiteRole("viewer", SiteRoleServerAdministrator); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, listRaw(t, srv, token, siteID), http.StatusOK)
	if users := srv.Users(); len(users) != 2 || users[0].Name != "op" || users[1].Name != "viewer" || !users[1].SiteAdmin {
		t.Errorf("Users = %+v", users)
	}
}
