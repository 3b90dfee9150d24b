package controllers_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/controllers"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// handMade adds a webhook to the simulator as a person would in Tableau's UI.
func handMade(sim *tableautest.Server, name string) tableautest.Webhook {
	return sim.AddWebhook(siteName, tableautest.Webhook{Name: name, Event: "WorkbookCreated", URL: "https://hooks.example.com/by-hand", Enabled: true})
}

// sameWebhooks fails the test unless the simulator holds exactly the webhooks of want (IDs,
// names, events, URLs, enabled).
func sameWebhooks(t *testing.T, sim *tableautest.Server, want []tableautest.Webhook) {
	t.Helper()
	key := func(w tableautest.Webhook) string {
		return fmt.Sprintf("%s %q %s %s %t", w.ID, w.Name, w.Event, w.URL, w.Enabled)
	}
	var got, exp []string
	for _, w := range sim.Webhooks(siteName) {
		got = append(got, key(w))
	}
	for _, w := range want {
		exp = append(exp, key(w))
	}
	slices.Sort(got)
	slices.Sort(exp)
	if !slices.Equal(got, exp) {
		t.Errorf("the simulator's webhooks changed:\n got %v\nwant %v", got, exp)
	}
}

// A TableauWebhook whose namespace the site does not admit makes no Tableau request on its
// delete path either, whatever its finalizers, annotations and webhookName say: even a
// create-pending mark written by someone the admission policy trusts (here the admin) is not
// enough to have the operator list the site and delete a same-named webhook.
func TestRefusedDeletionMakesNoTableauRequest(t *testing.T) {
	t.Parallel()
	other := newNamespace(t, nil)
	e := newEnv(t, withExtraNamespaces(other))
	site := e.readySite("owner")
	victim := handMade(e.sim, "made by hand")

	wh := e.webhookObj("forged", site.Name, "WorkbookCreated", "https://hooks.example.com/forged")
	wh.Namespace = other
	wh.Spec.SiteRef.Namespace = e.ns
	wh.Spec.WebhookName = victim.Name
	wh.Finalizers = []string{controllers.WebhookFinalizer}
	wh.Annotations = map[string]string{tableauv1.AnnotationCreatePending: metav1.Now().UTC().Format("2006-01-02T15:04:05Z")}
	requests := e.sim.Stats().Total()
	e.create(wh)
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonSiteNotAllowed)
	e.delete(wh)
	e.waitGone(wh)
	if n := e.sim.Stats().Total() - requests; n != 0 {
		t.Errorf("%d Tableau requests for a resource the site does not admit: %+v", n, e.sim.Stats())
	}
	sameWebhooks(t, e.sim, []tableautest.Webhook{victim})
	e.noEvent(wh, "Deleted")
}

// A namespace that was admitted and then refused may still delete the one webhook whose ID the
// operator recorded while it was admitted, by that ID: no List, no lookup by name.
func TestRefusedDeletionDeletesOnlyTheRecordedWebhook(t *testing.T) {
	t.Parallel()
	other := newNamespace(t, map[string]string{"team": "data"})
	e := newEnv(t, withExtraNamespaces(other))
	e.create(e.patSecretObj("owner-pat"))
	site := e.siteObj("owner", "owner-pat")
	site.Spec.WebhookNamespaces = &tableauv1.WebhookNamespaces{From: tableauv1.NamespacesFromSelector,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "data"}}}
	e.create(site)
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
	victim := handMade(e.sim, "made by hand")

	wh := e.webhookObj("tenant", site.Name, "WorkbookCreated", "https://hooks.example.com/tenant")
	wh.Namespace = other
	wh.Spec.SiteRef.Namespace = e.ns
	e.readyWebhook(wh)
	own := wh.Status.WebhookID

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: other}}
	e.update(ns, func() { delete(ns.Labels, "team") })
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonSiteNotAllowed)
	// The resource now asks for the hand-made webhook's name: it must not matter.
	e.update(wh, func() { wh.Spec.WebhookName = victim.Name })
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonSiteNotAllowed)
	before := e.sim.Stats()
	e.delete(wh)
	e.waitGone(wh)
	after := e.sim.Stats()
	if n := after.Count(tableautest.OpDeleteWebhook) - before.Count(tableautest.OpDeleteWebhook); n != 1 {
		t.Errorf("%d Delete Webhook requests, want 1 (the recorded %s)", n, own)
	}
	if n := after.Total() - before.Total() - 1; n != 0 {
		t.Errorf("%d Tableau requests besides the Delete: %+v", n, after)
	}
	sameWebhooks(t, e.sim, []tableautest.Webhook{victim})
}

// A refused resource claims no name, is not counted and does not hold up its site: it cannot
// squat the default name of a webhook that an admitted team creates later.
func TestRefusedResourceTakesNoPartInNameConflicts(t *testing.T) {
	t.Parallel()
	other := newNamespace(t, nil)
	e := newEnv(t, withExtraNamespaces(other))
	site := e.readySite("owner")

	squatter := e.webhookObj("squatter", site.Name, "WorkbookCreated", "https://hooks.example.com/squatter")
	squatter.Namespace = other
	squatter.Spec.SiteRef.Namespace = e.ns
	squatter.Spec.WebhookName = e.ns + "/late"
	e.create(squatter)
	e.waitCondition(squatter, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonSiteNotAllowed)

	late := e.readyWebhook(e.webhookObj("late", site.Name, "WorkbookCreated", "https://hooks.example.com/late"))
	if got := simWebhooksNamed(e.sim, e.ns+"/late"); len(got) != 1 || got[0].URL != "https://hooks.example.com/late" {
		t.Errorf("simulator webhooks named %s/late: %+v", e.ns, got)
	}
	eventually(t, waitTimeout, func() error {
		e.get(site)
		if site.Status.Webhooks != 1 {
			return fmt.Errorf("status.webhooks = %d, want 1 (the refused resource is not counted)", site.Status.Webhooks)
		}
		return nil
	})

	// Only the admitted webhook holds up the site's deletion.
	e.delete(site)
	e.waitReadyMessage(site, "late")
	if strings.Contains(readyMessage(site), "squatter") {
		t.Errorf("the site waits for the refused resource: %s", readyMessage(site))
	}
	e.delete(late)
	e.waitGone(late)
	e.waitGone(site)
}

// Names conflict per Tableau site, whichever TableauSite object leads there: a second
// TableauSite of the same Tableau site does not see the first one's webhooks as foreign, even
// with adoptionPolicy: Adopt.
func TestNameConflictsAcrossTableauSitesOfOneSite(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(e.patSecretObj("shared-pat"))
	first := e.siteObj("first", "shared-pat")
	second := e.siteObj("second", "shared-pat")
	second.Spec.ServerURL = strings.TrimSuffix(e.sim.URL, "/") + "/" // the same server, written differently
	for _, s := range []*tableauv1.TableauSite{first, second} {
		e.create(s)
		e.waitCondition(s, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
	}
	a := e.webhookObj("a", first.Name, "WorkbookCreated", "https://hooks.example.com/a")
	a.Spec.WebhookName = "shared name"
	e.readyWebhook(a)
	b := e.webhookObj("b", second.Name, "WorkbookDeleted", "https://hooks.example.com/b")
	b.Spec.WebhookName = "shared name"
	b.Spec.AdoptionPolicy = tableauv1.AdoptionPolicyAdopt
	e.create(b)
	e.waitCondition(b, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonNameConflict)
	if got := simWebhooksNamed(e.sim, "shared name"); len(got) != 1 || got[0].ID != a.Status.WebhookID || got[0].URL != "https://hooks.example.com/a" {
		t.Errorf("simulator webhooks named %q: %+v, want only a's", "shared name", got)
	}
	// When a goes, b may have the name: it is woken, and creates its own webhook.
	e.delete(a)
	e.waitGone(a)
	e.waitCondition(b, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	if got := simWebhooksNamed(e.sim, "shared name"); len(got) != 1 || got[0].URL != "https://hooks.example.com/b" {
		t.Errorf("simulator webhooks named %q: %+v, want only b's", "shared name", got)
	}
}

// Adopting a webhook the operator did not create needs the site owner's consent: by default
// only the site's own namespace may; spec.adoption opens or closes it.
func TestAdoptionNeedsTheSiteOwnersConsent(t *testing.T) {
	t.Parallel()
	other := newNamespace(t, nil)
	e := newEnv(t, withExtraNamespaces(other))
	e.create(e.patSecretObj("owner-pat"))
	site := e.siteObj("owner", "owner-pat")
	site.Spec.WebhookNamespaces = &tableauv1.WebhookNamespaces{From: tableauv1.NamespacesFromAll}
	e.create(site)
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
	// Both exist before the operator first lists the site, as webhooks made long ago would.
	victim := handMade(e.sim, "made by hand")
	second := handMade(e.sim, "also made by hand")

	wh := e.webhookObj("adopter", site.Name, "WorkbookCreated", "https://hooks.example.com/adopter")
	wh.Namespace = other
	wh.Spec.SiteRef.Namespace = e.ns
	wh.Spec.WebhookName = victim.Name
	wh.Spec.AdoptionPolicy = tableauv1.AdoptionPolicyAdopt
	writes := func() int {
		s := e.sim.Stats()
		return s.Count(tableautest.OpCreateWebhook) + s.Count(tableautest.OpUpdateWebhook) + s.Count(tableautest.OpDeleteWebhook)
	}
	before := writes()
	e.create(wh)
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonAlreadyExists)
	expectStalled(t, wh, tableauv1.ReasonAlreadyExists)
	if msg := readyMessage(wh); !strings.Contains(msg, "spec.adoption") || !strings.Contains(msg, other) {
		t.Errorf("Ready message %q does not say that the site's spec.adoption refuses namespace %s", msg, other)
	}
	if n := writes() - before; n != 0 {
		t.Errorf("%d Tableau writes for a refused adoption", n)
	}
	sameWebhooks(t, e.sim, []tableautest.Webhook{victim, second})

	// None: not even the site's own namespace.
	e.update(site, func() { site.Spec.Adoption = &tableauv1.WebhookAdoption{From: tableauv1.AdoptionFromNone} })
	own := e.webhookObj("own-adopter", site.Name, "WorkbookCreated", "https://hooks.example.com/own")
	own.Spec.WebhookName = second.Name
	own.Spec.AdoptionPolicy = tableauv1.AdoptionPolicyAdopt
	e.create(own)
	e.waitCondition(own, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonAlreadyExists)
	sameWebhooks(t, e.sim, []tableautest.Webhook{victim, second})
	// Same (the default): the site's own namespace may.
	e.update(site, func() { site.Spec.Adoption = nil })
	e.waitCondition(own, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	if own.Status.WebhookID != second.ID {
		t.Errorf("adopted webhook %s, want %s", own.Status.WebhookID, second.ID)
	}
	e.get(wh)
	expectCondition(t, wh, tableauv1.ConditionReady, ptr.To(metav1.ConditionFalse), tableauv1.ReasonAlreadyExists)

	// All: the other namespace may adopt, and does once the site changes.
	e.update(site, func() { site.Spec.Adoption = &tableauv1.WebhookAdoption{From: tableauv1.AdoptionFromAll} })
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	if wh.Status.WebhookID != victim.ID {
		t.Errorf("adopted webhook %s, want %s", wh.Status.WebhookID, victim.ID)
	}
	e.waitEvent(wh, "Adopted")
}

// A webhook that another TableauWebhook records as its own is never adopted, even where the
// two claim the name on different TableauSites that the conflict check cannot relate (one of
// them is not Ready).
func TestNoAdoptionOfAnotherResourcesWebhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	site := e.readySite("owner")
	first := e.webhookObj("first", site.Name, "WorkbookCreated", "https://hooks.example.com/first")
	e.readyWebhook(first)
	taker := e.webhookObj("taker", site.Name, "WorkbookCreated", "https://hooks.example.com/taker")
	taker.Spec.WebhookName = first.TableauName()
	taker.Spec.AdoptionPolicy = tableauv1.AdoptionPolicyAdopt
	e.create(taker)
	// The older resource wins the name.
	e.waitCondition(taker, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonNameConflict)
	if got := simWebhooksNamed(e.sim, first.TableauName()); len(got) != 1 || got[0].URL != "https://hooks.example.com/first" {
		t.Errorf("simulator webhooks named %s: %+v", first.TableauName(), got)
	}
}

// Finalizer writes carry the resourceVersion: one made from a stale copy fails with a conflict
// instead of dropping a finalizer another controller added meanwhile.
func TestFinalizerWritesKeepOtherControllersFinalizers(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, nil) // no manager watches it
	ctx := context.Background()
	const theirs = "example.com/other-controller"

	wh := &tableauv1.TableauWebhook{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stale"},
		Spec: tableauv1.TableauWebhookSpec{SiteRef: tableauv1.SiteReference{Name: "s"}, Event: "WorkbookCreated",
			Destination: tableauv1.Destination{URL: "https://hooks.example.com/x"}},
	}
	site := &tableauv1.TableauSite{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stale"},
		Spec: tableauv1.TableauSiteSpec{ServerURL: "https://tableau.example.com", Credentials: tableauv1.TableauCredentials{
			PersonalAccessToken: &tableauv1.SecretCredentials{SecretRef: tableauv1.LocalSecretReference{Name: "pat"}}}},
	}
	for _, obj := range []client.Object{wh, site} {
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	addTheirs := func(obj client.Object) {
		t.Helper()
		fresh := obj.DeepCopyObject().(client.Object)
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), fresh); err != nil {
			t.Fatal(err)
		}
		fresh.SetFinalizers(append(fresh.GetFinalizers(), theirs))
		if err := k8s.Update(ctx, fresh); err != nil {
			t.Fatal(err)
		}
	}
	check := func(obj client.Object, err error, wantOurs bool, ours string) {
		t.Helper()
		if !apierrors.IsConflict(err) {
			t.Errorf("%T: a finalizer write from a stale copy returned %v, want a conflict", obj, err)
		}
		fresh := obj.DeepCopyObject().(client.Object)
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), fresh); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(fresh.GetFinalizers(), theirs) || slices.Contains(fresh.GetFinalizers(), ours) != wantOurs {
			t.Errorf("%T: finalizers %v after a stale write", obj, fresh.GetFinalizers())
		}
	}

	stale := wh.DeepCopy()
	addTheirs(wh)
	check(wh, controllers.EnsureWebhookFinalizer(ctx, k8s, stale), false, controllers.WebhookFinalizer)

	staleSite := site.DeepCopy()
	addTheirs(site)
	check(site, controllers.EnsureSiteFinalizer(ctx, k8s, staleSite, true), false, controllers.SiteFinalizer)

	// Removal: ours present, theirs added after our read.
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(wh), wh); err != nil {
		t.Fatal(err)
	}
	wh.Finalizers = []string{controllers.WebhookFinalizer}
	if err := k8s.Update(ctx, wh); err != nil {
		t.Fatal(err)
	}
	stale = wh.DeepCopy()
	addTheirs(wh)
	check(wh, controllers.ReleaseWebhook(ctx, k8s, stale), true, controllers.WebhookFinalizer)

	for _, obj := range []client.Object{wh, site} {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj); err == nil {
			obj.SetFinalizers(nil)
			_ = k8s.Update(ctx, obj)
		}
	}
}

// The create-pending mark does not outlive a create that Tableau refused: nothing was made,
// and a later same-named webhook must not be taken for this resource's own.
func TestRefusedCreateClearsTheCreatePendingMark(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	site := e.readySite("owner")
	e.sim.SetFaults(tableautest.Faults{Operations: []string{tableautest.OpCreateWebhook}, Statuses: []int{400}, ErrorRate: 1})
	wh := e.webhookObj("refused", site.Name, "WorkbookCreated", "https://hooks.example.com/refused")
	e.create(wh)
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonRejected)
	eventually(t, waitTimeout, func() error {
		e.get(wh)
		if v, ok := wh.Annotations[tableauv1.AnnotationCreatePending]; ok {
			return fmt.Errorf("the create-pending mark (%s) outlives a refused create", v)
		}
		return nil
	})
	if n := len(e.simWebhooks()); n != 0 {
		t.Errorf("the simulator has %d webhooks after a refused create", n)
	}
	// Once Tableau accepts the spec, the create goes through, once.
	e.sim.ClearFaults()
	e.update(wh, func() { wh.Spec.Event = "WorkbookDeleted" })
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	if got := simWebhooksNamed(e.sim, wh.TableauName()); len(got) != 1 {
		t.Errorf("simulator webhooks named %s: %+v", wh.TableauName(), got)
	}
}
