package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDemoOnce runs `DEMO_ONCE=1 make demo`'s program as a newcomer would: it must bring up
// everything, get config/samples Ready against the simulator, deliver an event to the local
// receiver, print its payload, clean up and exit 0.
func TestDemoOnce(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	bins := binaries(t)
	root := repoRoot(t)

	ctx, cancel := context.WithTimeout(testContext(t), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.Demo, "--root", root, "--manager", bins.Manager, "--tableau-sim", bins.Simulator)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DEMO_ONCE=1")
	// The demo stops its children and removes its directory on SIGTERM, as on Ctrl-C.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("demo took %s", time.Since(start).Round(100*time.Millisecond))
	if err != nil {
		t.Fatalf("DEMO_ONCE=1 demo: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"kubectl get tableau -A -o wide",
		"Available",       // the webhooks' Ready reason in the table
		`"event_type": "`, // the payload the receiver got
		`"resource_name": "Quarterly Sales"`,
		"namespace gone", // the namespace deletion the demo suggests, tried
		"Stopped everything and removed",
		"Demo succeeded",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, text)
		}
	}
}
