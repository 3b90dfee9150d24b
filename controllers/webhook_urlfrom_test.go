package controllers_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
)

// A destination URL read from a Secret reaches Tableau, follows the Secret's rotation, and is
// shown only as a reference to the Secret.
func TestWebhookURLFromSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	site := e.readySite("tableau")
	const first, second = "https://hooks.slack.example/services/T01/B01/first-s3cret", "https://hooks.slack.example/services/T01/B01/second-s3cret"
	secret := e.secretObj("slack", map[string]string{"webhook-url": first})
	e.create(secret)
	wh := e.webhookObj("slack", site.Name, "DatasourceRefreshFailed", "")
	wh.Spec.Destination = tableauv1.Destination{URLFrom: &tableauv1.URLSource{SecretKeyRef: tableauv1.SecretKeySelector{Name: "slack", Key: "webhook-url"}}}
	e.readyWebhook(wh)
	id := wh.Status.WebhookID
	if w := simWebhook(t, e.sim, id); w.URL != first {
		t.Fatalf("webhook in Tableau = %+v, want the Secret's URL", w)
	}
	if wh.Status.Destination != "secretKeyRef:slack/webhook-url" {
		t.Errorf("status.destination = %q", wh.Status.Destination)
	}

	e.update(secret, func() { secret.StringData = map[string]string{"webhook-url": second} })
	eventually(t, waitTimeout, func() error {
		if w := simWebhook(t, e.sim, id); w.URL != second {
			return fmt.Errorf("webhook in Tableau has URL %q", w.URL)
		}
		return nil
	})
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	// The user changed the URL (through the Secret); Tableau did not drift.
	if note := e.waitEvent(wh, "Updated"); !strings.Contains(note, "url") {
		t.Errorf("Updated event %q does not name the url", note)
	}
	e.noEvent(wh, "DriftCorrected")
	if len(e.simWebhooks()) != 1 {
		t.Errorf("simulator has %+v", e.simWebhooks())
	}

	status, err := json.Marshal(wh)
	if err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{first, second} {
		if strings.Contains(string(status), url) {
			t.Errorf("the resource shows the Secret's URL: %s", status)
		}
		for _, ev := range e.events(wh) {
			if strings.Contains(ev.Note, url) {
				t.Errorf("event %s shows the Secret's URL: %s", ev.Reason, ev.Note)
			}
		}
	}
}
