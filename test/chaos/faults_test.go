package chaos

import (
	"testing"
	"time"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// TestTableauFaults converges TableauWebhooks once without faults and once with about 20%
// of Tableau requests failing (500, 503, 429 with Retry-After, hangs past the client's
// timeout, and a few creates whose answer is lost): the second run must converge with no
// duplicate and at most twice the requests of the first.
func TestTableauFaults(t *testing.T) {
	n := size(40, 300)
	args := []string{"--tableau-timeout=3s"}

	clean := newScenario(t, "faults-off")
	clean.applySite(nil)
	cleanMgr := clean.startManager("", args...)
	clean.waitSiteReady()
	clean.createWebhooks(n)
	cleanTime := clean.waitAllReady(n, 3*time.Minute)
	clean.assertConsistent(n)
	baseline := clean.stats()
	if err := cleanMgr.Stop(); err != nil {
		t.Fatal(err)
	}

	faulty := newScenario(t, "faults-on")
	// In force before the manager's first request: sign-in and List fail too.
	faults := localenv.SimFaults{
		ErrorRate: 0.18, Statuses: []int{500, 503, 429}, RetryAfter: "1s",
		TimeoutRate: 0.03, Hang: "6s",
		LoseCreateResponses: size(2, 5),
		Seed:                6,
	}
	if err := faulty.sim.InjectFaults(faulty.ctx, faults); err != nil {
		t.Fatal(err)
	}
	faulty.applySite(nil)
	faulty.startManager("", args...)
	faulty.createWebhooks(n)
	faultyTime := faulty.waitAllReady(n, 5*time.Minute)
	st := faulty.stats()
	faulty.assertConsistent(n)

	failed := failedRequests(st)
	fraction := float64(failed) / float64(st.Total)
	if fraction < 0.10 {
		t.Errorf("only %.0f%% of %d Tableau requests failed: the faults did not bite", 100*fraction, st.Total)
	}
	if st.Total > 2*baseline.Total {
		t.Errorf("%d Tableau requests with faults, more than twice the %d without", st.Total, baseline.Total)
	}
	creates := st.ByOperation[tableautest.OpCreateWebhook]["201"]
	result(t, "%d webhooks: fault-free %d requests in %s; with faults %d requests (%.2fx), %d failed (%.0f%%: %d x 500, %d x 503, %d x 429, %d with no answer) in %s; %d creates answered 201 plus %d whose answer was lost; 0 duplicates",
		n, baseline.Total, cleanTime.Round(100*time.Millisecond), st.Total, float64(st.Total)/float64(baseline.Total), failed, 100*fraction,
		countStatus(st, "500"), countStatus(st, "503"), countStatus(st, "429"), countStatus(st, "0"), faultyTime.Round(100*time.Millisecond),
		creates, faults.LoseCreateResponses)
}

// countStatus adds up the requests of every operation answered with status.
func countStatus(st localenv.SimStats, status string) int {
	n := 0
	for _, byStatus := range st.ByOperation {
		n += byStatus[status]
	}
	return n
}
