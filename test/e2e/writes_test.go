package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// webhookFinalizer is the manager's finalizer on TableauWebhooks.
const webhookFinalizer = "tableau.webhook-operator.dev/webhook"

// TestCreationCostsTwoWrites checks what config/admission buys: with its
// MutatingAdmissionPolicy installed (localenv installs it, as the installer does), a
// TableauWebhook has the manager's finalizer from the request that creates it, so the manager
// makes a creation with two writes of the resource, both to its status (the pending-create
// record before the create in Tableau, the result after it), and none of its metadata. Without
// the policy it adds the finalizer itself: one metadata write more per webhook.
func TestCreationCostsTwoWrites(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	bins := binaries(t)
	for _, withPolicy := range []bool{true, false} {
		t.Run(fmt.Sprintf("policy=%t", withPolicy), func(t *testing.T) {
			t.Parallel()
			env := startEnv(t, localenv.Options{NoAdmissionPolicies: !withPolicy, NoControllerManager: true})
			ctx := within(t, 3*time.Minute)
			sim, err := env.StartSimulator(ctx, localenv.SimulatorOptions{Binary: bins.Simulator, Sites: []string{"marketing"}, TLS: true})
			if err != nil {
				t.Fatal(err)
			}
			mgr, err := env.StartManager(ctx, localenv.ManagerOptions{Binary: bins.Manager})
			if err != nil {
				t.Fatal(err)
			}
			showLogOnFailure(t, mgr)

			const ns, n = "writes", 12
			fixture, objs := sim.SiteObjects(ns, "marketing", "marketing")
			if err := env.Apply(ctx, objs); err != nil {
				t.Fatal(err)
			}
			waitReady(ctx, t, env, fixture.Site())
			before, err := env.APIServerRequests(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var hooks []client.Object
			for i := range n {
				hooks = append(hooks, fixture.Webhook(fmt.Sprintf("hook-%02d", i), "WorkbookCreated", fmt.Sprintf("https://hooks.example.com/%d", i)))
			}
			if err := env.Apply(ctx, hooks); err != nil {
				t.Fatal(err)
			}
			waitReady(ctx, t, env, hooks...)
			after, err := env.APIServerRequests(ctx)
			if err != nil {
				t.Fatal(err)
			}

			writes := after.Sub(before).Writes("tableauwebhooks")
			var metadata, status float64
			for k, v := range writes {
				switch {
				case k.Verb == "APPLY" && k.Subresource == "":
					// The creations themselves (env.Apply, a server-side apply).
				case k.Subresource == "status":
					status += v
				default:
					metadata += v
				}
			}
			wantMetadata := 0.0
			if !withPolicy {
				wantMetadata = n
			}
			if metadata != wantMetadata || status != 2*n {
				t.Errorf("the manager wrote the metadata of %d webhooks %v times and their status %v times, want %v and %v: %v",
					n, metadata, status, wantMetadata, 2*n, writes)
			}
			for _, obj := range hooks {
				wh := &tableauv1.TableauWebhook{}
				if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), wh); err != nil {
					t.Fatal(err)
				}
				if !controllerutil.ContainsFinalizer(wh, webhookFinalizer) || wh.Status.PendingCreate != nil || wh.Status.WebhookID == "" {
					t.Errorf("%s: finalizers %v, webhookID %q, pendingCreate %v", wh.Name, wh.Finalizers, wh.Status.WebhookID, wh.Status.PendingCreate)
				}
			}
			stats, err := sim.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if c := stats.Count(tableautest.OpCreateWebhook); c != n {
				t.Errorf("%d Create Webhook requests for %d webhooks", c, n)
			}

			// The finalizer the policy added is removed like the manager's own: deletion
			// completes and the webhooks leave Tableau.
			for _, obj := range hooks {
				if err := env.Client.Delete(ctx, obj); err != nil {
					t.Fatal(err)
				}
			}
			if err := localenv.Poll(ctx, func(ctx context.Context) error {
				var list tableauv1.TableauWebhookList
				if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
					return err
				}
				if len(list.Items) > 0 {
					return fmt.Errorf("%d TableauWebhooks are still there", len(list.Items))
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if got, err := sim.Webhooks(ctx, "marketing"); err != nil || len(got) != 0 {
				t.Errorf("Tableau still has %d webhooks (%v)", len(got), err)
			}
		})
	}
}
