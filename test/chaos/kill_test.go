package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// TestKillDuringConvergence SIGKILLs the manager again and again while TableauWebhooks
// converge, restarting it each time: status.pendingCreate must make every interrupted
// create end in exactly one webhook.
func TestKillDuringConvergence(t *testing.T) {
	n, kills := size(40, 300), size(4, 12)
	s := newScenario(t, "kill")
	s.applySite(nil)
	// A client-side rate limit stretches convergence over the kills, and keeps creates in
	// flight at every kill.
	mgr := s.startManager("", "--tableau-qps="+size("10", "20"), "--tableau-burst=1")
	s.waitSiteReady()

	start := time.Now()
	s.createWebhooks(n)
	for k := 1; k <= kills; k++ {
		target := k * n / (kills + 1)
		s.waitReady(target, 2*time.Minute)
		if ready, _ := s.tracker.Counts(); ready == n {
			t.Fatalf("all %d converged before kill %d: the manager is too fast for this scenario to test anything", n, k)
		}
		// Kill just after Tableau answered a create: the manager is then most likely between
		// the create and storing its ID, the window that status.pendingCreate protects.
		s.waitNextCreate()
		if err := mgr.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := mgr.Start(s.ctx); err != nil {
			t.Fatalf("restart after kill %d: %v", k, err)
		}
	}
	converged := s.waitAllReady(n, 5*time.Minute)
	s.assertConsistent(n)

	st := s.stats()
	creates := st.ByOperation[tableautest.OpCreateWebhook]["201"]
	if creates != n {
		t.Errorf("Tableau created %d webhooks for %d TableauWebhooks: a create was repeated", creates, n)
	}
	log, err := mgr.Log()
	if err != nil {
		t.Fatal(err)
	}
	recovered := strings.Count(log, "Found the webhook an interrupted create made")
	result(t, "%d webhooks, %d SIGKILLs during convergence, all Ready %s after the first create (%s after the last restart); "+
		"%d creates in Tableau (%d lost to a kill and then found by name), %d Tableau requests; 0 duplicates, 0 orphans",
		n, kills, time.Since(start).Round(100*time.Millisecond), converged.Round(100*time.Millisecond), creates, recovered, st.Total)
}

// waitNextCreate returns as soon as the simulator has answered one more Create Webhook.
func (s *scenario) waitNextCreate() {
	s.t.Helper()
	before := s.stats().ByOperation[tableautest.OpCreateWebhook]["201"]
	ctx := within(s.t, time.Minute)
	for {
		st, err := s.sim.Stats(ctx)
		if err != nil {
			s.t.Fatalf("waiting for a create: %v", err)
		}
		if st.ByOperation[tableautest.OpCreateWebhook]["201"] > before {
			return
		}
	}
}
