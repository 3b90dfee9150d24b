package chaos

import (
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// TestUnusableSite gives the operator bad credentials and, separately, a server that drops
// every connection: the TableauSite must say so clearly, and the operator must call Tableau
// no more often than its backoff allows over an observation window (no hot loop). Fixing the
// Secret, or the server coming back, must then converge everything.
func TestUnusableSite(t *testing.T) {
	t.Run("BadCredentials", func(t *testing.T) {
		t.Parallel()
		testBadCredentials(t)
	})
	t.Run("Unreachable", func(t *testing.T) {
		t.Parallel()
		testUnreachable(t)
	})
}

// unusableWebhooks is how many TableauWebhooks wait on the unusable site.
const unusableWebhooks = 5

func testBadCredentials(t *testing.T) {
	window, period := size(15*time.Second, 60*time.Second), size(5*time.Second, 10*time.Second)
	const wrongSecret = "not-the-secret-3f9a7c"
	s := newScenario(t, "badcreds")
	s.applySite(func(objs []client.Object) {
		secret(objs, s.site.PATSecret).StringData["tokenSecret"] = wrongSecret
	})
	s.createWebhooks(unusableWebhooks)
	start := time.Now()
	s.startManager("", "--resync-period="+period.String())

	cond := s.siteCondition(metav1.ConditionFalse, tableauv1.ReasonAuthenticationFailed, time.Minute)
	if !strings.Contains(cond.Message, "sign in") || strings.Contains(cond.Message, wrongSecret) {
		t.Errorf("TableauSite Ready message %q: want what failed (sign in), never the secret", cond.Message)
	}
	s.waitWebhookReason(tableauv1.ReasonSiteNotReady)
	observe(t, start, window)

	st := s.stats()
	signIns := st.Count(tableautest.OpSignIn)
	// A refused sign-in is tried again after 90% of the resync period, or at once when the
	// spec or Secret changes (neither does here).
	bound := int(window/(period*9/10)) + 2
	if signIns < 1 || signIns > bound {
		t.Errorf("%d sign-ins in %s with --resync-period=%s: want between 1 and %d", signIns, window, period, bound)
	}
	if other := st.Total - signIns - st.Count(tableautest.OpServerInfo); other != 0 {
		t.Errorf("%d Tableau requests other than sign-in and server info with bad credentials", other)
	}

	// Rotating the Secret takes effect at once.
	s.applySite(nil)
	recovered := s.waitAllReady(unusableWebhooks, time.Minute)
	s.assertConsistent(unusableWebhooks)
	result(t, "AuthenticationFailed (%q); %d sign-ins and %d requests in all over %s with --resync-period=%s (bound %d sign-ins); converged %s after the Secret was fixed",
		cond.Message, signIns, st.Total, window, period, bound, recovered.Round(100*time.Millisecond))
}

func testUnreachable(t *testing.T) {
	window := size(15*time.Second, 60*time.Second)
	s := newScenario(t, "unreachable")
	// A server that accepts TCP connections and drops them at once: every request fails
	// after connecting, so each attempt is counted. Once it "comes back" it passes them on
	// to the simulator (serverURL is immutable: the fix is on the server's side).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	simAddr := strings.TrimPrefix(s.sim.URL, "https://")
	var connections atomic.Int32
	var back atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !back.Load() {
				connections.Add(1)
				_ = c.Close()
				continue
			}
			wg.Go(func() { relay(c, simAddr) })
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	deadURL := "https://" + ln.Addr().String()
	s.applySite(func(objs []client.Object) { tableauSite(objs).Spec.ServerURL = deadURL })
	s.createWebhooks(unusableWebhooks)
	start := time.Now()
	s.startManager("")

	cond := s.siteCondition(metav1.ConditionFalse, tableauv1.ReasonServerUnreachable, time.Minute)
	if !strings.Contains(cond.Message, "server info") {
		t.Errorf("TableauSite Ready message %q: want what failed (read server info)", cond.Message)
	}
	s.waitWebhookReason(tableauv1.ReasonSiteNotReady)
	observe(t, start, window)

	attempts := int(connections.Load())
	// Transient failures back off per resource from 1 s, doubling: about log2(window)+1
	// retries of the TableauSite; each TableauWebhook applied may enqueue it once more.
	bound := int(math.Log2(window.Seconds())) + 2 + unusableWebhooks
	if attempts < 1 || attempts > bound {
		t.Errorf("%d connections to the unreachable server in %s: want between 1 and %d", attempts, window, bound)
	}
	if st := s.stats(); st.Total != 0 {
		t.Errorf("%d requests reached the simulator while the site pointed elsewhere", st.Total)
	}

	back.Store(true) // the server comes back; the site's next retry (backoff) finds it
	recovered := s.waitAllReady(unusableWebhooks, 2*time.Minute)
	s.assertConsistent(unusableWebhooks)
	result(t, "ServerUnreachable (%q); %d connection attempts over %s (bound %d); converged %s after the server came back",
		cond.Message, attempts, window, bound, recovered.Round(100*time.Millisecond))
}

// waitWebhookReason waits until every TableauWebhook of the scenario is not Ready with reason.
func (s *scenario) waitWebhookReason(reason string) {
	s.t.Helper()
	err := s.tracker.Wait(within(s.t, time.Minute), func(_, total int) bool {
		if total == 0 {
			return false
		}
		for _, w := range s.tracker.Snapshot() {
			if w.Ready || w.Reason != reason {
				return false
			}
		}
		return true
	})
	if err != nil {
		s.t.Fatalf("waiting for every TableauWebhook to report %s: %v", reason, err)
	}
}

// observe waits until window has passed since start: a fixed observation window for counts
// that must stay bounded, not a synchronisation.
func observe(t *testing.T, start time.Time, window time.Duration) {
	t.Helper()
	select {
	case <-testContext(t).Done():
		t.Fatal("the test's deadline passed during the observation window")
	case <-time.After(time.Until(start.Add(window))):
	}
}

// relay copies bytes both ways between c and the address, then closes both.
func relay(c net.Conn, addr string) {
	defer func() { _ = c.Close() }()
	up, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer func() { _ = up.Close() }()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}
