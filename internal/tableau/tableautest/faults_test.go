package tableautest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestFaultErrors(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", DefaultPATName, DefaultPATSecret)
	list := webhooksPath(siteID)

	srv.SetFaults(Faults{ErrorRate: 1, Statuses: []int{503}})
	wantXMLError(t, call(t, srv, http.MethodGet, list, xmlHeaders(token), ""), http.StatusServiceUnavailable, "503000")
	wantJSONError(t, call(t, srv, http.MethodGet, list, jsonHeaders(token), ""), http.StatusServiceUnavailable, "503000")
	// serverinfo is spared unless asked for, so version discovery keeps working.
	wantStatus(t, call(t, srv, http.MethodGet, api("/serverinfo"), nil, ""), http.StatusOK)
	srv.SetFaults(Faults{ErrorRate: 1, IncludeServerInfo: true})
	wantXMLError(t, call(t, srv, http.MethodGet, api("/serverinfo"), nil, ""), http.StatusInternalServerError, CodeInternal)

	// HTML bodies, as a load balancer would answer.
	srv.SetFaults(Faults{ErrorRate: 1, Statuses: []int{502}, HTMLBodies: true})
	r := call(t, srv, http.MethodGet, list, xmlHeaders(token), "")
	wantStatus(t, r, http.StatusBadGateway)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.Body), "<html>") {
		t.Fatalf("HTML fault = %q %s", r.Header.Get("Content-Type"), r.Body)
	}

	// Only the listed operations fail.
	srv.SetFaults(Faults{ErrorRate: 1, Operations: []string{OpCreateWebhook}})
	wantStatus(t, call(t, srv, http.MethodGet, list, xmlHeaders(token), ""), http.StatusOK)
	wantXMLError(t, call(t, srv, http.MethodPost, list, xmlHeaders(token), formA("x", "WorkbookCreated", hookURL)),
		http.StatusInternalServerError, CodeInternal)
	if len(srv.Webhooks("")) != 0 {
		t.Fatal("a faulted create was served")
	}

	srv.ClearFaults()
	wantStatus(t, call(t, srv, http.MethodGet, list, xmlHeaders(token), ""), http.StatusOK)
}

func TestFault429(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", DefaultPATName, DefaultPATSecret)
	srv.SetFaults(Faults{ErrorRate: 1, Statuses: []int{429}, RetryAfter: 1500 * time.Millisecond})
	r := call(t, srv, http.MethodGet, webhooksPath(siteID), jsonHeaders(token), "")
	wantStatus(t, r, http.StatusTooManyRequests)
	// Tableau Cloud's 429 is HTML whatever the client asked for.
	if r.Header.Get("Retry-After") != "2" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(r.Body), "429 Too Many Requests") {
		t.Fatalf("429 = Retry-After %q, Content-Type %q, body %s", r.Header.Get("Retry-After"), r.Header.Get("Content-Type"), r.Body)
	}
	if srv.CountStatus(OpListWebhooks, 429) != 1 {
		t.Fatalf("stats = %+v", srv.Stats())
	}
}

// TestFault429RetryAfterInDetail checks the shape of Tableau Cloud's 429 (REFERENCE 10.2): a
// Tableau error 429000 in the format asked for, the wait in the detail's words, no
// Retry-After header; set through the Go API and through the admin API.
func TestFault429RetryAfterInDetail(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", DefaultPATName, DefaultPATSecret)
	for _, tc := range []struct {
		wait time.Duration
		hint string
	}{
		{29 * time.Minute, "Please retry after 29 minutes."},
		{time.Minute, "Please retry after 1 minute."},
		{90 * time.Second, "Please retry after 90 seconds."},
		{1500 * time.Millisecond, "Please retry after 2 seconds."},
		{0, "Please retry after 0 seconds."},
	} {
		srv.SetFaults(Faults{ErrorRate: 1, Statuses: []int{429}, RetryAfter: tc.wait, RetryAfterInDetail: true,
			HTMLBodies: true, Operations: []string{OpListWebhooks}})
		want := "Too many requests for 'api.rest.list_webhooks'. " + tc.hint

		r := call(t, srv, http.MethodGet, webhooksPath(siteID), xmlHeaders(token), "")
		wantXMLError(t, r, http.StatusTooManyRequests, CodeTooManyRequests)
		if doc := decodeXML(t, r); doc.Error.Summary != "Too Many Requests" || doc.Error.Detail != want {
			t.Errorf("%v: XML error = %+v, want detail %q", tc.wait, doc.Error, want)
		}
		if v, ok := r.Header["Retry-After"]; ok {
			t.Errorf("%v: Retry-After %q sent, want none", tc.wait, v)
		}

		r = call(t, srv, http.MethodGet, webhooksPath(siteID), jsonHeaders(token), "")
		wantJSONError(t, r, http.StatusTooManyRequests, CodeTooManyRequests)
		if got := jget(t, decodeJSON(t, r), "error", "detail"); got != want {
			t.Errorf("%v: JSON detail = %q, want %q", tc.wait, got, want)
		}
		if _, ok := r.Header["Retry-After"]; ok {
			t.Errorf("%v: JSON answer has Retry-After", tc.wait)
		}
	}
	if srv.CountStatus(OpListWebhooks, 429) != 10 {
		t.Errorf("stats = %+v", srv.Stats())
	}

	// The admin API sets the same, and reports it back.
	var f map[string]any
	admin(t, srv, http.MethodPost, "/_sim/faults",
		`{"errorRate":1,"statuses":[429],"retryAfter":"29m","retryAfterInDetail":true}`, http.StatusOK, &f)
	if f["retryAfterInDetail"] != true || f["retryAfter"] != "29m0s" {
		t.Fatalf("faults = %v", f)
	}
	r := call(t, srv, http.MethodGet, webhooksPath(siteID)+"/x", xmlHeaders(token), "")
	wantXMLError(t, r, http.StatusTooManyRequests, CodeTooManyRequests)
	if d := decodeXML(t, r).Error.Detail; d != "Too many requests for 'api.rest.get_webhook'. Please retry after 29 minutes." {
		t.Errorf("detail = %q", d)
	}
	if !strings.Contains(AdminAPIUsage, `"retryAfterInDetail"`) {
		t.Error("AdminAPIUsage does not document retryAfterInDetail")
	}
}

func TestFaultSeedIsDeterministic(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", DefaultPATName, DefaultPATSecret)
	run := func() []int {
		srv.SetFaults(Faults{ErrorRate: 0.5, Statuses: []int{500, 503}, Seed: 7})
		var out []int
		for range 30 {
			out = append(out, call(t, srv, http.MethodGet, webhooksPath(siteID), xmlHeaders(token), "").Status)
		}
		return out
	}
	first, second := run(), run()
	counts := map[int]int{}
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("same seed, different faults:\n%v\n%v", first, second)
		}
		counts[first[i]]++
	}
	if counts[200] == 0 || counts[500] == 0 || counts[503] == 0 || counts[200]+counts[500]+counts[503] != 30 {
		t.Fatalf("statuses = %v, want a mix of 200, 500 and 503", counts)
	}
}

func TestLoseCreateResponses(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", DefaultPATName, DefaultPATSecret)
	srv.SetFaults(Faults{LoseCreateResponses: 1})

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+webhooksPath(siteID),
		strings.NewReader(formA("lost", "WorkbookCreated", hookURL)))
	req.Header.Set("Content-Type", xmlCT)
	req.Header.Set("X-Tableau-Auth", token)
	resp, err := srv.Client().Do(req)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatalf("create answered %d, want the connection closed without a response", resp.StatusCode)
	}
	// The webhook exists although the client never learnt its id.
	if ws := srv.Webhooks(""); len(ws) != 1 || ws[0].Name != "lost" {
		t.Fatalf("webhooks = %+v", ws)
	}
	if srv.CountStatus(OpCreateWebhook, 0) != 1 || srv.CurrentFaults().LoseCreateResponses != 0 {
		t.Fatalf("stats = %+v, faults %+v", srv.Stats(), srv.CurrentFaults())
	}
	// Only the next N creates are lost.
	createXML(t, srv, token, siteID, "second", "WorkbookCreated", hookURL)
}

func TestFaultHangEndsWhenClientGivesUp(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", DefaultPATName, DefaultPATSecret)
	srv.SetFaults(Faults{TimeoutRate: 1, Hang: time.Hour, Operations: []string{OpListWebhooks}})

	client := srv.Client()
	client.Timeout = 100 * time.Millisecond
	req, _ := http.NewRequest(http.MethodGet, srv.URL+webhooksPath(siteID), nil)
	req.Header.Set("X-Tableau-Auth", token)
	start := time.Now()
	if resp, err := client.Do(req); err == nil {
		_ = resp.Body.Close()
		t.Fatalf("hung request answered %d", resp.StatusCode)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the client timeout did not end the hang")
	}
	// The server side ends too, and counts a request without a response.
	eventually(t, "the hung request to end on the server", func() bool {
		return srv.hanging.Load() == 0 && srv.CountStatus(OpListWebhooks, 0) == 1
	})
}

func TestCloseEndsHangs(t *testing.T) {
	srv := NewServer()
	token, siteID := signInPAT(t, srv, "", DefaultPATName, DefaultPATSecret)
	srv.SetFaults(Faults{TimeoutRate: 1, Hang: time.Hour})
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+webhooksPath(siteID), nil)
		req.Header.Set("X-Tableau-Auth", token)
		resp, err := srv.Client().Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		errc <- err
	}()
	eventually(t, "the request to hang", func() bool { return srv.hanging.Load() == 1 })
	start := time.Now()
	srv.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v with a hanging request", d)
	}
	if err := <-errc; err == nil {
		t.Fatal("the hanging request got a response")
	}
}

func TestLatency(t *testing.T) {
	srv := NewServer(WithLatency(80*time.Millisecond, 10*time.Millisecond))
	defer srv.Close()
	start := time.Now()
	wantStatus(t, call(t, srv, http.MethodGet, api("/serverinfo"), nil, ""), http.StatusOK)
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Fatalf("request took %v, want at least the 80ms latency", d)
	}

	srv2 := NewServer()
	defer srv2.Close()
	token, siteID := signInPAT(t, srv2, "", DefaultPATName, DefaultPATSecret)
	srv2.SetFaults(Faults{Latency: 80 * time.Millisecond, Operations: []string{OpListWebhooks}})
	start = time.Now()
	wantStatus(t, call(t, srv2, http.MethodGet, webhooksPath(siteID), xmlHeaders(token), ""), http.StatusOK)
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Fatalf("request took %v, want at least the 80ms fault latency", d)
	}
}

func TestFaultsJSON(t *testing.T) {
	var f Faults
	err := f.UnmarshalJSON([]byte(`{"errorRate":0.25,"statuses":[500,429],"retryAfter":"2s","retryAfterInDetail":true,"hang":1.5,
		"loseCreateResponses":2,"operations":["CreateWebhook"],"seed":3}`))
	if err != nil {
		t.Fatal(err)
	}
	if f.ErrorRate != 0.25 || len(f.Statuses) != 2 || f.RetryAfter != 2*time.Second || f.Hang != 1500*time.Millisecond ||
		f.LoseCreateResponses != 2 || f.Operations[0] != OpCreateWebhook || f.Seed != 3 || !f.RetryAfterInDetail {
		t.Fatalf("faults = %+v", f)
	}
	b, err := f.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Faults
	if err := back.UnmarshalJSON(b); err != nil || back.RetryAfter != f.RetryAfter || back.Hang != f.Hang || !back.RetryAfterInDetail {
		t.Fatalf("round trip %s: %+v, %v", b, back, err)
	}
	for _, bad := range []string{`{"errorRate":2}`, `{"statuses":[200]}`, `{"operations":["Nope"]}`, `{"errrorRate":0.1}`, `{"hang":"soon"}`} {
		if err := new(Faults).UnmarshalJSON([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestStats(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", DefaultPATName, DefaultPATSecret)
	h := xmlHeaders(token)
	call(t, srv, http.MethodGet, api("/serverinfo"), nil, "")
	id := createXML(t, srv, token, siteID, "x", "WorkbookCreated", hookURL).ID
	call(t, srv, http.MethodGet, webhooksPath(siteID), h, "")
	call(t, srv, http.MethodGet, webhooksPath(siteID)+"/"+id, h, "")
	call(t, srv, http.MethodPut, webhooksPath(siteID)+"/"+id, h, `<tsRequest><webhook name="y"/></tsRequest>`)
	call(t, srv, http.MethodDelete, webhooksPath(siteID)+"/"+id, h, "")
	call(t, srv, http.MethodDelete, webhooksPath(siteID)+"/"+id, h, "")
	call(t, srv, http.MethodGet, webhooksPath(siteID), nil, "")
	call(t, srv, http.MethodGet, api("/nothing"), nil, "")
	call(t, srv, http.MethodPatch, webhooksPath(siteID), h, "")
	call(t, srv, http.MethodGet, "/_sim/stats", nil, "") // not counted

	want := map[string]map[int]int{
		OpServerInfo: {200: 1}, OpSignIn: {200: 1}, OpCreateWebhook: {201: 1}, OpListWebhooks: {200: 1, 401: 1},
		OpGetWebhook: {200: 1}, OpUpdateWebhook: {200: 1}, OpDeleteWebhook: {204: 1, 404: 1}, OpUnknown: {404: 1, 405: 1},
	}
	st := srv.Stats()
	if len(st.ByOperation) != len(want) {
		t.Fatalf("stats = %v, want %v", st.ByOperation, want)
	}
	for op, m := range want {
		for status, n := range m {
			if st.ByOperation[op][status] != n || srv.CountStatus(op, status) != n {
				t.Fatalf("%s %d = %d, want %d (stats %v)", op, status, st.ByOperation[op][status], n, st.ByOperation)
			}
		}
	}
	if st.Total() != 11 || st.Writes() != 4 || srv.Count(OpDeleteWebhook) != 2 || st.Count(OpListWebhooks) != 2 {
		t.Fatalf("total %d writes %d", st.Total(), st.Writes())
	}
	// Stats is a snapshot.
	st.ByOperation[OpSignIn][200] = 99
	if srv.CountStatus(OpSignIn, 200) != 1 {
		t.Fatal("Stats shares its maps with the server")
	}
	srv.ResetStats()
	if srv.Stats().Total() != 0 {
		t.Fatal("ResetStats kept counts")
	}
}
