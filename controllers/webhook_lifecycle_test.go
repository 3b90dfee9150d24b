package controllers_test

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
)

func TestWebhookCreateUpdateDelete(t *testing.T) {
	e := newEnv(t)
	site := e.readySite("tableau")
	wh := e.webhookObj("refresh-failed", site.Name, "DatasourceRefreshFailed", "https://hooks.example.com/a")
	e.create(wh)
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)

	got := e.simWebhooks()
	if len(got) != 1 {
		t.Fatalf("simulator has %d webhooks, want 1: %+v", len(got), got)
	}
	w := got[0]
	if w.Name != e.ns+"/refresh-failed" || w.Event != "DatasourceRefreshFailed" || w.URL != "https://hooks.example.com/a" || !w.Enabled {
		t.Errorf("webhook in Tableau = %+v", w)
	}
	if wh.Status.WebhookID != w.ID || wh.Status.SiteID != e.sim.SiteID(siteName) || wh.Status.WebhookName != w.Name {
		t.Errorf("status = %+v, webhook %s on site %s", wh.Status, w.ID, e.sim.SiteID(siteName))
	}
	if _, ok := wh.Annotations[tableauv1.AnnotationCreatePending]; ok {
		t.Errorf("create-pending annotation left behind")
	}
	e.waitEvent(wh, "Created")

	e.update(wh, func() { wh.Spec.Destination.URL = "https://hooks.example.com/b" })
	eventually(t, waitTimeout, func() error {
		if got := e.simWebhooks(); len(got) != 1 || got[0].URL != "https://hooks.example.com/b" || got[0].ID != w.ID {
			return fmt.Errorf("simulator has %+v", got)
		}
		return nil
	})
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	e.waitEvent(wh, "Updated")

	if err := k8s.Delete(e.ctx, wh); err != nil {
		t.Fatal(err)
	}
	e.waitGone(wh)
	if got := e.simWebhooks(); len(got) != 0 {
		t.Errorf("simulator still has %+v", got)
	}
}
