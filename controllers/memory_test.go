package controllers_test

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/controllers"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// The manager keeps nothing for objects that are gone: after 1,000 TableauWebhooks (half of
// them with a urlFrom Secret) on a few TableauSites are created, made Ready and deleted, with
// their sites and Secrets, every map it keeps per object (sites, sessions, observation caches
// and their owners, Secret data, applied digests) is back to its size before, and the metrics
// have no series left for them (tableau_resource_condition, one per resource while it exists,
// and the re-enabled timestamps of the webhooks that Tableau had disabled).
func TestNoMemoryKeptForDeletedObjects(t *testing.T) {
	t.Parallel()
	const sites, webhooks = 4, 1000
	var footprint func() map[string]int
	e := newEnv(t, withFootprint(&footprint), withOptions(func(o *controllers.Options) {
		o.MaxConcurrentReconciles = 8
		o.TableauQPS, o.TableauBurst = 5000, 5000
	}))
	memory := func() map[string]int {
		m := footprint()
		delete(m, controllers.ResyncsSkipped)
		return m
	}
	before := memory()
	if got := perNamespace(t, e.ns); got["tableau_resource_condition"]+got["tableau_webhook_reenabled_timestamp_seconds"] != 0 {
		t.Fatalf("series for namespace %s before anything was created: %v", e.ns, got)
	}

	var objs []client.Object
	e.create(e.patSecretObj("pat"))
	for i := range sites {
		objs = append(objs, e.siteObj(fmt.Sprintf("site-%d", i), "pat"))
	}
	for i := range webhooks {
		wh := e.webhookObj(fmt.Sprintf("wh-%04d", i), fmt.Sprintf("site-%d", i%sites), "WorkbookCreated", fmt.Sprintf("https://hooks.example.com/%d", i))
		if i%2 == 1 {
			secret := e.secretObj(fmt.Sprintf("url-%04d", i), map[string]string{"url": fmt.Sprintf("https://hooks.example.com/secret/%d", i)})
			objs = append(objs, secret)
			wh.Spec.Destination = tableauv1.Destination{URLFrom: &tableauv1.URLSource{SecretKeyRef: tableauv1.SecretKeySelector{Name: secret.Name, Key: "url"}}}
		}
		objs = append(objs, wh)
	}
	inParallel(t, objs, func(ctx context.Context, o client.Object) error { return k8s.Create(ctx, o) })
	// Tableau disables a few of them as soon as they exist (their destination failing): the
	// operator enables them again after the site's next List.
	const reenabled = 5
	disabled := map[string]bool{}
	eventually(t, 3*time.Minute, func() error {
		var list tableauv1.TableauWebhookList
		if err := k8s.List(e.ctx, &list, client.InNamespace(e.ns)); err != nil {
			return err
		}
		ready := 0
		for _, w := range list.Items {
			if w.Status.WebhookID != "" && w.Status.PendingCreate == nil {
				ready++
				if len(disabled) < reenabled && !disabled[w.Name] {
					disabled[w.Name] = true
					e.sim.EditWebhook(siteName, w.Status.WebhookID, func(w *tableautest.Webhook) {
						w.Enabled, w.StatusChangeReason = false, tableautest.ReasonDeliveryFailures
					})
				}
			}
		}
		if ready != webhooks {
			return fmt.Errorf("%d of %d webhooks created", ready, webhooks)
		}
		return nil
	})
	during := memory()
	if during["appliedDigests"] != webhooks || during["sites"] != sites || during["secretValues"] < webhooks/2 {
		t.Errorf("footprint with everything Ready: %v (want %d applied digests, %d sites, at least %d Secrets)", during, webhooks, sites, webhooks/2)
	}
	// Each Ready resource is recorded as converged once its last write is answered (a full
	// reconcile forgets it while it runs).
	eventually(t, waitTimeout, func() error {
		if got := memory()["convergedEntries"]; got != webhooks {
			return fmt.Errorf("%d converged entries, want %d", got, webhooks)
		}
		return nil
	})
	eventually(t, 3*time.Minute, func() error {
		got := perNamespace(t, e.ns)
		if got["tableau_resource_condition"] != webhooks+sites || got["tableau_webhook_reenabled_timestamp_seconds"] != reenabled {
			return fmt.Errorf("series for namespace %s: %v, want %d tableau_resource_condition and %d re-enabled timestamps", e.ns, got, webhooks+sites, reenabled)
		}
		return nil
	})

	inParallel(t, objs, func(ctx context.Context, o client.Object) error { return client.IgnoreNotFound(k8s.Delete(ctx, o)) })
	if err := k8s.Delete(e.ctx, e.patSecretObj("pat")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, func() error {
		var hooks tableauv1.TableauWebhookList
		var list tableauv1.TableauSiteList
		if err := k8s.List(e.ctx, &hooks, client.InNamespace(e.ns)); err != nil {
			return err
		}
		if err := k8s.List(e.ctx, &list, client.InNamespace(e.ns)); err != nil {
			return err
		}
		if n := len(hooks.Items) + len(list.Items); n > 0 {
			return fmt.Errorf("%d TableauWebhooks and %d TableauSites left", len(hooks.Items), len(list.Items))
		}
		if got := memory(); !maps.Equal(got, before) {
			return fmt.Errorf("footprint %v, want %v as before", got, before)
		}
		if got := perNamespace(t, e.ns); got["tableau_resource_condition"]+got["tableau_webhook_reenabled_timestamp_seconds"] != 0 {
			return fmt.Errorf("series left for namespace %s: %v", e.ns, got)
		}
		return nil
	})
	if n := len(e.simWebhooks()); n != 0 {
		t.Errorf("%d webhooks left in Tableau", n)
	}
}

// inParallel applies do to every object with a few workers, failing the test on an error.
func inParallel(t *testing.T, objs []client.Object, do func(context.Context, client.Object) error) {
	t.Helper()
	work := make(chan client.Object)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range 16 {
		wg.Go(func() {
			for o := range work {
				if err := do(context.Background(), o); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("%T %s: %w", o, o.GetName(), err)
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}
