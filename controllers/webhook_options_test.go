package controllers_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/controllers"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// --tableau-timeout bounds every Tableau call: a slower answer is a transient TableauError,
// retried with backoff until Tableau is fast again, without a duplicate.
func TestOptionTableauTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withOptions(func(o *controllers.Options) { o.TableauTimeout = 300 * time.Millisecond }))
	site := e.readySite("tableau")
	e.sim.SetFaults(tableautest.Faults{Latency: 2 * time.Second, Operations: []string{tableautest.OpCreateWebhook}})
	wh := e.webhookObj("slow", site.Name, "WorkbookCreated", "https://hooks.example.com/slow")
	e.create(wh)
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonTableauError)
	expectReconciling(t, wh, tableauv1.ReasonTableauError)
	if ev := e.waitEventOf(wh, "TableauError"); ev.Type != corev1.EventTypeWarning {
		t.Errorf("TableauError event is %s", ev.Type)
	}

	e.sim.ClearFaults()
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	if got := e.simWebhooks(); len(got) != 1 {
		t.Errorf("simulator has %+v, want exactly one webhook", got)
	}
}

// --max-concurrent-reconciles bounds how many webhooks are worked on at once.
func TestOptionMaxConcurrentReconciles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		workers  int
		min, max int // concurrent creates seen by Tableau
	}{
		{workers: 1, min: 1, max: 1},
		{workers: 4, min: 2, max: 4},
	} {
		t.Run(fmt.Sprintf("%d workers", tc.workers), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, withOptions(func(o *controllers.Options) { o.MaxConcurrentReconciles = tc.workers }))
			proxy := newRecordingProxy(t, e.sim.URL)
			e.create(e.patSecretObj("pat"))
			site := e.siteOn("tableau", proxy.URL, "pat")
			e.create(site)
			e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
			e.sim.SetFaults(tableautest.Faults{Latency: 300 * time.Millisecond, Operations: []string{tableautest.OpCreateWebhook}})
			hooks := make([]*tableauv1.TableauWebhook, 6)
			for i := range hooks {
				hooks[i] = e.webhookObj(fmt.Sprintf("w%d", i), site.Name, "WorkbookCreated", "https://hooks.example.com/")
				e.create(hooks[i])
			}
			for _, wh := range hooks {
				e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
			}
			if got := proxy.maxConcurrentCreates(); got < tc.min || got > tc.max {
				t.Errorf("%d creates ran at once, want %d to %d", got, tc.min, tc.max)
			}
		})
	}
}

// --tableau-qps and --tableau-burst pace the requests of a site.
func TestOptionTableauQPS(t *testing.T) {
	t.Parallel()
	const qps = 5
	e := newEnv(t, withOptions(func(o *controllers.Options) { o.TableauQPS, o.TableauBurst = qps, 1 }))
	proxy := newRecordingProxy(t, e.sim.URL)
	e.create(e.patSecretObj("pat"))
	site := e.siteOn("tableau", proxy.URL, "pat")
	e.create(site)
	for i := range 6 {
		e.create(e.webhookObj(fmt.Sprintf("w%d", i), site.Name, "WorkbookCreated", "https://hooks.example.com/"))
	}
	eventually(t, waitTimeout, func() error {
		if n := len(e.simWebhooks()); n != 6 {
			return fmt.Errorf("%d webhooks", n)
		}
		return nil
	})
	// A token bucket of one token refilled qps times a second: n requests span at least
	// (n-1)/qps seconds, whatever the machine's speed.
	at := proxy.arrivalTimes()
	if len(at) < 9 {
		t.Fatalf("only %d requests", len(at))
	}
	span, want := at[len(at)-1].Sub(at[0]), time.Duration(len(at)-1)*time.Second/qps
	if span < want*9/10 {
		t.Errorf("%d requests in %s, want at least %s at %d per second", len(at), span, want, qps)
	}
}
