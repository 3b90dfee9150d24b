package chaos

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// TestForeignSignIn signs in with the operator's PAT from elsewhere every 2 s (which ends the
// operator's session) while TableauWebhooks converge and then resync every 2 s: everything
// converges, and the operator signs in again once per eviction at most, never in a loop.
func TestForeignSignIn(t *testing.T) {
	n, steady := size(20, 100), size(10*time.Second, 30*time.Second)
	s := newScenario(t, "foreign")
	s.applySite(nil)
	// Rate-limited so that convergence spans several foreign sign-ins; a short resync keeps
	// the operator calling Tableau afterwards.
	s.startManager("", "--resync-period=2s", "--tableau-qps="+size("5", "10"), "--tableau-burst=1")
	s.waitSiteReady()

	var foreign atomic.Int32
	ctx, stop := context.WithCancel(s.ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := s.sim.ForeignSignIn(ctx, ""); err != nil {
					if ctx.Err() == nil {
						t.Errorf("foreign sign-in: %v", err)
					}
					return
				}
				foreign.Add(1)
			}
		}
	}()
	s.createWebhooks(n)
	converged := s.waitAllReady(n, 3*time.Minute)
	// A fixed observation window of steady state under the same foreign sign-ins.
	select {
	case <-s.ctx.Done():
		t.Fatal(s.ctx.Err())
	case <-time.After(steady):
	}
	stop()
	wg.Wait()

	s.waitAllReady(n, time.Minute)
	s.assertConsistent(n)
	st := s.stats()
	signIns := st.Count(tableautest.OpSignIn)
	refused := countStatus(st, "401")
	f := int(foreign.Load())
	// One sign-in at start, at most one per eviction, and 2 to spare (a 401 that outlives
	// the client's own retry makes the reconciler drop the connection and sign in anew).
	bound := f + 3
	if signIns > bound {
		t.Errorf("%d sign-ins for %d foreign sign-ins: more than the bound %d", signIns, f, bound)
	}
	if signIns < 2 || refused == 0 {
		t.Errorf("%d sign-ins and %d refused tokens for %d foreign sign-ins: the foreign sign-ins did not evict the operator's session", signIns, refused, f)
	}
	result(t, "%d webhooks converged in %s under a foreign sign-in every 2 s, then %s of steady state (resync 2s): %d foreign sign-ins, %d operator sign-ins (bound %d = foreign + 3), %d requests refused with 401, %d Tableau requests in all",
		n, converged.Round(100*time.Millisecond), steady, f, signIns, bound, refused, st.Total)
}
