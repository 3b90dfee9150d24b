package controllers_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/controllers"
)

// colliding returns two values made by format from different integers that the bucketed
// indexes file in one bucket (with 1,024 buckets, a few dozen tries find a pair).
func colliding(t *testing.T, format string, key func(string) string) (string, string) {
	t.Helper()
	seen := map[string]string{}
	for i := range 100000 {
		v := fmt.Sprintf(format, i)
		b := controllers.BucketOf(key(v))
		if other, ok := seen[b]; ok {
			return other, v
		}
		seen[b] = v
	}
	t.Fatal("no two values share a bucket")
	return "", ""
}

// The name and webhook-ID indexes file values by bucket; their readers return the resources of
// that value only, never another one of its bucket.
func TestBucketedIndexes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	scheme, err := controllers.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	// A manager of the cache and indexes alone: no controller writes the statuses set below.
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{e.ns: {}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	if err := controllers.SetupIndexes(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	const siteLUID = "0b3c1f2e-site"
	nameA, nameB := colliding(t, "team/hook-%d", func(v string) string { return v })
	idA, idB := colliding(t, "wh-%d", func(v string) string { return controllers.WebhookIDKey(siteLUID, v) })
	for _, w := range []struct{ name, webhookName, id string }{{"a", nameA, idA}, {"b", nameB, idB}, {"c", nameA + "-other", ""}} {
		wh := e.webhookObj(w.name, "site", "WorkbookCreated", "https://hooks.example.com/"+w.name)
		wh.Spec.WebhookName = w.webhookName
		e.create(wh)
		if w.id != "" {
			wh.Status.SiteID, wh.Status.WebhookID = siteLUID, w.id
			if err := k8s.Status().Update(e.ctx, wh); err != nil {
				t.Fatal(err)
			}
		}
	}
	names := func(items []tableauv1.TableauWebhook) []string {
		out := []string{}
		for _, wh := range items {
			out = append(out, wh.Name)
		}
		slices.Sort(out)
		return out
	}
	reader := mgr.GetCache()
	eventually(t, 30*time.Second, func() error {
		for _, c := range []struct {
			what string
			list func() ([]tableauv1.TableauWebhook, error)
			want []string
		}{
			{"named " + nameA, func() ([]tableauv1.TableauWebhook, error) { return controllers.WebhooksNamed(e.ctx, reader, nameA) }, []string{"a"}},
			{"named " + nameB, func() ([]tableauv1.TableauWebhook, error) { return controllers.WebhooksNamed(e.ctx, reader, nameB) }, []string{"b"}},
			{"named nothing", func() ([]tableauv1.TableauWebhook, error) {
				return controllers.WebhooksNamed(e.ctx, reader, "team/none")
			}, []string{}},
			{"recording " + idA, func() ([]tableauv1.TableauWebhook, error) {
				return controllers.WebhooksRecording(e.ctx, reader, siteLUID, idA)
			}, []string{"a"}},
			{"recording " + idB, func() ([]tableauv1.TableauWebhook, error) {
				return controllers.WebhooksRecording(e.ctx, reader, siteLUID, idB)
			}, []string{"b"}},
			{"recording " + idA + " on another site", func() ([]tableauv1.TableauWebhook, error) {
				return controllers.WebhooksRecording(e.ctx, reader, "another-site", idA)
			}, []string{}},
		} {
			items, err := c.list()
			if err != nil {
				return fmt.Errorf("%s: %w", c.what, err)
			}
			if got := names(items); !slices.Equal(got, c.want) {
				return fmt.Errorf("%s: %v, want %v", c.what, got, c.want)
			}
		}
		return nil
	})
}
