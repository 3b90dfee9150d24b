package controllers_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// kstatusOf computes what Flux and kpt report for an object as the API server returns it.
func kstatusOf(t *testing.T, obj client.Object) status.Status {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: m})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

// Flux and kpt read health with kstatus: the status the controllers write must read as
// Current when Ready, InProgress while waiting or retrying, and Failed on terminal reasons.
func TestKstatusOfRealStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	site := e.readySite("tableau")
	// Made by hand before the operator first lists the site's webhooks.
	e.sim.AddWebhook(siteName, tableautest.Webhook{Name: e.ns + "/refused", Event: "WorkbookCreated", URL: "https://hooks.example.com/foreign", Enabled: true})
	if got := kstatusOf(t, site); got != status.CurrentStatus {
		t.Errorf("Ready TableauSite reads %s, want Current", got)
	}

	ready := e.readyWebhook(e.webhookObj("ready", site.Name, "WorkbookCreated", "https://hooks.example.com/ready"))
	if got := kstatusOf(t, ready); got != status.CurrentStatus {
		t.Errorf("Ready TableauWebhook reads %s, want Current", got)
	}
	// A spec change not yet reconciled: the same real object one generation ahead.
	stale := ready.DeepCopy()
	stale.Generation++
	if got := kstatusOf(t, stale); got != status.InProgressStatus {
		t.Errorf("TableauWebhook with a stale observedGeneration reads %s, want InProgress", got)
	}

	waiting := e.webhookObj("waiting", "no-such-site", "WorkbookCreated", "https://hooks.example.com/waiting")
	e.create(waiting)
	e.waitCondition(waiting, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonSiteNotFound)
	if got := kstatusOf(t, waiting); got != status.InProgressStatus {
		t.Errorf("TableauWebhook waiting for its site reads %s, want InProgress", got)
	}

	refused := e.webhookObj("refused", site.Name, "WorkbookCreated", "https://hooks.example.com/refused")
	e.create(refused)
	e.waitCondition(refused, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonAlreadyExists)
	if got := kstatusOf(t, refused); got != status.FailedStatus {
		t.Errorf("TableauWebhook refused with AlreadyExists reads %s, want Failed", got)
	}

	badSite := e.siteObj("bad-credentials", "bad-credentials-pat")
	sec := e.patSecretObj("bad-credentials-pat")
	sec.StringData["tokenName"] = "unknown-pat"
	e.create(sec)
	e.create(badSite)
	e.waitCondition(badSite, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonAuthenticationFailed)
	if got := kstatusOf(t, badSite); got != status.FailedStatus {
		t.Errorf("TableauSite with bad credentials reads %s, want Failed", got)
	}
}
