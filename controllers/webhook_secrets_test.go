package controllers_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// With every log level on, no PAT secret, session token or Secret-sourced URL appears in the
// logs, Events or status, through sign-ins, token expiry, rotation, failures and tests.
func TestNoSecretsLeak(t *testing.T) {
	t.Parallel()
	const (
		leakPATSecret = "leak-test-pat-secret-3e8d1f"
		badPATSecret  = "leak-test-wrong-secret-77c0a2"
		urlSecretPart = "leak-test-url-token-5b9e44"
	)
	e := newEnv(t, withSim(tableautest.WithPAT("leak-pat", leakPATSecret)))
	proxy := newRecordingProxy(t, e.sim.URL)
	// The destination refuses connections, so that Test Webhook reports the failure, whose
	// text (Tableau's, or the simulator's) may name the URL.
	secretURL := strings.Replace(closedPortURL(t), "http://", "https://", 1) + "/services/" + urlSecretPart

	pat := e.secretObj("leak-pat", map[string]string{"tokenName": "leak-pat", "tokenSecret": leakPATSecret})
	e.create(pat)
	site := e.siteOn("leak", proxy.URL, "leak-pat")
	e.create(site)
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
	e.create(e.secretObj("hook-url", map[string]string{"url": secretURL}))
	wh := e.webhookObj("leak", site.Name, "WorkbookCreated", "")
	wh.Spec.Destination = tableauv1.Destination{URLFrom: &tableauv1.URLSource{SecretKeyRef: tableauv1.SecretKeySelector{Name: "hook-url", Key: "url"}}}
	e.readyWebhook(wh)

	// Test Webhook against the unreachable destination.
	e.update(wh, func() { metav1.SetMetaDataAnnotation(&wh.ObjectMeta, tableauv1.AnnotationTest, "leak-1") })
	eventually(t, waitTimeout, func() error {
		e.get(wh)
		if wh.Status.LastTest == nil || wh.Status.LastTest.Request != "leak-1" {
			return fmt.Errorf("status.lastTest = %+v", wh.Status.LastTest)
		}
		return nil
	})
	// The simulator, like a gateway, answers with the error text, which names the URL.
	if lt := wh.Status.LastTest; lt.StatusCode != tableautest.TestStatusUnreachable || !strings.Contains(lt.Body, "secretKeyRef:hook-url/url") {
		t.Errorf("status.lastTest = %+v, want 502 with the URL shown as its Secret reference", lt)
	}
	var snapshots []string
	snapshot := func(obj client.Object) {
		b, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		snapshots = append(snapshots, string(b))
	}
	snapshot(wh)
	// Expired tokens: the operator signs in again on the next call.
	e.sim.ExpireTokens()
	e.update(wh, func() { wh.Spec.Event = "WorkbookDeleted" })
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	// A failing write: Tableau's error lands in conditions and Events.
	e.sim.SetFaults(tableautest.Faults{Operations: []string{tableautest.OpUpdateWebhook}, Statuses: []int{500}, ErrorRate: 1})
	e.update(wh, func() { wh.Spec.Event = "WorkbookCreated" })
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonTableauError)
	snapshot(wh)
	e.sim.ClearFaults()
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	// A rotation to a refused secret, and back.
	e.update(pat, func() { pat.StringData = map[string]string{"tokenSecret": badPATSecret} })
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonAuthenticationFailed)
	snapshot(site)
	e.update(pat, func() { pat.StringData = map[string]string{"tokenSecret": leakPATSecret} })
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
	e.delete(wh)
	e.waitGone(wh)

	secrets := map[string]string{
		"PAT secret":         leakPATSecret,
		"refused PAT secret": badPATSecret,
		"destination URL":    secretURL,
		"URL's secret part":  urlSecretPart,
	}
	// Secret data travels base64-encoded in API server bodies (which client-go logs at V(8)).
	for what, s := range map[string]string{"PAT secret": leakPATSecret, "destination URL": secretURL} {
		secrets[what+" (base64)"] = base64.StdEncoding.EncodeToString([]byte(s))
	}
	tokens := proxy.seenTokens()
	if len(tokens) < 2 {
		t.Fatalf("the proxy saw %d session tokens, want at least 2 (before and after expiry)", len(tokens))
	}
	for i, tok := range tokens {
		secrets[fmt.Sprintf("session token %d", i)] = tok
		// The token's random parts, on their own (the last part is the public site LUID).
		parts := strings.Split(tok, "|")
		for j, p := range parts[:len(parts)-1] {
			secrets[fmt.Sprintf("session token %d part %d", i, j)] = p
		}
	}

	logs := logSink.all()
	places := map[string]string{"logs": logs, "binary bodies in logs": string(hexDumped(logs))}
	var notes []string
	for _, obj := range []client.Object{site, wh} {
		for _, ev := range e.events(obj) {
			notes = append(notes, ev.Reason+": "+ev.Note)
		}
	}
	places["Events"] = strings.Join(notes, "\n")
	snapshot(site)
	places["status"] = strings.Join(snapshots, "\n")
	// The logs are structured: the Tableau operation and the TableauSite it was made for.
	if !strings.Contains(logs, `"msg"="Tableau API request"`) || !strings.Contains(logs, `"operation"="CreateWebhook"`) ||
		!strings.Contains(logs, fmt.Sprintf(`"tableauSite"="%s/leak"`, e.ns)) {
		t.Fatal("the captured logs have no structured debug request logs: the check would prove nothing")
	}
	for place, text := range places {
		for what, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s contain the %s", place, what)
			}
		}
	}
}

// hexDumpLine is one line of hex.Dump, as client-go logs binary (protobuf) bodies at V(8):
// offset, up to 16 bytes in hex, then the printable characters, which split strings across
// lines and hide non-printable bytes.
var hexDumpLine = regexp.MustCompile(`([0-9a-f]{8})  ((?:[0-9a-f]{2}  ?){1,16}) *\|`)

// hexDumped returns the bytes of every hex dump in the text, so that a secret in a binary
// body can be searched for.
func hexDumped(text string) []byte {
	var out []byte
	for _, m := range hexDumpLine.FindAllStringSubmatch(text, -1) {
		if m[1] == "00000000" {
			out = append(out, '\n') // a new dump: do not join it to the previous one
		}
		b, err := hex.DecodeString(strings.ReplaceAll(m[2], " ", ""))
		if err == nil {
			out = append(out, b...)
		}
	}
	return out
}

// The delete path redacts like every other: a Tableau error that echoes a Secret-sourced URL
// (as is, JSON-escaped, percent-encoded, XML-escaped, and cut by the client's length limit)
// reaches neither the Deleting condition nor an Event, in any of those forms.
func TestDeletePathRedactsSecretURL(t *testing.T) {
	t.Parallel()
	const secretPart = "delete-path-url-token-8d2c61"
	secretURL := "https://hooks.example.com/services/" + secretPart + "?k=v&x=y"
	e := newEnv(t)
	target, err := url.Parse(e.sim.URL)
	if err != nil {
		t.Fatal(err)
	}
	var failDeletes atomic.Bool
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failDeletes.Load() && r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/webhooks/") {
			jsonForm, _ := json.Marshal(secretURL)
			detail := "cannot delete: " + secretURL + " / " + string(jsonForm) + " / " + url.QueryEscape(secretURL) +
				" / " + strings.ReplaceAll(secretURL, "&", "&amp;") + " / " + strings.Repeat("x", 990) + secretURL
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, `<tsResponse><error code="500000"><summary>Internal error</summary><detail>%s</detail></error></tsResponse>`,
				strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(detail))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	e.create(e.patSecretObj("redact-pat"))
	site := e.siteOn("redact", proxy.URL, "redact-pat")
	e.create(site)
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
	e.create(e.secretObj("hook-url", map[string]string{"url": secretURL}))
	wh := e.webhookObj("redacted", site.Name, "WorkbookCreated", "")
	wh.Spec.Destination = tableauv1.Destination{URLFrom: &tableauv1.URLSource{SecretKeyRef: tableauv1.SecretKeySelector{Name: "hook-url", Key: "url"}}}
	e.readyWebhook(wh)

	failDeletes.Store(true)
	e.delete(wh)
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonDeleting)
	e.waitReadyMessage(wh, "secretKeyRef:hook-url/url")
	e.get(wh)
	var texts []string
	for _, c := range wh.Status.Conditions {
		texts = append(texts, c.Message)
	}
	for _, ev := range e.events(wh) {
		texts = append(texts, ev.Note)
	}
	all := strings.Join(texts, "\n")
	for what, s := range map[string]string{"the URL's secret part": secretPart, "its query": "k=v"} {
		if strings.Contains(all, s) {
			t.Errorf("%s shows on the delete path:\n%s", what, all)
		}
	}
	failDeletes.Store(false)
	e.waitGone(wh)
}
