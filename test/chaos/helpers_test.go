package chaos

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
)

// simLatency is the simulator's latency per request, as in DESIGN.md section 6.
const simLatency = 20 * time.Millisecond

// events are the Tableau events the scenarios' webhooks subscribe to, in turn.
var events = []string{"DatasourceRefreshFailed", "WorkbookCreated", "WorkbookRefreshFailed", "ViewDeleted"}

var namespaceCount atomic.Int32

// scenario is one chaos scenario's world: a namespace of the shared control plane, its own
// simulator and TableauSite, and the managers it starts (watching only that namespace).
type scenario struct {
	t       *testing.T
	ctx     context.Context
	env     *localenv.Env
	bins    localenv.Binaries
	ns      string
	sim     *localenv.Simulator
	site    localenv.SiteFixture
	objs    []client.Object // the site's Namespace, Secrets and TableauSite, not yet applied
	tracker *localenv.WebhookTracker
	mgr     *localenv.Manager // the last manager started
}

// newScenario makes a namespace and starts a simulator (TLS, 20 ms latency) with one site;
// the site's objects are in s.objs for applySite.
func newScenario(t *testing.T, name string) *scenario {
	t.Helper()
	env, bins := environment(t)
	ctx := testContext(t)
	ns := fmt.Sprintf("chaos-%s-%d", name, namespaceCount.Add(1))
	sim, err := env.StartSimulator(ctx, localenv.SimulatorOptions{
		Binary: bins.Simulator, Sites: []string{ns}, TLS: true, Latency: simLatency, Name: "sim-" + ns,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Stop() })
	s := &scenario{t: t, ctx: ctx, env: env, bins: bins, ns: ns, sim: sim}
	s.site, s.objs = sim.SiteObjects(ns, "site", ns)
	trackCtx, stopTracking := context.WithCancel(context.Background())
	t.Cleanup(stopTracking)
	if s.tracker, err = env.TrackWebhooks(trackCtx, ns); err != nil {
		t.Fatal(err)
	}
	return s
}

// applySite applies the site's objects, after mutate (if not nil) changed them.
func (s *scenario) applySite(mutate func(objs []client.Object)) {
	s.t.Helper()
	objs := make([]client.Object, len(s.objs))
	for i, o := range s.objs {
		objs[i] = o.DeepCopyObject().(client.Object)
	}
	if mutate != nil {
		mutate(objs)
	}
	if err := s.env.Apply(s.ctx, objs); err != nil {
		s.t.Fatal(err)
	}
}

// startManager runs a manager that watches only the scenario's namespace; it stops with the
// test, and its log is shown if the test fails.
func (s *scenario) startManager(suffix string, args ...string) *localenv.Manager {
	s.t.Helper()
	name := "manager-" + s.ns
	if suffix != "" {
		name += "-" + suffix
	}
	m, err := s.env.StartManager(s.ctx, localenv.ManagerOptions{
		Binary: s.bins.Manager,
		Name:   name,
		Args:   append([]string{"--watch-namespaces=" + s.ns}, args...),
	})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		if s.t.Failed() {
			s.t.Logf("end of %s:\n%s", m.LogPath, m.LogTail(40))
		}
		_ = m.Stop()
	})
	s.mgr = m
	return m
}

// waitSiteReady waits until the TableauSite is Ready.
func (s *scenario) waitSiteReady() {
	s.t.Helper()
	if err := s.env.WaitReady(within(s.t, time.Minute), s.site.Site()); err != nil {
		s.t.Fatal(err)
	}
}

// webhookObjects returns n TableauWebhooks wh-000 ... of the scenario's site.
func (s *scenario) webhookObjects(n int) []client.Object {
	objs := make([]client.Object, n)
	for i := range objs {
		objs[i] = s.site.Webhook(fmt.Sprintf("wh-%03d", i), events[i%len(events)], fmt.Sprintf("https://hooks.example.com/%s/%03d", s.ns, i))
	}
	return objs
}

// createWebhooks creates n TableauWebhooks at once (16 concurrent calls).
func (s *scenario) createWebhooks(n int) {
	s.t.Helper()
	if err := localenv.CreateAll(s.ctx, s.env.Client, s.webhookObjects(n), 16); err != nil {
		s.t.Fatal(err)
	}
}

// waitAllReady waits until the namespace has n TableauWebhooks, all Ready.
func (s *scenario) waitAllReady(n int, timeout time.Duration) time.Duration {
	s.t.Helper()
	start := time.Now()
	if err := s.tracker.WaitAllReady(within(s.t, timeout), n); err != nil {
		s.t.Fatalf("waiting for %d TableauWebhooks to be Ready: %v", n, err)
	}
	return time.Since(start)
}

// waitReady waits until at least n TableauWebhooks are Ready.
func (s *scenario) waitReady(n int, timeout time.Duration) {
	s.t.Helper()
	if err := s.tracker.Wait(within(s.t, timeout), func(ready, _ int) bool { return ready >= n }); err != nil {
		s.t.Fatalf("waiting for %d Ready TableauWebhooks: %v", n, err)
	}
}

// assertConsistent is every scenario's last check: exactly one webhook in Tableau per
// TableauWebhook, by name and by status.webhookID, matching its spec; no duplicate; no
// orphan; all Ready.
func (s *scenario) assertConsistent(want int) {
	s.t.Helper()
	c, err := localenv.CheckConsistency(s.ctx, s.env.Client, s.sim, s.ns, s.site.ContentURL)
	if err != nil {
		s.t.Fatal(err)
	}
	if c.Resources != want {
		s.t.Errorf("%d TableauWebhooks, want %d", c.Resources, want)
	}
	if err := c.Err(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("consistent: %d TableauWebhooks, %d webhooks in Tableau, no duplicate, no orphan, all Ready", c.Resources, c.Webhooks)
}

// stats returns the simulator's request counts.
func (s *scenario) stats() localenv.SimStats {
	s.t.Helper()
	st, err := s.sim.Stats(s.ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

// siteCondition waits until the TableauSite's Ready condition has the given status and
// reason, and returns it.
func (s *scenario) siteCondition(status metav1.ConditionStatus, reason string, timeout time.Duration) metav1.Condition {
	s.t.Helper()
	var found metav1.Condition
	err := localenv.Poll(within(s.t, timeout), func(ctx context.Context) error {
		site := &tableauv1.TableauSite{}
		if err := s.env.Client.Get(ctx, client.ObjectKeyFromObject(s.site.Site()), site); err != nil {
			return err
		}
		c := meta.FindStatusCondition(site.Status.Conditions, tableauv1.ConditionReady)
		if c == nil || c.Status != status || c.Reason != reason || c.ObservedGeneration != site.Generation {
			return fmt.Errorf("TableauSite Ready condition %+v, want %s/%s", c, status, reason)
		}
		found = *c
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return found
}

// secret finds a Secret among objects by name.
func secret(objs []client.Object, name string) *corev1.Secret {
	for _, o := range objs {
		if sec, ok := o.(*corev1.Secret); ok && sec.Name == name {
			return sec
		}
	}
	return nil
}

// tableauSite finds the TableauSite among objects.
func tableauSite(objs []client.Object) *tableauv1.TableauSite {
	for _, o := range objs {
		if site, ok := o.(*tableauv1.TableauSite); ok {
			return site
		}
	}
	return nil
}

// failedRequests counts requests answered with anything but 2xx (status "0": no answer).
func failedRequests(st localenv.SimStats) int {
	n := 0
	for _, byStatus := range st.ByOperation {
		for status, c := range byStatus {
			if !strings.HasPrefix(status, "2") {
				n += c
			}
		}
	}
	return n
}

// testContext ends a little before the test's deadline, so that a hung step fails the test
// with its own message.
func testContext(t *testing.T) context.Context { return localenv.TestContext(t, 30*time.Minute) }

// within returns a context that ends after d (or with the test).
func within(t *testing.T, d time.Duration) context.Context {
	return localenv.Within(t, d, 30*time.Minute)
}

// result logs a figure for the report in a greppable form.
func result(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("RESULT %s: %s", t.Name(), fmt.Sprintf(format, args...))
}
