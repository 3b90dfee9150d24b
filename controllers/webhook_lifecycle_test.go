package controllers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

func TestWebhookCreateUpdateDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	site := e.readySite("tableau")
	wh := e.webhookObj("refresh-failed", site.Name, "DatasourceRefreshFailed", "https://hooks.example.com/a")
	e.create(wh)
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	e.waitCondition(wh, tableauv1.ConditionSynced, metav1.ConditionTrue, tableauv1.ReasonReconcileSuccess)
	expectCondition(t, wh, "Reconciling", nil, "")
	expectCondition(t, wh, "Stalled", nil, "")

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
	if wh.Status.Enabled == nil || !*wh.Status.Enabled || wh.Status.Destination != "https://hooks.example.com/a" ||
		wh.Status.Owner == nil || wh.Status.Owner.Name != patName || wh.Status.ObservedGeneration != wh.Generation {
		t.Errorf("status = %+v", wh.Status)
	}
	e.waitCreatePendingCleared(wh)
	if !slices.Contains(wh.Finalizers, "tableau.webhook-operator.dev/webhook") {
		t.Errorf("finalizers = %v, want the webhook finalizer", wh.Finalizers)
	}
	e.waitEvent(wh, "Created")
	if n := e.sim.Count(tableautest.OpCreateWebhook); n != 1 {
		t.Errorf("%d Create Webhook requests, want 1", n)
	}

	e.update(wh, func() { wh.Spec.Destination.URL = "https://hooks.example.com/b" })
	eventually(t, waitTimeout, func() error {
		if got := e.simWebhooks(); len(got) != 1 || got[0].URL != "https://hooks.example.com/b" || got[0].ID != w.ID {
			return fmt.Errorf("simulator has %+v", got)
		}
		return nil
	})
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	e.waitEvent(wh, "Updated")

	e.delete(wh)
	e.waitGone(wh)
	if got := e.simWebhooks(); len(got) != 0 {
		t.Errorf("simulator still has %+v", got)
	}
	if n := e.sim.Count(tableautest.OpDeleteWebhook); n != 1 {
		t.Errorf("%d Delete Webhook requests, want 1", n)
	}
	e.waitEvent(wh, "Deleted")
}

// Each field of the spec, changed, updates the same webhook in place.
func TestWebhookUpdateEachField(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	site := e.readySite("tableau")
	type step struct {
		mutate func(*tableauv1.TableauWebhook)
		check  func(tableautest.Webhook) error
		field  string // named in the Updated event
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"url", []step{{
			mutate: func(w *tableauv1.TableauWebhook) { w.Spec.Destination.URL = "https://hooks.example.com/new" },
			check:  wantField("url", func(w tableautest.Webhook) any { return w.URL }, "https://hooks.example.com/new"),
			field:  "url",
		}}},
		{"event", []step{{
			mutate: func(w *tableauv1.TableauWebhook) { w.Spec.Event = "WorkbookRefreshFailed" },
			check:  wantField("event", func(w tableautest.Webhook) any { return w.Event }, "WorkbookRefreshFailed"),
			field:  "event",
		}}},
		{"webhookName", []step{{
			mutate: func(w *tableauv1.TableauWebhook) { w.Spec.WebhookName = "renamed by spec" },
			check:  wantField("name", func(w tableautest.Webhook) any { return w.Name }, "renamed by spec"),
			field:  "name",
		}}},
		{"enabled", []step{{
			mutate: func(w *tableauv1.TableauWebhook) { w.Spec.Enabled = ptr.To(false) },
			check:  wantField("enabled", func(w tableautest.Webhook) any { return w.Enabled }, false),
			field:  "enabled",
		}, {
			mutate: func(w *tableauv1.TableauWebhook) { w.Spec.Enabled = ptr.To(true) },
			check:  wantField("enabled", func(w tableautest.Webhook) any { return w.Enabled }, true),
			field:  "enabled",
		}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := e.forTest(t)
			wh := e.readyWebhook(e.webhookObj("upd-"+strings.ToLower(tc.name), site.Name, "DatasourceRefreshFailed", "https://hooks.example.com/old"))
			id := wh.Status.WebhookID
			for i, s := range tc.steps {
				e.update(wh, func() { s.mutate(wh) })
				eventually(t, waitTimeout, func() error { return s.check(simWebhook(t, e.sim, id)) })
				e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
				if wh.Status.WebhookID != id {
					t.Fatalf("step %d: webhookID changed from %s to %s", i, id, wh.Status.WebhookID)
				}
				note := e.waitEvent(wh, "Updated")
				if !strings.Contains(note, s.field) {
					t.Errorf("Updated event %q does not name the field %s", note, s.field)
				}
			}
			w := simWebhook(t, e.sim, id)
			if wh.Status.WebhookName != w.Name || *wh.Status.Enabled != w.Enabled || wh.Status.StatusChangeReason != w.StatusChangeReason {
				t.Errorf("status %+v does not show the webhook %+v", wh.Status, w)
			}
			// The user enabling a webhook they disabled is a spec change, not a webhook that
			// Tableau had disabled.
			e.noEvent(wh, "Reenabled")
			e.noEvent(wh, "DriftCorrected")
		})
	}
	t.Cleanup(func() {
		if n := e.sim.Count(tableautest.OpCreateWebhook); n != len(cases) {
			t.Errorf("%d Create Webhook requests, want %d (one per resource: updates are in place)", n, len(cases))
		}
	})
}

func wantField(name string, get func(tableautest.Webhook) any, want any) func(tableautest.Webhook) error {
	return func(w tableautest.Webhook) error {
		if got := get(w); got != want {
			return fmt.Errorf("%s in Tableau is %v, want %v", name, got, want)
		}
		return nil
	}
}

func TestWebhookDeletionPolicyOrphan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	site := e.readySite("tableau")
	wh := e.webhookObj("orphan", site.Name, "WorkbookCreated", "https://hooks.example.com/o")
	wh.Spec.DeletionPolicy = tableauv1.DeletionPolicyOrphan
	e.readyWebhook(wh)
	id := wh.Status.WebhookID

	e.delete(wh)
	e.waitGone(wh)
	if w := simWebhook(t, e.sim, id); w.Name != e.ns+"/orphan" {
		t.Errorf("orphaned webhook = %+v", w)
	}
	if n := e.sim.Count(tableautest.OpDeleteWebhook); n != 0 {
		t.Errorf("%d Delete Webhook requests, want 0", n)
	}
	e.noEvent(wh, "Deleted")
}

// A webhook of the same name made outside the operator is refused by default and adopted
// (and made to match) with adoptionPolicy Adopt.
func TestWebhookAdoptionPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t.Run("refuse, then adopt on spec change", func(t *testing.T) {
		t.Parallel()
		e := e.forTest(t)
		sim := newSim(t, tableautest.WithPAT(patName, patSecret))
		site := e.readySiteOn("refuse-adopt", sim)
		foreign := sim.AddWebhook(siteName, tableautest.Webhook{
			Name: e.ns + "/taken", Event: "WorkbookDeleted", URL: "https://foreign.example.com/x", Enabled: true,
		})
		wh := e.webhookObj("taken", site.Name, "DatasourceCreated", "https://hooks.example.com/mine")
		e.create(wh)
		e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonAlreadyExists)
		expectStalled(t, wh, tableauv1.ReasonAlreadyExists)
		expectCondition(t, wh, tableauv1.ConditionSynced, ptr.To(metav1.ConditionFalse), tableauv1.ReasonReconcileError)
		if !strings.Contains(readyMessage(wh), foreign.ID) || !strings.Contains(readyMessage(wh), "adoptionPolicy") {
			t.Errorf("AlreadyExists message %q should name the webhook and the way out", readyMessage(wh))
		}
		if wh.Status.WebhookID != "" {
			t.Errorf("status.webhookID = %q for a refused webhook", wh.Status.WebhookID)
		}
		// Terminal: no retries, nothing written to Tableau.
		requests := sim.Stats().Total()
		staysAtMost(t, 3*time.Second, "Tableau requests after AlreadyExists", requests, func() int { return sim.Stats().Total() })
		if got := sim.Webhooks(siteName); len(got) != 1 || got[0] != foreign {
			t.Fatalf("simulator has %+v, want only the untouched foreign webhook", got)
		}

		e.update(wh, func() { wh.Spec.AdoptionPolicy = tableauv1.AdoptionPolicyAdopt })
		e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
		expectCondition(t, wh, "Stalled", nil, "")
		if note := e.waitEvent(wh, "Adopted"); !strings.Contains(note, foreign.ID) {
			t.Errorf("Adopted event %q does not name the webhook", note)
		}
		got := sim.Webhooks(siteName)
		if len(got) != 1 {
			t.Fatalf("simulator has %d webhooks, want exactly the adopted one: %+v", len(got), got)
		}
		if w := got[0]; w.ID != foreign.ID || w.Event != "DatasourceCreated" || w.URL != "https://hooks.example.com/mine" || !w.Enabled {
			t.Errorf("adopted webhook = %+v, want it to match the spec", w)
		}
		if wh.Status.WebhookID != foreign.ID || wh.Status.Owner == nil || wh.Status.Owner.Name != tableautest.ForeignOwnerName {
			t.Errorf("status = %+v", wh.Status)
		}
		if n := sim.Count(tableautest.OpCreateWebhook); n != 0 {
			t.Errorf("%d Create Webhook requests, want 0", n)
		}
		// Adopted means managed: deleting the resource deletes the webhook.
		e.delete(wh)
		e.waitGone(wh)
		if got := sim.Webhooks(siteName); len(got) != 0 {
			t.Errorf("simulator still has %+v", got)
		}
	})
	t.Run("a refused resource, deleted, leaves the foreign webhook", func(t *testing.T) {
		t.Parallel()
		e := e.forTest(t)
		sim := newSim(t, tableautest.WithPAT(patName, patSecret))
		site := e.readySiteOn("refuse-delete", sim)
		foreign := sim.AddWebhook(siteName, tableautest.Webhook{
			Name: "shared name", Event: "WorkbookDeleted", URL: "https://foreign.example.com/x", Enabled: true,
		})
		wh := e.webhookObj("refused", site.Name, "WorkbookDeleted", "https://foreign.example.com/x")
		wh.Spec.WebhookName = "shared name"
		e.create(wh)
		e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonAlreadyExists)
		e.delete(wh)
		e.waitGone(wh)
		if got := sim.Webhooks(siteName); len(got) != 1 || got[0] != foreign {
			t.Errorf("simulator has %+v, want the foreign webhook untouched", got)
		}
		if n := sim.Stats().Writes(); n != 0 {
			t.Errorf("%d Tableau writes, want 0", n)
		}
	})
}

// Two resources claiming one Tableau name on one site: the later gets NameConflict until the
// first is gone.
func TestWebhookNameConflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	site := e.readySite("tableau")
	first := e.webhookObj("a-first", site.Name, "WorkbookCreated", "https://hooks.example.com/1")
	first.Spec.WebhookName = "the name"
	e.readyWebhook(first)

	second := e.webhookObj("b-second", site.Name, "WorkbookDeleted", "https://hooks.example.com/2")
	second.Spec.WebhookName = "the name"
	e.create(second)
	e.waitCondition(second, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonNameConflict)
	expectStalled(t, second, tableauv1.ReasonNameConflict)
	if msg := readyMessage(second); !strings.Contains(msg, e.ns+"/a-first") {
		t.Errorf("NameConflict message %q does not name the other resource", msg)
	}
	writes := e.sim.Stats().Writes()
	staysAtMost(t, 3*time.Second, "Tableau writes during the conflict", writes, func() int { return e.sim.Stats().Writes() })
	if got := simWebhooksNamed(e.sim, "the name"); len(got) != 1 || got[0].ID != first.Status.WebhookID {
		t.Fatalf("simulator has %+v, want only the first resource's webhook", got)
	}
	e.get(second)
	if second.Status.WebhookID != "" {
		t.Errorf("the conflicting resource has webhookID %s", second.Status.WebhookID)
	}

	e.delete(first)
	e.waitGone(first)
	e.waitCondition(second, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	expectCondition(t, second, "Stalled", nil, "")
	got := simWebhooksNamed(e.sim, "the name")
	if len(got) != 1 || got[0].ID != second.Status.WebhookID || got[0].Event != "WorkbookDeleted" {
		t.Errorf("simulator has %+v, want one webhook, the second resource's", got)
	}
}

// While suspended, nothing is asked of Tableau and drift stays; resuming corrects it.
func TestWebhookSuspendResume(t *testing.T) {
	t.Parallel()
	const resync = 2 * time.Second
	e := newEnv(t, withResync(resync))
	site := e.readySite("tableau")
	wh := e.readyWebhook(e.webhookObj("suspended", site.Name, "WorkbookCreated", "https://hooks.example.com/s"))
	id := wh.Status.WebhookID

	e.update(wh, func() { wh.Spec.Suspend = true })
	e.waitCondition(wh, tableauv1.ConditionSynced, metav1.ConditionFalse, tableauv1.ReasonSuspended)
	e.sim.EditWebhook(siteName, id, func(w *tableautest.Webhook) { w.URL = "https://elsewhere.example.com/" })
	// The site keeps its one List per period (its own health check); nothing else is asked.
	notLists := func() int { s := e.sim.Stats(); return s.Total() - s.Count(tableautest.OpListWebhooks) }
	requests, lists := notLists(), e.sim.Count(tableautest.OpListWebhooks)
	staysAtMost(t, 3*resync, "Tableau requests other than the site's Lists while suspended", requests, notLists)
	if n := e.sim.Count(tableautest.OpListWebhooks) - lists; n > 4 {
		t.Errorf("%d Lists in %s, want at most one per resync period", n, 3*resync)
	}
	if w := simWebhook(t, e.sim, id); w.URL != "https://elsewhere.example.com/" {
		t.Fatalf("a suspended webhook was corrected: %+v", w)
	}

	e.update(wh, func() { wh.Spec.Suspend = false })
	e.waitCondition(wh, tableauv1.ConditionSynced, metav1.ConditionTrue, tableauv1.ReasonReconcileSuccess)
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	if w := simWebhook(t, e.sim, id); w.URL != "https://hooks.example.com/s" {
		t.Errorf("after resume the webhook is %+v, want the spec's URL back", w)
	}
	if note := e.waitEvent(wh, "DriftCorrected"); !strings.Contains(note, "url") {
		t.Errorf("DriftCorrected event %q does not name the url", note)
	}
}

// The create succeeds in Tableau but its answer is lost: the next reconcile finds the webhook
// by the name status.pendingCreate recorded, and never makes a second one.
func TestWebhookLostCreateResponse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	site := e.readySite("tableau")
	e.sim.SetFaults(tableautest.Faults{LoseCreateResponses: 1})
	wh := e.readyWebhook(e.webhookObj("lost", site.Name, "WorkbookCreated", "https://hooks.example.com/l"))

	got := e.simWebhooks()
	if len(got) != 1 {
		t.Fatalf("simulator has %d webhooks, want exactly 1: %+v", len(got), got)
	}
	if wh.Status.WebhookID != got[0].ID {
		t.Errorf("status.webhookID = %s, want %s", wh.Status.WebhookID, got[0].ID)
	}
	if n, lost := e.sim.Count(tableautest.OpCreateWebhook), e.sim.CountStatus(tableautest.OpCreateWebhook, 0); n != 1 || lost != 1 {
		t.Errorf("Create Webhook requests: %d, %d of them without an answer; want 1 and 1", n, lost)
	}
	e.waitCreatePendingCleared(wh)
	// The lost answer shows as a transient error; finding its own webhook is not an adoption.
	if ev := e.waitEventOf(wh, "TableauError"); ev.Type != corev1.EventTypeWarning {
		t.Errorf("TableauError event is %s", ev.Type)
	}
	e.noEvent(wh, "Adopted")
}

// The test annotation runs Test Webhook once per token and reports the destination's answer.
func TestWebhookTestAnnotation(t *testing.T) {
	t.Parallel()
	var status atomic.Int32
	status.Store(http.StatusOK)
	var posts atomic.Int32
	receiver := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		posts.Add(1)
		w.WriteHeader(int(status.Load()))
		_, _ = fmt.Fprint(w, "receiver says hi")
	}))
	t.Cleanup(receiver.Close)
	e := newEnv(t, withSim(tableautest.WithDeliveryClient(receiver.Client())))
	site := e.readySite("tableau")
	wh := e.readyWebhook(e.webhookObj("tested", site.Name, "WorkbookCreated", receiver.URL+"/hook"))

	runTest := func(token string) {
		t.Helper()
		e.update(wh, func() { metav1.SetMetaDataAnnotation(&wh.ObjectMeta, tableauv1.AnnotationTest, token) })
		eventually(t, waitTimeout, func() error {
			e.get(wh)
			if wh.Status.LastTest == nil || wh.Status.LastTest.Request != token {
				return fmt.Errorf("status.lastTest = %+v, want request %s", wh.Status.LastTest, token)
			}
			return nil
		})
	}

	runTest("t1")
	if lt := wh.Status.LastTest; lt.StatusCode != http.StatusOK || lt.Body != "receiver says hi" || lt.Error != "" || lt.Time.IsZero() {
		t.Errorf("status.lastTest = %+v", lt)
	}
	if ev := e.waitEventOf(wh, "TestSucceeded"); ev.Type != corev1.EventTypeNormal || !strings.Contains(ev.Note, "200") {
		t.Errorf("TestSucceeded event = %s %q", ev.Type, ev.Note)
	}

	status.Store(http.StatusServiceUnavailable)
	runTest("t2")
	if lt := wh.Status.LastTest; lt.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status.lastTest = %+v, want 503", lt)
	}
	if ev := e.waitEventOf(wh, "TestFailed"); ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Note, "503") {
		t.Errorf("TestFailed event = %s %q", ev.Type, ev.Note)
	}

	// Once per token: another reconcile (a spec change) does not test again.
	e.update(wh, func() { wh.Spec.Destination.URL = receiver.URL + "/other" })
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	if n := e.sim.Count(tableautest.OpTestWebhook); n != 2 {
		t.Errorf("%d Test Webhook requests, want 2 (one per token)", n)
	}
	if n := posts.Load(); n != 2 {
		t.Errorf("the receiver got %d test POSTs, want 2", n)
	}
}

// A webhook already deleted in Tableau counts as deleted (Tableau answers 404).
func TestWebhookDeleteAlreadyGone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	site := e.readySite("tableau")
	wh := e.readyWebhook(e.webhookObj("gone", site.Name, "WorkbookCreated", "https://hooks.example.com/g"))
	e.sim.DeleteWebhook(siteName, wh.Status.WebhookID)
	e.delete(wh)
	e.waitGone(wh)
	if n := e.sim.CountStatus(tableautest.OpDeleteWebhook, http.StatusNotFound); n != 1 {
		t.Errorf("%d Delete Webhook requests answered 404, want 1", n)
	}
	e.noEvent(wh, "TableauError")
}

// A deletion that cannot reach Tableau waits and says why; deletionPolicy: Orphan unsticks it.
func TestWebhookDeletionStuckThenOrphan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	site := e.readySite("tableau")
	wh := e.readyWebhook(e.webhookObj("stuck", site.Name, "WorkbookCreated", "https://hooks.example.com/s"))
	id := wh.Status.WebhookID
	secret := e.patSecretObj(site.Name + "-pat")
	e.update(secret, func() { secret.StringData = map[string]string{"tokenSecret": "revoked"} })
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonAuthenticationFailed)

	e.delete(wh)
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonDeleting)
	e.waitReadyMessage(wh, "deletionPolicy: Orphan")
	e.get(wh)
	if wh.DeletionTimestamp.IsZero() {
		t.Fatal("the resource is not being deleted")
	}
	e.update(wh, func() { wh.Spec.DeletionPolicy = tableauv1.DeletionPolicyOrphan })
	e.waitGone(wh)
	simWebhook(t, e.sim, id) // left in Tableau
}
