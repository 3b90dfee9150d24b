package e2e

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
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
	site := &tableauv1.TableauSite{
		ObjectMeta: metav1.ObjectMeta{Name: "marketing", Namespace: ns},
		Spec: tableauv1.TableauSiteSpec{
			ServerURL: sim.URL,
			Site:      "marketing",
			Credentials: tableauv1.TableauCredentials{PersonalAccessToken: &tableauv1.SecretCredentials{
				SecretRef: tableauv1.LocalSecretReference{Name: "pat"},
			}},
			TLS: &tableauv1.TableauTLS{CABundleSecretRef: &tableauv1.SecretKeySelector{Name: "ca", Key: "ca.crt"}},
		},
	}
	webhook := &tableauv1.TableauWebhook{
		ObjectMeta: metav1.ObjectMeta{Name: "hook", Namespace: ns},
		Spec: tableauv1.TableauWebhookSpec{
			SiteRef:     tableauv1.SiteReference{Name: "marketing"},
			Event:       "WorkbookCreated",
			Destination: tableauv1.Destination{URL: "https://hooks.example.com/before"},
		},
	}
	if err := env.Apply(ctx, []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pat", Namespace: ns},
			StringData: map[string]string{"tokenName": sim.PATName, "tokenSecret": sim.PATSecret}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ca", Namespace: ns},
			StringData: map[string]string{"ca.crt": string(sim.CAPEM)}},
		site, webhook,
	}); err != nil {
		t.Fatal(err)
	}
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
