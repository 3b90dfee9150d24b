package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// TestConvergedRecordsOnlyWhatWasReconciled checks that a write whose answer shows a change
// the reconcile did not read (a spec edit, a deletion, a test request, its finalizer gone) is
// not recorded: its resourceVersion would let later resyncs skip that change.
func TestConvergedRecordsOnlyWhatWasReconciled(t *testing.T) {
	before := &tableauv1.TableauWebhook{ObjectMeta: metav1.ObjectMeta{
		Namespace: "team-a", Name: "hook", UID: "u1", Generation: 3, ResourceVersion: "10",
		Finalizers: []string{webhookFinalizer}, Labels: map[string]string{"app": "x"},
	}, Status: tableauv1.TableauWebhookStatus{WebhookID: "w1"}}
	now := metav1.Now()
	for _, tc := range []struct {
		name   string
		change func(*tableauv1.TableauWebhook)
		record bool
	}{
		{"status alone", func(*tableauv1.TableauWebhook) {}, true},
		{"spec edited meanwhile", func(wh *tableauv1.TableauWebhook) { wh.Generation++ }, false},
		{"deletion started meanwhile", func(wh *tableauv1.TableauWebhook) { wh.DeletionTimestamp = &now }, false},
		{"test requested meanwhile", func(wh *tableauv1.TableauWebhook) {
			wh.Annotations = map[string]string{tableauv1.AnnotationTest: "t1"}
		}, false},
		{"labels changed meanwhile (not read)", func(wh *tableauv1.TableauWebhook) { wh.Labels = map[string]string{"app": "y"} }, true},
		{"finalizer removed meanwhile", func(wh *tableauv1.TableauWebhook) { wh.Finalizers = nil }, false},
		{"status records another webhook", func(wh *tableauv1.TableauWebhook) { wh.Status.WebhookID = "w2" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConverged()
			wh := before.DeepCopy()
			wh.ResourceVersion = "11"
			tc.change(wh)
			c.record(before, wh, c.epochsOf(wh), nil, tableau.Webhook{ID: "w1"})
			if got := c.size() == 1; got != tc.record {
				t.Errorf("recorded %v, want %v", got, tc.record)
			}
		})
	}
}

// TestConvergedEpochs checks that a change of the site, the namespace or the Tableau name of a
// resource moves the epochs it was recorded with.
func TestConvergedEpochs(t *testing.T) {
	c := newConverged()
	wh := &tableauv1.TableauWebhook{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "hook"}}
	wh.Spec.SiteRef.Name = "prod"
	for _, k := range []struct{ kind, key string }{
		{epochSite, siteKeyOf(wh).String()}, {epochNamespace, "team-a"}, {epochName, wh.TableauName()},
	} {
		recorded := c.epochsOf(wh)
		c.changed(k.kind, k.key)
		if c.epochsOf(wh) == recorded {
			t.Errorf("a change of %s%s left the epochs as they were", k.kind, k.key)
		}
	}
}
