package controllers_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// A TableauWebhook may use a TableauSite of another namespace only if the site's
// webhookNamespaces admit its namespace; a refused reference costs no Tableau request.
func TestSiteWebhookNamespaces(t *testing.T) {
	t.Parallel()
	sameNS := newNamespace(t, nil)
	allNS := newNamespace(t, nil)
	selNS := newNamespace(t, nil)
	e := newEnv(t, withExtraNamespaces(sameNS, allNS, selNS))

	// webhookIn is a webhook in namespace ns using the site of the test namespace.
	webhookIn := func(ns, site string) *tableauv1.TableauWebhook {
		wh := e.webhookObj("cross", site, "WorkbookCreated", "https://hooks.example.com/x")
		wh.Namespace = ns
		wh.Spec.SiteRef.Namespace = e.ns
		return wh
	}

	t.Run("Same refuses", func(t *testing.T) {
		t.Parallel()
		e := e.forTest(t)
		sim := newSim(t, tableautest.WithPAT(patName, patSecret))
		site := e.readySiteOn("same", sim)
		requests := sim.Stats().Total()
		wh := webhookIn(sameNS, site.Name)
		e.create(wh)
		e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonSiteNotAllowed)
		expectStalled(t, wh, tableauv1.ReasonSiteNotAllowed)
		e.waitReadyMessage(wh, sameNS)
		staysAtMost(t, 3*time.Second, "Tableau requests for a refused reference", requests, func() int { return sim.Stats().Total() })
		if wh.Finalizers != nil {
			t.Errorf("finalizers %v on a refused webhook", wh.Finalizers)
		}
	})
	t.Run("All admits", func(t *testing.T) {
		t.Parallel()
		e := e.forTest(t)
		sim := newSim(t, tableautest.WithPAT(patName, patSecret))
		e.create(e.patSecretObj("all-pat"))
		site := e.siteOn("all", sim.URL, "all-pat")
		site.Spec.WebhookNamespaces = &tableauv1.WebhookNamespaces{From: tableauv1.NamespacesFromAll}
		e.create(site)
		wh := webhookIn(allNS, site.Name)
		e.readyWebhook(wh)
		if got := sim.Webhooks(siteName); len(got) != 1 || got[0].Name != allNS+"/cross" {
			t.Errorf("simulator has %+v", got)
		}
	})
	t.Run("Selector follows namespace labels", func(t *testing.T) {
		t.Parallel()
		e := e.forTest(t)
		sim := newSim(t, tableautest.WithPAT(patName, patSecret))
		e.create(e.patSecretObj("selector-pat"))
		site := e.siteOn("selector", sim.URL, "selector-pat")
		site.Spec.WebhookNamespaces = &tableauv1.WebhookNamespaces{
			From:     tableauv1.NamespacesFromSelector,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "data"}},
		}
		e.create(site)
		e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
		requests := sim.Stats().Total()
		wh := webhookIn(selNS, site.Name)
		e.create(wh)
		e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonSiteNotAllowed)
		if n := sim.Stats().Total(); n != requests {
			t.Errorf("%d Tableau requests for a refused reference", n-requests)
		}

		ns := &corev1.Namespace{}
		ns.Name = selNS
		e.update(ns, func() { metav1.SetMetaDataLabel(&ns.ObjectMeta, "team", "data") })
		e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
		if got := sim.Webhooks(siteName); len(got) != 1 {
			t.Errorf("simulator has %+v", got)
		}

		// Ready, and so recorded as converged: the label's removal must still refuse it at
		// once, not at a resync that finds nothing changed in the resource itself.
		e.update(ns, func() { delete(ns.Labels, "team") })
		e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonSiteNotAllowed)
	})
	t.Run("an unwatched namespace is ignored", func(t *testing.T) {
		t.Parallel()
		e := e.forTest(t)
		sim := newSim(t, tableautest.WithPAT(patName, patSecret))
		e.create(e.patSecretObj("unwatched-pat"))
		site := e.siteOn("unwatched", sim.URL, "unwatched-pat")
		site.Spec.WebhookNamespaces = &tableauv1.WebhookNamespaces{From: tableauv1.NamespacesFromAll}
		e.create(site)
		e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
		requests := sim.Stats().Total()
		wh := webhookIn(newNamespace(t, nil), site.Name)
		e.create(wh)
		staysAtMost(t, 2*time.Second, "Tableau requests for an unwatched namespace", requests, func() int { return sim.Stats().Total() })
		e.get(wh)
		if c := apimeta.FindStatusCondition(wh.Status.Conditions, tableauv1.ConditionReady); c != nil || len(wh.Finalizers) > 0 {
			t.Errorf("a webhook outside the watched namespaces was reconciled: %+v, finalizers %v", c, wh.Finalizers)
		}
	})
}
