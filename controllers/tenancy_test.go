package controllers_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

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
// status.pendingCreate naming a webhook of the site (written here by the admin, as if the
// operator had recorded it while the namespace was admitted) is not enough to have the
// operator list the site and delete a same-named webhook.
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
	wh.Annotations = map[string]string{"tableau.webhook-operator.dev/create-pending": metav1.Now().UTC().Format(time.RFC3339)}
	requests := e.sim.Stats().Total()
	e.create(wh)
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonSiteNotAllowed)
	e.get(site)
	base := wh.DeepCopy()
	wh.Status.PendingCreate = &tableauv1.PendingCreate{Name: victim.Name, SiteID: site.Status.SiteID, Since: metav1.Now()}
	if err := k8s.Status().Patch(e.ctx, wh, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
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

// The resource that holds a name keeps it: an older resource renamed to it, or an older
// squatter that its site admits only later, gets NameConflict and changes nothing in Tableau.
func TestTheHolderOfANameKeepsIt(t *testing.T) {
	t.Parallel()
	late := newNamespace(t, nil)
	e := newEnv(t, withExtraNamespaces(late))
	e.create(e.patSecretObj("owner-pat"))
	site := e.siteObj("owner", "owner-pat")
	site.Spec.WebhookNamespaces = &tableauv1.WebhookNamespaces{From: tableauv1.NamespacesFromSelector,
		Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: []string{e.ns}}}}}
	e.create(site)
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)

	// Created first, both of them: one renames itself later, the other is admitted later.
	renamer := e.readyWebhook(e.webhookObj("renamer", site.Name, "WorkbookCreated", "https://hooks.example.com/renamer"))
	squatter := e.webhookObj("squatter", site.Name, "WorkbookCreated", "https://hooks.example.com/squatter")
	squatter.Namespace = late
	squatter.Spec.SiteRef.Namespace = e.ns
	squatter.Spec.WebhookName = "Victim alerts"
	e.create(squatter)
	e.waitCondition(squatter, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonSiteNotAllowed)
	victim := e.webhookObj("victim", site.Name, "WorkbookCreated", "https://hooks.example.com/victim")
	victim.Spec.WebhookName = "Victim alerts"
	e.readyWebhook(victim)
	before := e.simWebhooks()

	e.update(renamer, func() { renamer.Spec.WebhookName = victim.TableauName() })
	e.waitCondition(renamer, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonNameConflict)
	e.update(site, func() { site.Spec.WebhookNamespaces.Selector.MatchExpressions[0].Values = []string{e.ns, late} })
	e.waitCondition(squatter, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonNameConflict)
	if msg := readyMessage(squatter); !strings.Contains(msg, "a TableauWebhook in another namespace already claims") {
		t.Errorf("the NameConflict message should say that a resource of another namespace holds the name, without naming it: %s", msg)
	}
	// The victim is untouched and keeps working.
	sameWebhooks(t, e.sim, before)
	e.update(victim, func() { victim.Spec.Destination.URL = "https://hooks.example.com/victim-2" })
	e.waitCondition(victim, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	if got := simWebhooksNamed(e.sim, victim.TableauName()); len(got) != 1 || got[0].URL != "https://hooks.example.com/victim-2" {
		t.Errorf("simulator webhooks named %s: %+v", victim.TableauName(), got)
	}
}

// A webhook that another TableauWebhook records in its status is never adopted (or taken for a
// lost create), even by a
// resource that no name conflict stops: here the webhook was renamed in Tableau, behind its
// owner's back (and its owner cannot put the name back), to the name another resource asks to
// adopt.
func TestNoAdoptionOfAnotherResourcesWebhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withResync(2*time.Second))
	site := e.readySite("owner")
	first := e.readyWebhook(e.webhookObj("first", site.Name, "WorkbookCreated", "https://hooks.example.com/first"))
	e.sim.SetFaults(tableautest.Faults{Operations: []string{tableautest.OpUpdateWebhook}, Statuses: []int{500}, ErrorRate: 1})
	if !e.sim.EditWebhook(siteName, first.Status.WebhookID, func(w *tableautest.Webhook) { w.Name = "taken" }) {
		t.Fatal("no webhook to rename")
	}
	// The site's next List shows the rename to everyone.
	lists := e.sim.Count(tableautest.OpListWebhooks)
	eventually(t, waitTimeout, func() error {
		if e.sim.Count(tableautest.OpListWebhooks) <= lists {
			return fmt.Errorf("no List since the rename")
		}
		return nil
	})
	taker := e.webhookObj("taker", site.Name, "WorkbookCreated", "https://hooks.example.com/taker")
	taker.Spec.WebhookName = "taken"
	taker.Spec.AdoptionPolicy = tableauv1.AdoptionPolicyAdopt
	e.create(taker)
	// Another resource's webhook: a name conflict, which ends when first renames or deletes it.
	e.waitCondition(taker, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonNameConflict)
	if msg := readyMessage(taker); !strings.Contains(msg, "belongs to TableauWebhook "+e.ns+"/first") {
		t.Errorf("Ready message %q does not say the webhook belongs to first", msg)
	}
	if got := simWebhook(t, e.sim, first.Status.WebhookID); got.URL != "https://hooks.example.com/first" {
		t.Errorf("first's webhook was changed: %+v", got)
	}
	e.sim.ClearFaults()
	e.waitCondition(first, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
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

// status.pendingCreate does not outlive a create that Tableau refused: nothing was made, and a
// later same-named webhook must not be taken for this resource's own.
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
		if p := wh.Status.PendingCreate; p != nil {
			return fmt.Errorf("status.pendingCreate (%+v) outlives a refused create", *p)
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

// A webhookNamespaces selector that the schema accepts but that cannot be evaluated (an In
// without values) admits no namespace, and the refusal says why.
func TestInvalidSelectorAdmitsNothing(t *testing.T) {
	t.Parallel()
	other := newNamespace(t, map[string]string{"team": "data"})
	e := newEnv(t, withExtraNamespaces(other))
	e.create(e.patSecretObj("owner-pat"))
	site := e.siteObj("owner", "owner-pat")
	site.Spec.WebhookNamespaces = &tableauv1.WebhookNamespaces{From: tableauv1.NamespacesFromSelector,
		Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpIn}}}}
	e.create(site)
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
	requests := e.sim.Stats().Total()
	wh := e.webhookObj("refused", site.Name, "WorkbookCreated", "https://hooks.example.com/x")
	wh.Namespace = other
	wh.Spec.SiteRef.Namespace = e.ns
	e.create(wh)
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonSiteNotAllowed)
	if msg := readyMessage(wh); !strings.Contains(msg, "invalid spec.webhookNamespaces.selector") {
		t.Errorf("Ready message %q does not say the selector is invalid", msg)
	}
	if n := e.sim.Stats().Total() - requests; n != 0 {
		t.Errorf("%d Tableau requests for a refused reference", n)
	}
}

// A webhookName of the form "<namespace>/<rest>" belongs to that namespace (it is the form of
// its resources' default names): another namespace admitted to the same site cannot claim it,
// not even before the owner creates its resource.
func TestNamesOfAnotherNamespaceAreKept(t *testing.T) {
	t.Parallel()
	other := newNamespace(t, nil)
	e := newEnv(t, withExtraNamespaces(other))
	e.create(e.patSecretObj("owner-pat"))
	site := e.siteObj("owner", "owner-pat")
	site.Spec.WebhookNamespaces = &tableauv1.WebhookNamespaces{From: tableauv1.NamespacesFromAll}
	e.create(site)
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)

	squatter := e.webhookObj("squatter", site.Name, "WorkbookCreated", "https://hooks.example.com/squatter")
	squatter.Namespace = other
	squatter.Spec.SiteRef.Namespace = e.ns
	squatter.Spec.WebhookName = e.ns + "/later"
	e.create(squatter)
	e.waitCondition(squatter, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonNameConflict)
	if msg := readyMessage(squatter); !strings.Contains(msg, "kept for its TableauWebhooks") {
		t.Errorf("Ready message %q does not say the name is kept for namespace %s", msg, e.ns)
	}
	later := e.readyWebhook(e.webhookObj("later", site.Name, "WorkbookCreated", "https://hooks.example.com/later"))
	if got := simWebhooksNamed(e.sim, later.TableauName()); len(got) != 1 || got[0].URL != "https://hooks.example.com/later" {
		t.Errorf("simulator webhooks named %s: %+v", later.TableauName(), got)
	}
	// Names of other forms stay free for all, slashes included.
	free := e.webhookObj("free", site.Name, "WorkbookCreated", "https://hooks.example.com/free")
	free.Namespace = other
	free.Spec.SiteRef.Namespace = e.ns
	free.Spec.WebhookName = "Finance/Refresh failures"
	e.readyWebhook(free)
}

// A record of an interrupted create proves nothing about a webhook someone else made: after
// creates that failed without an answer, a same-named webhook made by hand (by another Tableau
// user) is neither taken over nor deleted.
func TestStalePendingCreateTakesNothingMadeByHand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	site := e.readySite("owner")
	e.sim.SetFaults(tableautest.Faults{Operations: []string{tableautest.OpCreateWebhook}, Statuses: []int{503}, ErrorRate: 1})
	wh := e.webhookObj("unlucky", site.Name, "WorkbookCreated", "https://hooks.example.com/unlucky")
	e.create(wh)
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonTableauError)
	e.get(wh)
	if wh.Status.PendingCreate == nil {
		t.Fatal("no status.pendingCreate after a create that failed with 503")
	}
	e.update(wh, func() { wh.Spec.Suspend = true })
	e.waitCondition(wh, tableauv1.ConditionSynced, metav1.ConditionFalse, tableauv1.ReasonSuspended)
	e.sim.ClearFaults()
	victim := handMade(e.sim, wh.TableauName())

	// Resumed: the hand-made webhook is someone else's, not the lost create's.
	e.update(wh, func() { wh.Spec.Suspend = false })
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonAlreadyExists)
	sameWebhooks(t, e.sim, []tableautest.Webhook{victim})
	// Deleted: nothing recorded is the resource's own, so nothing is deleted.
	e.delete(wh)
	e.waitGone(wh)
	sameWebhooks(t, e.sim, []tableautest.Webhook{victim})
}

// A lost create recovered by name is recorded at once: if the update that follows (a rename
// made meanwhile) fails, the next reconcile finds the webhook by its ID, and there is never a
// second one.
func TestRecoveredCreateSurvivesAFailedUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	site := e.readySite("owner")
	wh := e.webhookObj("lost", site.Name, "WorkbookCreated", "https://hooks.example.com/lost")
	wh.Spec.Suspend = true
	e.create(wh)
	e.waitCondition(wh, tableauv1.ConditionSynced, metav1.ConditionFalse, tableauv1.ReasonSuspended)
	// Another webhook's create lists the site: the create below relies on that List, made
	// less than createFreshness ago, and makes none of its own.
	e.readyWebhook(e.webhookObj("primer", site.Name, "WorkbookCreated", "https://hooks.example.com/primer"))
	// The create's answer is lost, and the Lists that would recover it fail, until the spec
	// has changed.
	e.sim.SetFaults(tableautest.Faults{LoseCreateResponses: 1, Operations: []string{tableautest.OpListWebhooks}, Statuses: []int{503}, ErrorRate: 1})
	e.update(wh, func() { wh.Spec.Suspend = false })
	eventually(t, waitTimeout, func() error {
		if n := e.sim.CountStatus(tableautest.OpCreateWebhook, 0); n != 1 {
			return fmt.Errorf("%d creates without an answer", n)
		}
		return nil
	})
	e.update(wh, func() { wh.Spec.WebhookName = "renamed meanwhile" })
	e.sim.SetFaults(tableautest.Faults{Operations: []string{tableautest.OpUpdateWebhook}, Statuses: []int{503}, ErrorRate: 1})
	eventually(t, waitTimeout, func() error {
		e.get(wh)
		if wh.Status.WebhookID == "" || e.sim.Count(tableautest.OpUpdateWebhook) == 0 {
			return fmt.Errorf("not recovered and updated yet (webhookID %q)", wh.Status.WebhookID)
		}
		return nil
	})
	e.sim.ClearFaults()
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	if got := simWebhooksNamed(e.sim, "renamed meanwhile"); len(got) != 1 || got[0].ID != wh.Status.WebhookID {
		t.Errorf("simulator webhooks named %q: %+v, want the one recovered webhook", "renamed meanwhile", got)
	}
	if n := len(e.simWebhooks()); n != 2 {
		t.Errorf("simulator has %d webhooks, want 2 (the primer and the recovered one)", n)
	}
	if n := e.sim.Count(tableautest.OpCreateWebhook); n != 2 {
		t.Errorf("%d Create Webhook requests, want 2 (one each)", n)
	}
}

// A resource in NameConflict gets the name as soon as the holder's webhook in Tableau no
// longer has it: it is woken when the holder's status shows the rename.
func TestNameConflictEndsWhenTheHolderRenames(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	site := e.readySite("owner")
	holder := e.webhookObj("holder", site.Name, "WorkbookCreated", "https://hooks.example.com/holder")
	holder.Spec.WebhookName = "wanted"
	e.readyWebhook(holder)
	waiter := e.webhookObj("waiter", site.Name, "WorkbookCreated", "https://hooks.example.com/waiter")
	waiter.Spec.WebhookName = "wanted"
	e.create(waiter)
	e.waitCondition(waiter, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonNameConflict)
	e.update(holder, func() { holder.Spec.WebhookName = "given up" })
	e.waitCondition(waiter, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	if got := simWebhooksNamed(e.sim, "wanted"); len(got) != 1 || got[0].URL != "https://hooks.example.com/waiter" {
		t.Errorf("simulator webhooks named %q: %+v", "wanted", got)
	}
}

// A user who loses the site administrator role makes the site InsufficientPermissions at the
// first refused call; the webhooks wait, nothing calls Tableau but the site's probes, and all
// recover by themselves once the role is back.
func TestSiteRecoversWhenRightsComeBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withResync(3*time.Second))
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range strings.Split(logSink.all(), "\n") {
				if strings.Contains(l, t.Name()) && (strings.Contains(l, "hook") || strings.Contains(l, "owner")) {
					t.Log(l)
				}
			}
			t.Logf("stats %+v", e.sim.Stats())
		}
	})
	site := e.readySite("owner")
	wh := e.readyWebhook(e.webhookObj("hook", site.Name, "WorkbookCreated", "https://hooks.example.com/before"))
	if err := e.sim.SetSiteRole(patName, tableautest.SiteRoleExplorer); err != nil {
		t.Fatal(err)
	}
	e.update(wh, func() { wh.Spec.Destination.URL = "https://hooks.example.com/after" })
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonInsufficientPermissions)
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonSiteNotReady)
	if err := e.sim.SetSiteRole(patName, tableautest.SiteRoleSiteAdministratorCreator); err != nil {
		t.Fatal(err)
	}
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	if got := simWebhook(t, e.sim, wh.Status.WebhookID); got.URL != "https://hooks.example.com/after" {
		t.Errorf("the change made while the rights were gone did not reach Tableau: %+v", got)
	}
}

// Deleting webhooks while their site is refused: after a 403 they go once the rights are
// back, without a site reconcile (a site being deleted makes none); after Tableau said the site
// is gone, they go at once, since their webhooks went with the site.
func TestDeletionWhileTheSiteIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withResync(3*time.Second))
	site := e.readySite("owner")
	wh := e.readyWebhook(e.webhookObj("forbidden", site.Name, "WorkbookCreated", "https://hooks.example.com/f"))
	if err := e.sim.SetSiteRole(patName, tableautest.SiteRoleExplorer); err != nil {
		t.Fatal(err)
	}
	e.delete(site) // the site waits for its webhook, and makes no probes any more
	e.delete(wh)
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonDeleting)
	if err := e.sim.SetSiteRole(patName, tableautest.SiteRoleSiteAdministratorCreator); err != nil {
		t.Fatal(err)
	}
	e.waitGone(wh)
	e.waitGone(site)
	if n := len(e.simWebhooks()); n != 0 {
		t.Errorf("%d webhooks left in Tableau", n)
	}

	gone := e.readySite("gone")
	hook := e.readyWebhook(e.webhookObj("on-a-gone-site", gone.Name, "WorkbookCreated", "https://hooks.example.com/g"))
	if err := e.sim.DeleteSite(siteName); err != nil {
		t.Fatal(err)
	}
	e.update(hook, func() { hook.Spec.Destination.URL = "https://hooks.example.com/g2" })
	e.waitCondition(gone, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonSiteNotFoundInTableau)
	e.delete(hook)
	e.waitGone(hook)
}

// A probe of a refused site that fails for a passing reason (a 503) leaves the site refused,
// not Ready with its webhooks still waiting; the next probe recovers everything.
func TestAFailedProbeKeepsTheSiteRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withResync(3*time.Second))
	site := e.readySite("owner")
	wh := e.readyWebhook(e.webhookObj("hook", site.Name, "WorkbookCreated", "https://hooks.example.com/before"))
	if err := e.sim.SetSiteRole(patName, tableautest.SiteRoleExplorer); err != nil {
		t.Fatal(err)
	}
	e.update(wh, func() { wh.Spec.Destination.URL = "https://hooks.example.com/after" })
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonInsufficientPermissions)
	// Rights back, but Tableau answers the probes with 503 for a while.
	e.sim.SetFaults(tableautest.Faults{Operations: []string{tableautest.OpListWebhooks}, Statuses: []int{503}, ErrorRate: 1})
	if err := e.sim.SetSiteRole(patName, tableautest.SiteRoleSiteAdministratorCreator); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitTimeout, func() error {
		if e.sim.CountStatus(tableautest.OpListWebhooks, 503) == 0 {
			return fmt.Errorf("no probe yet")
		}
		return nil
	})
	e.get(site)
	expectCondition(t, site, tableauv1.ConditionReady, ptr.To(metav1.ConditionFalse), tableauv1.ReasonInsufficientPermissions)
	e.sim.ClearFaults()
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	if got := simWebhook(t, e.sim, wh.Status.WebhookID); got.URL != "https://hooks.example.com/after" {
		t.Errorf("simulator has %+v", got)
	}
}

// A Secret is held only while a webhook's deletion needs it: with only Orphan webhooks (or none
// in Tableau yet) it can be deleted and created again, as a rotation by recreation does.
func TestSecretsHeldOnlyWhileNeeded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	site := e.readySite("owner")
	orphan := e.webhookObj("orphan", site.Name, "WorkbookCreated", "https://hooks.example.com/o")
	orphan.Spec.DeletionPolicy = tableauv1.DeletionPolicyOrphan
	e.readyWebhook(orphan)
	secret := e.patSecretObj("owner-pat")
	e.get(secret)
	if slices.Contains(secret.Finalizers, "tableau.webhook-operator.dev/credentials-in-use") {
		t.Errorf("Secret held for a site whose only webhook is Orphan: %v", secret.Finalizers)
	}
	held := e.readyWebhook(e.webhookObj("held", site.Name, "WorkbookCreated", "https://hooks.example.com/h"))
	eventually(t, waitTimeout, func() error {
		e.get(secret)
		if !slices.Contains(secret.Finalizers, "tableau.webhook-operator.dev/credentials-in-use") {
			return fmt.Errorf("Secret not held while a Delete webhook exists: %v", secret.Finalizers)
		}
		return nil
	})
	e.update(held, func() { held.Spec.DeletionPolicy = tableauv1.DeletionPolicyOrphan })
	eventually(t, waitTimeout, func() error {
		e.get(secret)
		if slices.Contains(secret.Finalizers, "tableau.webhook-operator.dev/credentials-in-use") {
			return fmt.Errorf("Secret still held once every webhook is Orphan: %v", secret.Finalizers)
		}
		return nil
	})
	e.delete(secret)
	e.waitGone(secret)
	e.create(e.patSecretObj("owner-pat"))
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
}
