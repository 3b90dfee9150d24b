package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
)

// TestGCSettings checks the Go runtime settings the manager runs with, as its metrics report
// them: GOGC 50 (main.go's defaultGCPercent) when its environment sets none, and what the
// environment sets otherwise (GOGC, GOMEMLIMIT: the chart's manager.env).
func TestGCSettings(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	bins := binaries(t)
	env := startEnv(t, localenv.Options{NoControllerManager: true})
	ctx := within(t, 2*time.Minute)
	for _, c := range []struct {
		name        string
		env         []string
		gogc, limit float64
	}{
		{name: "default", gogc: 50, limit: float64(1<<63 - 1)},
		{name: "environment", env: []string{"GOGC=120", "GOMEMLIMIT=200MiB"}, gogc: 120, limit: 200 << 20},
	} {
		if c.env == nil && (os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "") {
			t.Logf("%s: not checked, as the tests' own environment sets GOGC or GOMEMLIMIT, which the manager inherits", c.name)
			continue
		}
		mgr, err := env.StartManager(ctx, localenv.ManagerOptions{Binary: bins.Manager, Env: c.env, Name: "manager-gc-" + c.name})
		if err != nil {
			t.Fatal(err)
		}
		// /readyz answers before the metrics server may be listening.
		var s localenv.Samples
		if err := localenv.Poll(ctx, func(ctx context.Context) (err error) {
			s, err = mgr.Metrics(ctx)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got := s.Sum("go_gc_gogc_percent", nil); got != c.gogc {
			t.Errorf("%s: go_gc_gogc_percent %g, want %g", c.name, got, c.gogc)
		}
		if got := s.Sum("go_gc_gomemlimit_bytes", nil); got != c.limit {
			t.Errorf("%s: go_gc_gomemlimit_bytes %g, want %g", c.name, got, c.limit)
		}
	}
}
