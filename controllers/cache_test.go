package controllers_test

import (
	"encoding/json"
	"testing"
	"unsafe"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/controllers"
)

// The cache drops managedFields and keeps one copy of the strings TableauWebhooks share, as
// decoded objects that have their own copies come in.
func TestCacheTransform(t *testing.T) {
	var o cache.Options
	controllers.ConfigureCache(&o)
	var transform toolscache.TransformFunc
	for obj, by := range o.ByObject {
		if _, ok := obj.(*tableauv1.TableauWebhook); ok {
			transform = by.Transform
		}
	}
	if transform == nil || o.DefaultTransform == nil {
		t.Fatal("no transform of TableauWebhooks, or no default transform")
	}
	decoded := func(name string) *tableauv1.TableauWebhook {
		wh := &tableauv1.TableauWebhook{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "analytics", Finalizers: []string{controllers.WebhookFinalizer},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
			Spec: tableauv1.TableauWebhookSpec{SiteRef: tableauv1.SiteReference{Name: "marketing"}, Event: "WorkbookCreated"},
			Status: tableauv1.TableauWebhookStatus{SiteID: "5baa783d-703a-4dea-97f4-f5d50fa5067b", Owner: &tableauv1.WebhookOwner{ID: "3c51f4b6", Name: "operator-pat"},
				Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Available", Message: "Webhook " + name + " matches the spec"}}},
		}
		raw, err := json.Marshal(wh)
		if err != nil {
			t.Fatal(err)
		}
		out := &tableauv1.TableauWebhook{}
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatal(err)
		}
		got, err := transform(out)
		if err != nil {
			t.Fatal(err)
		}
		return got.(*tableauv1.TableauWebhook)
	}
	a, b := decoded("a"), decoded("b")
	if a.ManagedFields != nil || b.ManagedFields != nil {
		t.Error("managedFields kept")
	}
	same := func(what, x, y string) {
		t.Helper()
		if x != y || unsafe.StringData(x) != unsafe.StringData(y) {
			t.Errorf("%s: %q and %q are not one copy", what, x, y)
		}
	}
	same("namespace", a.Namespace, b.Namespace)
	same("finalizer", a.Finalizers[0], b.Finalizers[0])
	same("site", a.Spec.SiteRef.Name, b.Spec.SiteRef.Name)
	same("event", a.Spec.Event, b.Spec.Event)
	same("Tableau site", a.Status.SiteID, b.Status.SiteID)
	same("owner", a.Status.Owner.Name, b.Status.Owner.Name)
	same("condition reason", a.Status.Conditions[0].Reason, b.Status.Conditions[0].Reason)
	same("condition status", string(a.Status.Conditions[0].Status), string(b.Status.Conditions[0].Status))
	if a.Status.Conditions[0].Message == b.Status.Conditions[0].Message || a.Name == b.Name {
		t.Error("values of their own were changed")
	}
}

// Once full, the table shares what it holds and keeps nothing new.
func TestSharedStringsBounded(t *testing.T) {
	share := controllers.NewSharedStrings(1)
	copyOf := func(s string) string { return string([]byte(s)) }
	first, again := copyOf("kept"), copyOf("kept")
	share(&first)
	share(&again)
	if unsafe.StringData(first) != unsafe.StringData(again) {
		t.Error("a value the table holds was not shared")
	}
	other, otherAgain := copyOf("other"), copyOf("other")
	share(&other)
	share(&otherAgain)
	if unsafe.StringData(other) == unsafe.StringData(otherAgain) {
		t.Error("a full table took another value")
	}
}
