package tableautest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// receiver is an HTTPS webhook destination that records what it receives and answers with a
// settable status.
type receiver struct {
	*httptest.Server
	status atomic.Int32
	body   string

	mu   sync.Mutex
	reqs []received
}

type received struct {
	Method, ContentType string
	Body                []byte
}

func newReceiver(t *testing.T, status int, body string) *receiver {
	t.Helper()
	rc := &receiver{body: body}
	rc.status.Store(int32(status))
	rc.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, received{r.Method, r.Header.Get("Content-Type"), b})
		rc.mu.Unlock()
		w.WriteHeader(int(rc.status.Load()))
		_, _ = io.WriteString(w, rc.body)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

func TestTestWebhook(t *testing.T) {
	rc := newReceiver(t, http.StatusTeapot, "short and stout")
	srv := NewServer(WithPAT("op-pat", "s3cr3t"), WithDeliveryClient(rc.Client()))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", "op-pat", "s3cr3t")
	id := createXML(t, srv, token, siteID, "hook", "WorkbookCreated", rc.URL+"/hook").ID

	r := call(t, srv, http.MethodGet, webhooksPath(siteID)+"/"+id+"/test", xmlHeaders(token), "")
	wantStatus(t, r, http.StatusOK) // 200 even though the destination failed
	res := decodeXML(t, r).TestResult
	if res == nil || res.ID != id || res.Status != "418" || res.Body != "short and stout" {
		t.Fatalf("test result = %s", r.Body)
	}
	got := rc.received()
	if len(got) != 1 || got[0].Method != http.MethodPost || got[0].ContentType != "application/json" || len(got[0].Body) != 0 {
		t.Fatalf("destination received %+v, want one empty JSON POST", got)
	}

	rc.status.Store(http.StatusOK)
	r = call(t, srv, http.MethodGet, webhooksPath(siteID)+"/"+id+"/test", jsonHeaders(token), "")
	wantStatus(t, r, http.StatusOK)
	m := decodeJSON(t, r)
	if jget(t, m, "webhookTestResult", "status") != "200" || jget(t, m, "webhookTestResult", "id") != id {
		t.Fatalf("JSON test result = %s", r.Body)
	}

	// Unknown webhook: 400113 as documented.
	wantXMLError(t, call(t, srv, http.MethodGet, webhooksPath(siteID)+"/nope/test", xmlHeaders(token), ""),
		http.StatusBadRequest, CodeTestWebhookNotFound)
	wantXMLError(t, call(t, srv, http.MethodPost, webhooksPath(siteID)+"/"+id+"/test", xmlHeaders(token), ""),
		http.StatusMethodNotAllowed, CodeMethodNotAllowed)

	// Unreachable destination: reported, not an API error.
	gone := httptest.NewTLSServer(http.NotFoundHandler())
	gone.Close()
	srv.EditWebhook("", id, func(w *Webhook) { w.URL = gone.URL })
	r = call(t, srv, http.MethodGet, webhooksPath(siteID)+"/"+id+"/test", xmlHeaders(token), "")
	wantStatus(t, r, http.StatusOK)
	if res := decodeXML(t, r).TestResult; res.Status != "502" || res.Body == "" {
		t.Fatalf("unreachable test result = %s", r.Body)
	}
}

func TestTestWebhookTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer slow.Close()
	defer close(release)
	client := slow.Client()
	client.Timeout = 50 * time.Millisecond
	srv := NewServer(WithDeliveryClient(client))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", DefaultPATName, DefaultPATSecret)
	id := createXML(t, srv, token, siteID, "hook", "WorkbookCreated", slow.URL).ID
	r := call(t, srv, http.MethodGet, webhooksPath(siteID)+"/"+id+"/test", xmlHeaders(token), "")
	if res := decodeXML(t, r).TestResult; res.Status != "408" {
		t.Fatalf("timeout test result = %s", r.Body)
	}
}

func TestTrigger(t *testing.T) {
	ok := newReceiver(t, http.StatusOK, "")
	ok2 := newReceiver(t, http.StatusNoContent, "")
	other := newReceiver(t, http.StatusOK, "")
	clock := newFakeClock()
	srv := NewServer(WithSite("marketing"), WithDeliveryClient(ok.Client()), WithClock(clock.Now))
	defer srv.Close()

	a := srv.AddWebhook("marketing", Webhook{Name: "a", Event: "DatasourceRefreshFailed", URL: ok.URL, Enabled: true})
	b := srv.AddWebhook("marketing", Webhook{Name: "b", Event: "DatasourceRefreshFailed", URL: ok2.URL, Enabled: true})
	srv.AddWebhook("marketing", Webhook{Name: "c", Event: "WorkbookCreated", URL: other.URL, Enabled: true})
	srv.AddWebhook("marketing", Webhook{Name: "d", Event: "DatasourceRefreshFailed", URL: other.URL, Enabled: false})

	ds := srv.Trigger("marketing", "DatasourceRefreshFailed", "Sales")
	if len(ds) != 2 || ds[0].WebhookID != a.ID || ds[1].WebhookID != b.ID {
		t.Fatalf("deliveries = %+v", ds)
	}
	for _, d := range ds {
		if !d.Succeeded() || d.Attempts != 1 || d.Err != nil || d.Disabled {
			t.Fatalf("delivery = %+v", d)
		}
	}
	if n := len(other.received()); n != 0 {
		t.Fatalf("other event or disabled webhook received %d deliveries", n)
	}
	var p map[string]any
	got := ok.received()
	if len(got) != 1 || got[0].ContentType != "application/json" {
		t.Fatalf("received %+v", got)
	}
	if err := json.Unmarshal(got[0].Body, &p); err != nil {
		t.Fatal(err)
	}
	luid, _ := p["resource_luid"].(string)
	if p["resource"] != "EXTRACTS" || p["event_type"] != "DatasourceRefreshFailed" || p["resource_name"] != "Sales" ||
		p["site_luid"] != srv.SiteID("marketing") || len(luid) != 36 || p["created_at"] != "2026-11-27T12:00:00Z" || len(p) != 6 {
		t.Fatalf("payload = %s", got[0].Body)
	}
	// Every webhook of one event gets the identical payload.
	if string(ok2.received()[0].Body) != string(got[0].Body) {
		t.Fatalf("payloads differ:\n%s\n%s", got[0].Body, ok2.received()[0].Body)
	}
	// A legacy event name triggers too; unknown events and sites trigger nothing.
	if ds := srv.Trigger("marketing", "webhook-source-event-workbook-created", "wb"); len(ds) != 1 || !ds[0].Succeeded() {
		t.Fatalf("legacy trigger = %+v", ds)
	}
	if srv.Trigger("marketing", "Nope", "x") != nil || srv.Trigger("nope", "WorkbookCreated", "x") != nil {
		t.Fatal("unknown event or site delivered")
	}
}

func TestTriggerRetriesAndDisables(t *testing.T) {
	rc := newReceiver(t, http.StatusInternalServerError, "")
	srv := NewServer(WithDeliveryClient(rc.Client()))
	defer srv.Close()
	w := srv.AddWebhook("", Webhook{Name: "failing", Event: "WorkbookCreated", URL: rc.URL, Enabled: true})

	ds := srv.Trigger("", "WorkbookCreated", "wb")
	if len(ds) != 1 || ds[0].Attempts != 4 || ds[0].LastStatus != 500 || !ds[0].Disabled {
		t.Fatalf("delivery = %+v", ds)
	}
	if n := len(rc.received()); n != 4 {
		t.Fatalf("destination received %d attempts, want 4 (1 + 3 retries)", n)
	}
	got, _ := srv.Webhook("", w.ID)
	if got.Enabled || got.StatusChangeReason != ReasonDeliveryFailures {
		t.Fatalf("after exhausted delivery: %+v", got)
	}
	// Disabled webhooks are not delivered to.
	if ds := srv.Trigger("", "WorkbookCreated", "wb"); len(ds) != 0 || len(rc.received()) != 4 {
		t.Fatalf("disabled webhook delivered: %+v", ds)
	}
}

func TestTriggerDisableAfter(t *testing.T) {
	rc := newReceiver(t, http.StatusServiceUnavailable, "")
	srv := NewServer(WithDeliveryClient(rc.Client()), WithDisableAfter(2), WithRetryBackoff(time.Millisecond))
	defer srv.Close()
	w := srv.AddWebhook("", Webhook{Name: "flaky", Event: "WorkbookCreated", URL: rc.URL, Enabled: true})

	if ds := srv.Trigger("", "WorkbookCreated", "wb"); ds[0].Disabled || ds[0].Attempts != 4 {
		t.Fatalf("first exhausted delivery = %+v", ds)
	}
	// A success resets the count of consecutive failures.
	rc.status.Store(http.StatusOK)
	if ds := srv.Trigger("", "WorkbookCreated", "wb"); !ds[0].Succeeded() {
		t.Fatalf("delivery = %+v", ds)
	}
	rc.status.Store(http.StatusServiceUnavailable)
	if ds := srv.Trigger("", "WorkbookCreated", "wb"); ds[0].Disabled {
		t.Fatal("disabled after one failure following a success")
	}
	if ds := srv.Trigger("", "WorkbookCreated", "wb"); !ds[0].Disabled {
		t.Fatal("not disabled after two exhausted deliveries in a row")
	}
	if got, _ := srv.Webhook("", w.ID); got.Enabled {
		t.Fatalf("webhook = %+v", got)
	}

	// Re-enabling through the API gives it a fresh count.
	token, siteID := signInPAT(t, srv, "", DefaultPATName, DefaultPATSecret)
	wantStatus(t, call(t, srv, http.MethodPut, webhooksPath(siteID)+"/"+w.ID, xmlHeaders(token),
		`<tsRequest><webhook isEnabled="true"/></tsRequest>`), http.StatusOK)
	if ds := srv.Trigger("", "WorkbookCreated", "wb"); len(ds) != 1 || ds[0].Disabled {
		t.Fatalf("re-enabled webhook = %+v", ds)
	}
}

func TestTriggerTransportError(t *testing.T) {
	gone := httptest.NewTLSServer(http.NotFoundHandler())
	gone.Close()
	srv := NewServer()
	defer srv.Close()
	srv.AddWebhook("", Webhook{Name: "gone", Event: "WorkbookCreated", URL: gone.URL, Enabled: true})
	ds := srv.Trigger("", "WorkbookCreated", "wb")
	if len(ds) != 1 || ds[0].Attempts != 4 || ds[0].Err == nil || ds[0].LastStatus != 0 || !ds[0].Disabled {
		t.Fatalf("delivery = %+v", ds)
	}
}
