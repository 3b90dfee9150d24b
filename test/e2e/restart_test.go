package e2e

import (
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// TestManagerKilledAndRestarted SIGKILLs the manager (no sign-out, no Lease release), changes a
// TableauWebhook while it is down, and starts it again: the change reaches Tableau, in place,
// with no duplicate. The simulator runs as the hack/tableau-sim binary, as in the demo.
func TestManagerKilledAndRestarted(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	bins := binaries(t)
	env := startEnv(t, localenv.Options{})
	ctx := within(t, 2*time.Minute)

	sim, err := env.StartSimulator(ctx, localenv.SimulatorOptions{Binary: bins.Simulator, Sites: []string{"marketing"}, TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := env.StartManager(ctx, localenv.ManagerOptions{Binary: bins.Manager})
	if err != nil {
		t.Fatal(err)
	}
	showLogOnFailure(t, mgr)

	const ns = "crash"
	fixture, objs := sim.SiteObjects(ns, "marketing", "marketing")
	webhook := fixture.Webhook("hook", "WorkbookCreated", "https://hooks.example.com/before")
	if err := env.Apply(ctx, append(objs, webhook)); err != nil {
		t.Fatal(err)
	}
	site := fixture.Site()
	waitReady(ctx, t, env, site, webhook)
	before := simWebhookNamed(ctx, t, sim, ns+"/hook", "https://hooks.example.com/before")

	if err := mgr.Kill(); err != nil {
		t.Fatal(err)
	}
	if mgr.Running() {
		t.Fatal("the manager still runs after Kill")
	}
	webhook.Spec.Destination.URL = "https://hooks.example.com/after"
	if err := env.Apply(ctx, []client.Object{webhook}); err != nil {
		t.Fatal(err)
	}
	if err := mgr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitReady(ctx, t, env, webhook)
	after := simWebhookNamed(ctx, t, sim, ns+"/hook", "https://hooks.example.com/after")
	if after.ID != before.ID {
		t.Errorf("the restarted manager replaced webhook %s with %s", before.ID, after.ID)
	}
	stats, err := sim.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := stats.Count(tableautest.OpCreateWebhook); n != 1 {
		t.Errorf("%d Create Webhook requests, want 1: %+v", n, stats)
	}
}
