package chaos

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// leaseName is the leader election Lease of main.go.
const leaseName = "tableau-webhook-operator.webhook-operator.dev"

// TestLeaderFailover runs two managers with --leader-elect, SIGKILLs the leader while
// TableauWebhooks converge, and expects the other to take over and finish with no duplicate.
// main.go has no flags for the lease timings, so the takeover takes controller-runtime's
// defaults: a 15 s lease, retried every 2 s.
func TestLeaderFailover(t *testing.T) {
	n := size(40, 300)
	s := newScenario(t, "leader")
	s.applySite(nil)
	args := []string{"--leader-elect", "--leader-election-namespace=" + s.ns, "--tableau-qps=" + size("10", "20"), "--tableau-burst=1"}
	first := s.startManager("a", args...)
	waitLeader(t, first, time.Minute)
	second := s.startManager("b", args...)
	s.waitSiteReady()
	holderBefore := s.leaseHolder()

	s.createWebhooks(n)
	s.waitReady(n/3, 2*time.Minute)
	leader, standby := first, second
	if ok, err := second.IsLeader(s.ctx); err != nil {
		t.Fatal(err)
	} else if ok {
		t.Fatal("both managers report being the leader")
	}
	if ready, _ := s.tracker.Counts(); ready == n {
		t.Fatalf("all %d converged before the kill: the scenario tests nothing", n)
	}
	killedAt := time.Now()
	if err := leader.Kill(); err != nil {
		t.Fatal(err)
	}
	readyAtKill, _ := s.tracker.Counts()
	waitLeader(t, standby, 90*time.Second)
	takeover := time.Since(killedAt)
	holderAfter := s.leaseHolder()
	if holderAfter == holderBefore {
		t.Errorf("the Lease is still held by %q after the takeover", holderAfter)
	}
	converged := s.waitAllReady(n, 5*time.Minute)
	s.assertConsistent(n)
	st := s.stats()
	if creates := st.ByOperation[tableautest.OpCreateWebhook]["201"]; creates != n {
		t.Errorf("Tableau created %d webhooks for %d TableauWebhooks", creates, n)
	}
	// Lease 15 s + retry period 2 s, and slack for a loaded machine.
	if limit := 30 * time.Second; takeover > limit {
		t.Errorf("takeover took %s, more than %s", takeover, limit)
	}
	result(t, "%d webhooks, leader SIGKILLed with %d Ready; the standby led %s later (Lease %q -> %q), all Ready %s after that; 0 duplicates",
		n, readyAtKill, takeover.Round(100*time.Millisecond), holderBefore, holderAfter, converged.Round(100*time.Millisecond))
}

// waitLeader waits until the manager reports holding the Lease.
func waitLeader(t *testing.T, m *localenv.Manager, timeout time.Duration) {
	t.Helper()
	err := localenv.Poll(within(t, timeout), func(ctx context.Context) error {
		ok, err := m.IsLeader(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("not the leader")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("manager %s: %v", m.LogPath, err)
	}
}

// leaseHolder returns the Lease's holderIdentity.
func (s *scenario) leaseHolder() string {
	s.t.Helper()
	lease := &coordinationv1.Lease{}
	if err := s.env.Client.Get(s.ctx, types.NamespacedName{Namespace: s.ns, Name: leaseName}, lease); err != nil {
		s.t.Fatalf("lease: %v", err)
	}
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	return fmt.Sprint(*lease.Spec.HolderIdentity)
}
