// Package chaos runs the reliability targets of DESIGN.md section 6 as scenarios against the
// real manager binary, a local kube-apiserver and etcd, and the Tableau simulator
// (hack/tableau-sim): SIGKILLs during convergence, injected Tableau failures, foreign
// sign-ins, out-of-band changes, leader failover, bad credentials and an unreachable server.
// Every scenario ends by comparing the simulator's webhooks with the TableauWebhooks: exactly
// one webhook per resource, no duplicate, no orphan, all Ready.
//
// `go test ./test/chaos/` (and so `make test`) runs a small version of each scenario;
// CHAOS_FULL=1 (`make test-chaos`) runs them at the sizes of DESIGN.md. The suites need the
// control plane of `make controlplane` and skip with -short.
package chaos

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
)

var (
	binDir string

	sharedOnce sync.Once
	shared     *localenv.Env
	bins       localenv.Binaries
	sharedErr  error
)

func TestMain(m *testing.M) {
	// envtest logs through controller-runtime's logger; the tests say what matters themselves.
	ctrllog.SetLogger(logr.Discard())
	dir, err := os.MkdirTemp("", "tableau-chaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	if shared != nil {
		if err := shared.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "close the control plane: %v\n", err)
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// full reports whether the scenarios run at full size (CHAOS_FULL=1).
func full() bool { return os.Getenv("CHAOS_FULL") == "1" }

// size picks the small or the full figure.
func size[T any](small, big T) T {
	if full() {
		return big
	}
	return small
}

// environment returns the control plane and binaries shared by the scenarios: each scenario
// has its own namespace, simulator and manager (--watch-namespaces), so they do not see each
// other; they run one after another, so that their timings do not compete for the CPU.
func environment(t *testing.T) (*localenv.Env, localenv.Binaries) {
	t.Helper()
	if testing.Short() {
		t.Skip("chaos: needs the local control plane and builds binaries (not with -short)")
	}
	sharedOnce.Do(func() {
		root, err := localenv.FindRoot()
		if err != nil {
			sharedErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if bins, err = localenv.BuildBinaries(ctx, root, binDir); err != nil {
			sharedErr = err
			return
		}
		shared, sharedErr = localenv.Start(ctx, localenv.Options{Root: root, KeepDir: os.Getenv("CHAOS_KEEP") != ""})
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared, bins
}
