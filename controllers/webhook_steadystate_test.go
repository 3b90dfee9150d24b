package controllers_test

import (
	"fmt"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/controllers"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// In steady state N webhooks on one site cost one List per resync period, no Tableau writes
// and no Kubernetes writes.
func TestSteadyState(t *testing.T) {
	t.Parallel()
	const (
		n       = 20
		resync  = 2 * time.Second
		periods = 3
	)
	var footprint func() map[string]int
	e := newEnv(t, withResync(resync), withFootprint(&footprint))
	site := e.readySite("tableau")
	for i := range n {
		e.create(e.webhookObj(fmt.Sprintf("steady-%02d", i), site.Name, "WorkbookCreated", fmt.Sprintf("https://hooks.example.com/%d", i)))
	}
	versions := func() map[string]string {
		t.Helper()
		var list tableauv1.TableauWebhookList
		if err := k8s.List(e.ctx, &list, client.InNamespace(e.ns)); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, w := range list.Items {
			out[w.Name] = w.ResourceVersion
		}
		e.get(site)
		out["site"] = site.ResourceVersion
		return out
	}
	// Settled: every webhook Ready with no create pending, the site counting them.
	eventually(t, waitTimeout, func() error {
		var list tableauv1.TableauWebhookList
		if err := k8s.List(e.ctx, &list, client.InNamespace(e.ns)); err != nil {
			return err
		}
		for _, w := range list.Items {
			c := apimeta.FindStatusCondition(w.Status.Conditions, tableauv1.ConditionReady)
			if c == nil || c.Status != metav1.ConditionTrue || w.Status.PendingCreate != nil {
				return fmt.Errorf("%s not settled: %+v", w.Name, c)
			}
		}
		e.get(site)
		if len(list.Items) != n || site.Status.Webhooks != n {
			return fmt.Errorf("%d webhooks, site counts %d", len(list.Items), site.Status.Webhooks)
		}
		return nil
	})
	if got := len(e.simWebhooks()); got != n {
		t.Fatalf("simulator has %d webhooks, want %d", got, n)
	}

	// Settling can void the entries of the first webhooks Ready (their site's credentials Secret
	// is marked held after they record, which bumps the site's epoch): each takes one full
	// reconcile at its next resync. Wait for a whole round of skips first. 2n skips cannot
	// happen before every webhook has resynced once: a webhook's next resync comes within 1.15
	// resync periods (jitter: 0.9 to 1.1, rounded up by at most a twentieth), and until it has, no other
	// resyncs more than twice, as a period is at least 0.9 of the resync period.
	settledSkips := footprint()[controllers.ResyncsSkipped]
	eventually(t, waitTimeout, func() error {
		if got := footprint()[controllers.ResyncsSkipped] - settledSkips; got < 2*n {
			return fmt.Errorf("%d resyncs skipped since settling, waiting for %d", got, 2*n)
		}
		return nil
	})

	before, stats, events, skipped := versions(), e.sim.Stats(), len(e.events(site)), footprint()[controllers.ResyncsSkipped]
	window := periods * resync
	staysAtMost(t, window, "Tableau writes in steady state", stats.Writes(), func() int { return e.sim.Stats().Writes() })
	after, now := versions(), e.sim.Stats()

	lists := now.Count(tableautest.OpListWebhooks) - stats.Count(tableautest.OpListWebhooks)
	if lists > periods+1 {
		t.Errorf("%d List Webhooks requests in %s, want at most one per %s period (+1)", lists, window, resync)
	}
	if lists < periods-1 {
		t.Errorf("%d List Webhooks requests in %s: the drift checks did not run every period", lists, window)
	}
	if w := now.Writes() - stats.Writes(); w != 0 {
		t.Errorf("%d Tableau writes in steady state", w)
	}
	if g := now.Count(tableautest.OpGetWebhook) - stats.Count(tableautest.OpGetWebhook); g != 0 {
		t.Errorf("%d Get Webhook requests in steady state: the site's List should serve every drift check", g)
	}
	if si := now.Count(tableautest.OpSignIn) - stats.Count(tableautest.OpSignIn); si != 0 {
		t.Errorf("%d sign-ins in steady state", si)
	}
	for name, rv := range before {
		if after[name] != rv {
			t.Errorf("%s was written in steady state (resourceVersion %s -> %s)", name, rv, after[name])
		}
	}
	if got := len(e.events(site)); got != events {
		t.Errorf("%d new Events on the site in steady state", got-events)
	}
	// Each resync of an unchanged resource skipped the full reconcile (fastpath.go).
	if got := footprint()[controllers.ResyncsSkipped] - skipped; got < n*(periods-1) {
		t.Errorf("%d resyncs skipped the full reconcile in %s, want at least %d (%d webhooks, %d periods)", got, window, n*(periods-1), n, periods-1)
	}
}
