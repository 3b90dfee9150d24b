package e2e

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// credentialsResync is the manager's --resync-period in TestCredentialsThatStopWorking: short
// enough that "within one resync period" is observable, long enough that the refusal backoff
// (from 10 s, doubling, capped at the period) shows.
const credentialsResync = 20 * time.Second

// credentialFailure is one way credentials stop working in Tableau while the Secret stays as it
// is, and how it is undone.
type credentialFailure struct {
	name string
	// reason is the TableauSite's Ready reason while it lasts.
	reason string
	// message is a part of that condition's message.
	message string
	// byCall makes a TableauWebhook call Tableau right after the failure (a spec change), so
	// that it is found at the first refused call; without it, it must be found within one
	// resync period by the site's own periodic List.
	byCall bool
	// sites are the simulator's sites (the first is used), when not just "marketing".
	sites []string
	do    func(ctx context.Context, sim *localenv.Simulator) error
	undo  func(ctx context.Context, sim *localenv.Simulator) error
}

func credentialFailures() []credentialFailure {
	return []credentialFailure{
		{
			name: "PATRevoked", reason: tableauv1.ReasonAuthenticationFailed, message: "revoked", byCall: true,
			do: func(ctx context.Context, sim *localenv.Simulator) error {
				return sim.RevokePAT(ctx, "", tableautest.PATRevoked)
			},
			undo: func(ctx context.Context, sim *localenv.Simulator) error { return sim.RestorePAT(ctx, "") },
		},
		{
			name: "PATRevokedFoundByResync", reason: tableauv1.ReasonAuthenticationFailed, message: "revoked",
			do: func(ctx context.Context, sim *localenv.Simulator) error {
				return sim.RevokePAT(ctx, "", tableautest.PATRevoked)
			},
			undo: func(ctx context.Context, sim *localenv.Simulator) error { return sim.RestorePAT(ctx, "") },
		},
		{
			name: "PATExpired", reason: tableauv1.ReasonAuthenticationFailed, message: "expired", byCall: true,
			do: func(ctx context.Context, sim *localenv.Simulator) error {
				return sim.RevokePAT(ctx, "", tableautest.PATExpired)
			},
			undo: func(ctx context.Context, sim *localenv.Simulator) error { return sim.RestorePAT(ctx, "") },
		},
		{
			name: "UserDeleted", reason: tableauv1.ReasonAuthenticationFailed, message: "user deleted", byCall: true,
			do:   func(ctx context.Context, sim *localenv.Simulator) error { return sim.DeleteUser(ctx, "") },
			undo: func(ctx context.Context, sim *localenv.Simulator) error { return sim.RestoreUser(ctx, "") },
		},
		{
			name: "SiteAdministratorRoleLost", reason: tableauv1.ReasonInsufficientPermissions, message: "site administrator", byCall: true,
			do: func(ctx context.Context, sim *localenv.Simulator) error {
				return sim.SetSiteRole(ctx, sim.PATName, tableautest.SiteRoleExplorer)
			},
			undo: func(ctx context.Context, sim *localenv.Simulator) error {
				return sim.SetSiteRole(ctx, sim.PATName, tableautest.SiteRoleSiteAdministratorCreator)
			},
		},
		{
			name: "SiteDeleted", reason: tableauv1.ReasonSiteNotFoundInTableau, message: "deleted", byCall: true,
			do: func(ctx context.Context, sim *localenv.Simulator) error { return sim.DeleteSite(ctx, "marketing") },
			undo: func(ctx context.Context, sim *localenv.Simulator) error {
				return sim.RestoreSite(ctx, "marketing", true)
			},
		},
		{
			// The session outlives a rename (the LUID stays); the next sign-in, with the old
			// contentUrl, is refused. Tokens are expired to make that sign-in happen now.
			name: "SiteRenamed", reason: tableauv1.ReasonAuthenticationFailed, message: "renamed", byCall: true,
			do: func(ctx context.Context, sim *localenv.Simulator) error {
				if err := sim.RenameSite(ctx, "marketing", "marketing-2027"); err != nil {
					return err
				}
				return sim.ExpireTokens(ctx)
			},
			undo: func(ctx context.Context, sim *localenv.Simulator) error {
				return sim.RenameSite(ctx, "marketing-2027", "marketing")
			},
		},
	}
}

// TestCredentialsThatStopWorking takes, in Tableau, what the operator's credentials need while
// their Secret stays unchanged: a revoked or expired token, a deleted user, a lost site
// administrator role, a deleted or renamed site. For each, against the real manager binary:
// the TableauSite's Ready says which, at the first refused call (or within one resync period
// when nothing calls); its TableauWebhooks report SiteNotReady; the refused sign-ins are bounded
// per TableauSite (a backoff, not one per webhook); and once Tableau is put back, everything
// recovers by itself, including a spec change made meanwhile.
func TestCredentialsThatStopWorking(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	bins := binaries(t)
	env := startEnv(t, localenv.Options{})
	ctx := within(t, 8*time.Minute)
	// One simulator per case (each has its own PAT and sites to break), all started before the
	// manager, so that the environment stops the manager first and then them.
	failures := credentialFailures()
	sims := make([]*localenv.Simulator, len(failures))
	for i, f := range failures {
		if f.sites == nil {
			failures[i].sites = []string{"marketing"}
		}
		sim, err := env.StartSimulator(ctx, localenv.SimulatorOptions{Binary: bins.Simulator, Sites: failures[i].sites, TLS: true, Name: "tableau-sim-" + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		sims[i] = sim
	}
	mgr, err := env.StartManager(ctx, localenv.ManagerOptions{Binary: bins.Manager,
		Args: []string{"--resync-period=" + credentialsResync.String()}})
	if err != nil {
		t.Fatal(err)
	}
	showLogOnFailure(t, mgr)

	for i, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			sites, sim := f.sites, sims[i]
			ns := strings.ToLower(f.name)
			fixture, objs := sim.SiteObjects(ns, "marketing", sites[0])
			const n = 5
			hooks := make([]*tableauv1.TableauWebhook, n)
			for j := range hooks {
				hooks[j] = fixture.Webhook(fmt.Sprintf("hook-%d", j), "WorkbookCreated", fmt.Sprintf("https://hooks.example.com/%d", j))
				objs = append(objs, hooks[j])
			}
			if err := env.Apply(ctx, objs); err != nil {
				t.Fatal(err)
			}
			site := fixture.Site()
			waitReady(ctx, t, env, append([]client.Object{site}, objectsOf(hooks)...)...)

			before := simStats(ctx, t, sim)
			if err := f.do(ctx, sim); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if f.byCall {
				// Every webhook wants a change: N calls, which must not mean N sign-ins.
				for j, wh := range hooks {
					wh.Spec.Destination.URL = fmt.Sprintf("https://hooks.example.com/changed/%d", j)
				}
				if err := env.Apply(ctx, objectsOf(hooks)); err != nil {
					t.Fatal(err)
				}
			}
			limit := 10 * time.Second // the first refused call: a reconcile or two
			if !f.byCall {
				limit = credentialsResync + 10*time.Second
			}
			cond := waitSiteReason(ctx, t, env, site, f.reason, limit)
			t.Logf("%s: TableauSite %s after %s: %s", f.name, f.reason, time.Since(start).Round(100*time.Millisecond), cond.Message)
			if !strings.Contains(cond.Message, f.message) {
				t.Errorf("Ready message %q does not say %q", cond.Message, f.message)
			}
			for _, wh := range hooks {
				waitWebhookReason(ctx, t, env, wh, tableauv1.ReasonSiteNotReady)
			}

			// Kept failing for a while: the refused sign-ins follow the site's backoff.
			held := 25 * time.Second
			holdUntil(ctx, t, start.Add(held))
			during := simStats(ctx, t, sim)
			refused := refusedSignIns(during) - refusedSignIns(before)
			bound := 2 + int(math.Log2(time.Since(start).Seconds()/10)+1)
			t.Logf("%s: %d refused sign-ins and %d requests in all in %s, with %d TableauWebhooks",
				f.name, refused, during.Total-before.Total, time.Since(start).Round(time.Second), n)
			if refused > bound {
				t.Errorf("%d refused sign-ins in %s, want at most %d (a backoff per TableauSite, not one per webhook)", refused, time.Since(start).Round(time.Second), bound)
			}

			if err := f.undo(ctx, sim); err != nil {
				t.Fatal(err)
			}
			undone := time.Now()
			waitReady(ctx, t, env, append([]client.Object{site}, objectsOf(hooks)...)...)
			t.Logf("%s: everything Ready again %s after Tableau was put back", f.name, time.Since(undone).Round(100*time.Millisecond))
			if f.byCall {
				for j := range hooks {
					simWebhookOn(ctx, t, sim, sites[0], hooks[j].TableauName(), fmt.Sprintf("https://hooks.example.com/changed/%d", j))
				}
			}
		})
	}
}

func objectsOf(hooks []*tableauv1.TableauWebhook) []client.Object {
	objs := make([]client.Object, len(hooks))
	for i, h := range hooks {
		objs[i] = h
	}
	return objs
}

func simStats(ctx context.Context, t *testing.T, sim *localenv.Simulator) localenv.SimStats {
	t.Helper()
	st, err := sim.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// refusedSignIns counts the sign-ins Tableau refused (401 or 403).
func refusedSignIns(st localenv.SimStats) int {
	by := st.ByOperation[tableautest.OpSignIn]
	return by["401"] + by["403"]
}

// holdUntil waits, doing nothing, until t0 (a failure is kept for a while on purpose).
func holdUntil(ctx context.Context, t *testing.T, t0 time.Time) {
	t.Helper()
	select {
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	case <-time.After(time.Until(t0)):
	}
}

// waitSiteReason waits until the TableauSite's Ready is False with the reason, for its current
// generation, and returns the condition.
func waitSiteReason(ctx context.Context, t *testing.T, env *localenv.Env, site *tableauv1.TableauSite, reason string, limit time.Duration) metav1.Condition {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var cond metav1.Condition
	err := localenv.Poll(ctx, func(ctx context.Context) error {
		got := &tableauv1.TableauSite{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(site), got); err != nil {
			return err
		}
		c := apimeta.FindStatusCondition(got.Status.Conditions, tableauv1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != reason || c.ObservedGeneration != got.Generation {
			return fmt.Errorf("TableauSite %s/%s Ready is %+v, want False/%s", site.Namespace, site.Name, c, reason)
		}
		cond = *c
		return nil
	})
	if err != nil {
		t.Fatalf("not within %s: %v", limit, err)
	}
	return cond
}

// waitWebhookReason waits until the TableauWebhook's Ready is False with the reason.
func waitWebhookReason(ctx context.Context, t *testing.T, env *localenv.Env, wh *tableauv1.TableauWebhook, reason string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := localenv.Poll(ctx, func(ctx context.Context) error {
		got := &tableauv1.TableauWebhook{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(wh), got); err != nil {
			return err
		}
		c := apimeta.FindStatusCondition(got.Status.Conditions, tableauv1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != reason {
			return fmt.Errorf("TableauWebhook %s/%s Ready is %+v, want False/%s", wh.Namespace, wh.Name, c, reason)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// simWebhookOn waits until the simulator's site holds exactly one webhook of that name, with
// that URL.
func simWebhookOn(ctx context.Context, t *testing.T, sim *localenv.Simulator, site, name, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := localenv.Poll(ctx, func(ctx context.Context) error {
		hooks, err := sim.Webhooks(ctx, site)
		if err != nil {
			return err
		}
		var named []localenv.SimWebhook
		for _, h := range hooks {
			if h.Name == name {
				named = append(named, h)
			}
		}
		if len(named) != 1 || named[0].URL != url {
			return fmt.Errorf("simulator webhooks named %q: %+v, want one with URL %s", name, named, url)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
