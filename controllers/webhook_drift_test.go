package controllers_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// Every kind of change made in Tableau behind the operator's back is put right by the next
// drift check.
func TestWebhookDriftCorrected(t *testing.T) {
	t.Parallel()
	const resync = 2 * time.Second
	e := newEnv(t, withResync(resync))
	site := e.readySite("tableau")
	const url = "https://hooks.example.com/drift"
	cases := []struct {
		name string
		// edit changes the webhook in Tableau; deleted says it removes it.
		edit    func(id string)
		deleted bool
		// reenabled expects the Warning event that carries Tableau's reason.
		reenabled bool
	}{
		{name: "deleted", edit: func(id string) { e.sim.DeleteWebhook(siteName, id) }, deleted: true},
		{name: "renamed", edit: func(id string) {
			e.sim.EditWebhook(siteName, id, func(w *tableautest.Webhook) { w.Name = "someone renamed it" })
		}},
		{name: "retargeted", edit: func(id string) {
			e.sim.EditWebhook(siteName, id, func(w *tableautest.Webhook) { w.URL = "https://attacker.example.com/" })
		}},
		{name: "other-event", edit: func(id string) {
			e.sim.EditWebhook(siteName, id, func(w *tableautest.Webhook) { w.Event = "WorkbookDeleted" })
		}},
		{name: "disabled", reenabled: true, edit: func(id string) {
			e.sim.EditWebhook(siteName, id, func(w *tableautest.Webhook) {
				w.Enabled, w.StatusChangeReason = false, tableautest.ReasonDeliveryFailures
			})
		}},
	}
	webhooks := make([]*tableauv1.TableauWebhook, len(cases))
	for i, tc := range cases {
		webhooks[i] = e.webhookObj("drift-"+tc.name, site.Name, "WorkbookCreated", url)
		e.create(webhooks[i])
	}
	ids := make([]string, len(cases))
	for i, wh := range webhooks {
		e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
		ids[i] = wh.Status.WebhookID
	}
	for i, tc := range cases {
		tc.edit(ids[i])
	}
	start := time.Now()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := e.forTest(t)
			wh := webhooks[i]
			name := e.ns + "/drift-" + tc.name
			eventually(t, waitTimeout, func() error {
				got := simWebhooksNamed(e.sim, name)
				if len(got) != 1 {
					return fmt.Errorf("simulator has %d webhooks named %s", len(got), name)
				}
				if w := got[0]; w.Event != "WorkbookCreated" || w.URL != url || !w.Enabled {
					return fmt.Errorf("webhook in Tableau is %+v", w)
				}
				return nil
			})
			// The next resync, not a later one, corrects it (periods are jittered by 10%,
			// the slack covers a busy test machine).
			if d := time.Since(start); d > 4*resync {
				t.Errorf("corrected after %s, want within about one resync period (%s)", d, resync)
			}
			w := simWebhooksNamed(e.sim, name)[0]
			if tc.deleted == (w.ID == ids[i]) {
				t.Errorf("webhook ID %s, was %s: deleted=%v", w.ID, ids[i], tc.deleted)
			}
			if n := len(e.simWebhooks()); n != len(cases) {
				t.Errorf("simulator has %d webhooks, want %d", n, len(cases))
			}
			eventually(t, waitTimeout, func() error {
				e.get(wh)
				if wh.Status.WebhookID != w.ID {
					return fmt.Errorf("status.webhookID = %s, want %s", wh.Status.WebhookID, w.ID)
				}
				return nil
			})
			e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
			if ev := e.waitEventOf(wh, "DriftCorrected"); ev.Type != corev1.EventTypeNormal {
				t.Errorf("DriftCorrected event is %s", ev.Type)
			}
			if tc.reenabled {
				ev := e.waitEventOf(wh, "Reenabled")
				if ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Note, tableautest.ReasonDeliveryFailures) {
					t.Errorf("Reenabled event = %s %q, want a Warning carrying Tableau's reason", ev.Type, ev.Note)
				}
			} else {
				e.noEvent(wh, "Reenabled")
			}
			e.noEvent(wh, "Updated")
		})
	}
}
