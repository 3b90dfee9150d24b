/*
Copyright 2026 The tableau-webhook-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package tableau

// A small Tableau server for the unit tests: it answers with the bodies REFERENCE.md quotes,
// counts requests by operation, and lets a test queue canned responses or replace a
// handler. The full simulator lives in tableautest; these tests must not depend on it.

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testPATName   = "ci-token"
	testPATSecret = "pat-s3cret-value-0123456789"
	testUser      = "admin"
	testPassword  = "pa55word-value-9876543210"
	testSite      = "marketing"
	testSiteID    = "6b7179ba-b82b-4f0f-91ed-812074ac5da6"
	testUserID    = "1a96d216-e9b8-497b-a82a-0b899a965e01"
)

// fakePAT is a personal access token of another Tableau user. PAT names are unique per
// user only, so its name may equal one in fakeTableau.pats; it is still a separate token
// with its own session.
type fakePAT struct{ name, secret string }

type fakeWebhook struct {
	id, name, event, url string
	enabled              bool
	reason               string
}

type recorded struct {
	op, method, path string
	query            map[string][]string
	header           http.Header
	body             string
}

type canned struct {
	status int
	header map[string]string
	body   string
}

type fakeTableau struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	apiVersion string
	product    string
	site       string
	siteID     string
	pats       map[string]string // name -> secret
	otherPATs  []fakePAT         // other users' tokens, whose names may repeat those in pats
	users      map[string]string
	tokens     map[string]string // valid token -> identity
	issued     []string
	seq        int
	webhooks   map[string]*fakeWebhook
	order      []string
	pageSize   int // > 0 paginates List
	counts     map[string]int
	reqs       []recorded
	faults     map[string][]canned
	hooks      map[string]http.HandlerFunc
}

func newFake(t *testing.T) *fakeTableau {
	t.Helper()
	f := &fakeTableau{
		t:          t,
		apiVersion: "3.24",
		product:    "2024.2.0",
		site:       testSite,
		siteID:     testSiteID,
		pats:       map[string]string{testPATName: testPATSecret},
		users:      map[string]string{testUser: testPassword},
		tokens:     map[string]string{},
		webhooks:   map[string]*fakeWebhook{},
		counts:     map[string]int{},
		faults:     map[string][]canned{},
		hooks:      map[string]http.HandlerFunc{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// config returns a client config for the fake with PAT credentials and a pinned-free
// version, so discovery runs as in production.
func (f *fakeTableau) config() Config {
	return Config{
		ServerURL:   f.srv.URL,
		Site:        testSite,
		Credentials: Credentials{PATName: testPATName, PATSecret: testPATSecret},
		QPS:         1000,
		Burst:       1000,
	}
}

func (f *fakeTableau) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[op]
}

func (f *fakeTableau) requests(op string) []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []recorded
	for _, r := range f.reqs {
		if r.op == op {
			out = append(out, r)
		}
	}
	return out
}

// fault queues canned responses served, in order, instead of the next requests for op.
func (f *fakeTableau) fault(op string, cs ...canned) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[op] = append(f.faults[op], cs...)
}

// hook replaces the handler for op.
func (f *fakeTableau) hook(op string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hooks[op] = h
}

// expireTokens ends every session, as an idle timeout would.
func (f *fakeTableau) expireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = map[string]string{}
}

// foreignSignIn signs in elsewhere with the same PAT, which ends this client's session.
func (f *fakeTableau) foreignSignIn(pat string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issueLocked("pat:" + pat)
}

func (f *fakeTableau) issueLocked(identity string) string {
	if strings.HasPrefix(identity, "pat:") {
		for tok, id := range f.tokens {
			if id == identity {
				delete(f.tokens, tok)
			}
		}
	}
	f.seq++
	tok := fmt.Sprintf("tok%04d|%x|%s", f.seq, time.Now().UnixNano(), f.siteID)
	f.tokens[tok] = identity
	f.issued = append(f.issued, tok)
	return tok
}

func (f *fakeTableau) addWebhook(name, event, url string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addWebhookLocked(name, event, url, true)
}

func (f *fakeTableau) addWebhookLocked(name, event, url string, enabled bool) string {
	f.seq++
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", f.seq)
	w := &fakeWebhook{id: id, name: name, event: event, url: url, enabled: enabled}
	if !enabled {
		w.reason = "Webhook disabled by user"
	}
	f.webhooks[id] = w
	f.order = append(f.order, id)
	return id
}

func classify(method string, parts []string) string {
	switch {
	case len(parts) == 1 && strings.EqualFold(parts[0], "serverinfo") && method == http.MethodGet:
		return "ServerInfo"
	case len(parts) == 2 && parts[0] == "auth" && parts[1] == "signin" && method == http.MethodPost:
		return "SignIn"
	case len(parts) == 2 && parts[0] == "auth" && parts[1] == "signout" && method == http.MethodPost:
		return "SignOut"
	case len(parts) >= 3 && parts[0] == "sites" && parts[2] == "webhooks":
		switch {
		case len(parts) == 3 && method == http.MethodGet:
			return "ListWebhooks"
		case len(parts) == 3 && method == http.MethodPost:
			return "CreateWebhook"
		case len(parts) == 4 && method == http.MethodGet:
			return "GetWebhook"
		case len(parts) == 4 && method == http.MethodPut:
			return "UpdateWebhook"
		case len(parts) == 4 && method == http.MethodDelete:
			return "DeleteWebhook"
		case len(parts) == 5 && parts[4] == "test" && method == http.MethodGet:
			return "TestWebhook"
		}
	}
	return "Unknown"
}

const tsOpen = `<?xml version='1.0' encoding='UTF-8'?>
<tsResponse xmlns="http://tableau.com/api" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://tableau.com/api http://tableau.com/api/ts-api_3_24.xsd">`

func writeXML(w http.ResponseWriter, status int, inner string) {
	w.Header().Set("Content-Type", "application/xml;charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, tsOpen+inner+"</tsResponse>")
}

func writeError(w http.ResponseWriter, status int, code, summary, detail string) {
	writeXML(w, status, fmt.Sprintf(`<error code="%s"><summary>%s</summary><detail>%s</detail></error>`, code, esc(summary), esc(detail)))
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (f *fakeTableau) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p := strings.TrimPrefix(r.URL.Path, "/")
	parts := strings.Split(p, "/")
	if len(parts) < 3 || parts[0] != "api" {
		writeError(w, http.StatusNotFound, "404003", "Resource Not Found", "Unknown resource '"+r.URL.Path+"' specified in URI.")
		return
	}
	version, rest := parts[1], parts[2:]
	op := classify(r.Method, rest)

	f.mu.Lock()
	f.counts[op]++
	f.reqs = append(f.reqs, recorded{op: op, method: r.Method, path: r.URL.Path, query: r.URL.Query(), header: r.Header.Clone(), body: string(body)})
	if q := f.faults[op]; len(q) > 0 {
		c := q[0]
		f.faults[op] = q[1:]
		f.mu.Unlock()
		for k, v := range c.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(c.status)
		_, _ = io.WriteString(w, c.body)
		return
	}
	hook := f.hooks[op]
	f.mu.Unlock()
	if hook != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		hook(w, r)
		return
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.knowsVersionLocked(version) {
		writeError(w, http.StatusNotFound, "404003", "Resource Not Found", "Unknown resource '/"+version+"/"+strings.Join(rest, "/")+"' specified in URI.")
		return
	}
	switch op {
	case "ServerInfo":
		writeXML(w, http.StatusOK, fmt.Sprintf(`<serverInfo><productVersion build="20242.24.0711.1636">%s</productVersion><restApiVersion>%s</restApiVersion></serverInfo>`, f.product, f.apiVersion))
	case "SignIn":
		f.signInLocked(w, r, body)
	case "SignOut":
		tok := r.Header.Get("X-Tableau-Auth")
		if _, ok := f.tokens[tok]; !ok {
			writeError(w, http.StatusUnauthorized, "401002", "Unauthorized Access", "Invalid credentials were provided.")
			return
		}
		delete(f.tokens, tok)
		w.WriteHeader(http.StatusNoContent)
	case "Unknown":
		writeError(w, http.StatusNotFound, "404003", "Resource Not Found", "Unknown resource specified in URI.")
	default:
		f.webhookLocked(w, r, op, rest, body)
	}
}

func (f *fakeTableau) knowsVersionLocked(v string) bool {
	got, err := parseAPIVersion(v)
	if err != nil {
		return false
	}
	top, _ := parseAPIVersion(f.apiVersion)
	low, _ := parseAPIVersion("2.4")
	return compareAPIVersions(got, top) <= 0 && compareAPIVersions(got, low) >= 0
}

func (f *fakeTableau) signInLocked(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		Credentials struct {
			PATName   string `xml:"personalAccessTokenName,attr"`
			PATSecret string `xml:"personalAccessTokenSecret,attr"`
			Name      string `xml:"name,attr"`
			Password  string `xml:"password,attr"`
			Site      struct {
				ContentURL *string `xml:"contentUrl,attr"`
			} `xml:"site"`
		} `xml:"credentials"`
	}
	if r.Header.Get("Content-Type") != "application/xml" || xml.Unmarshal(body, &req) != nil || req.Credentials.Site.ContentURL == nil {
		writeError(w, http.StatusBadRequest, "400000", "Bad Request", "malformed sign-in request")
		return
	}
	c := req.Credentials
	var identity string
	switch {
	case c.PATName != "" && f.pats[c.PATName] == c.PATSecret && c.Name == "":
		identity = "pat:" + c.PATName
	case c.PATName != "" && c.Name == "":
		for i, p := range f.otherPATs {
			if p.name == c.PATName && p.secret == c.PATSecret {
				// "pat:" so that, like every PAT, it holds one session at a time.
				identity = fmt.Sprintf("pat:%s@other-user-%d", p.name, i)
			}
		}
	case c.Name != "" && f.users[c.Name] == c.Password && c.PATName == "":
		identity = "user:" + c.Name
	}
	if identity == "" || *c.Site.ContentURL != f.site {
		writeError(w, http.StatusUnauthorized, "401001", "Signin Error", "Error signing in to Tableau Server")
		return
	}
	tok := f.issueLocked(identity)
	writeXML(w, http.StatusOK, fmt.Sprintf(`<credentials token="%s" estimatedTimeToExpiration="173:21:12"><site id="%s" contentUrl="%s"/><user id="%s"/></credentials>`, esc(tok), f.siteID, esc(f.site), testUserID))
}

type fakeWebhookRequest struct {
	Webhook struct {
		Name               string  `xml:"name,attr"`
		IsEnabled          *string `xml:"isEnabled,attr"`
		StatusChangeReason *string `xml:"statusChangeReason,attr"`
		Event              string  `xml:"event,attr"`
		Destination        struct {
			HTTP struct {
				Method string `xml:"method,attr"`
				URL    string `xml:"url,attr"`
			} `xml:"webhook-destination-http"`
		} `xml:"webhook-destination"`
	} `xml:"webhook"`
}

func (f *fakeTableau) webhookLocked(w http.ResponseWriter, r *http.Request, op string, parts []string, body []byte) {
	tok := r.Header.Get("X-Tableau-Auth")
	if tok == "" {
		writeError(w, http.StatusUnauthorized, "401000", "Unauthorized Access", "No authentication credentials were provided")
		return
	}
	if _, ok := f.tokens[tok]; !ok {
		writeError(w, http.StatusUnauthorized, "401002", "Unauthorized Access", "Invalid credentials were provided.")
		return
	}
	if parts[1] != f.siteID {
		writeError(w, http.StatusNotFound, "404000", "Site Not Found", "The site ID in the URI doesn't correspond to an existing site.")
		return
	}
	var hook *fakeWebhook
	if len(parts) >= 4 {
		hook = f.webhooks[parts[3]]
		if hook == nil {
			if op == "TestWebhook" {
				writeError(w, http.StatusBadRequest, "400113", "Bad Request", "The webhook does not exist.")
				return
			}
			writeError(w, http.StatusNotFound, "404040", "Resource Not Found", "Webhook '"+parts[3]+"' could not be found.")
			return
		}
	}
	switch op {
	case "ListWebhooks":
		f.listLocked(w, r)
	case "GetWebhook":
		writeXML(w, http.StatusOK, renderWebhook(hook))
	case "DeleteWebhook":
		delete(f.webhooks, hook.id)
		w.WriteHeader(http.StatusNoContent)
	case "TestWebhook":
		writeXML(w, http.StatusOK, fmt.Sprintf(`<webhookTestResult id="%s" status="200"><body>ok</body></webhookTestResult>`, hook.id))
	case "CreateWebhook", "UpdateWebhook":
		var req fakeWebhookRequest
		if r.Header.Get("Content-Type") != "application/xml" || xml.Unmarshal(body, &req) != nil {
			writeError(w, http.StatusBadRequest, "400000", "Bad Request", "malformed request")
			return
		}
		x := req.Webhook
		enabled := x.IsEnabled == nil || *x.IsEnabled == "true"
		if _, ok := LookupEvent(x.Event); !ok || x.Name == "" || !strings.HasPrefix(x.Destination.HTTP.URL, "https://") || x.Destination.HTTP.Method != "POST" {
			writeError(w, http.StatusBadRequest, "400000", "Bad Request", "invalid webhook")
			return
		}
		if op == "UpdateWebhook" && enabled && x.StatusChangeReason != nil {
			writeError(w, http.StatusBadRequest, "400127", "Bad Request", "statusChangeReason given with isEnabled=true")
			return
		}
		if op == "CreateWebhook" {
			id := f.addWebhookLocked(x.Name, x.Event, x.Destination.HTTP.URL, enabled)
			w.Header().Set("Location", "/api/"+f.apiVersion+"/sites/"+f.siteID+"/webhooks/"+id)
			writeXML(w, http.StatusCreated, renderWebhook(f.webhooks[id]))
			return
		}
		hook.name, hook.event, hook.url, hook.enabled, hook.reason = x.Name, x.Event, x.Destination.HTTP.URL, enabled, ""
		if !enabled {
			hook.reason = "Webhook disabled by user"
		}
		writeXML(w, http.StatusOK, renderWebhook(hook))
	}
}

func (f *fakeTableau) listLocked(w http.ResponseWriter, r *http.Request) {
	var all []*fakeWebhook
	for _, id := range f.order {
		if h := f.webhooks[id]; h != nil {
			all = append(all, h)
		}
	}
	var b strings.Builder
	page := all
	if f.pageSize > 0 {
		size, number := f.pageSize, 1
		if v, err := strconv.Atoi(r.URL.Query().Get("pageSize")); err == nil {
			size = v
		}
		if v, err := strconv.Atoi(r.URL.Query().Get("pageNumber")); err == nil {
			number = v
		}
		lo, hi := min((number-1)*size, len(all)), min(number*size, len(all))
		page = all[lo:hi]
		fmt.Fprintf(&b, `<pagination pageNumber="%d" pageSize="%d" totalAvailable="%d"/>`, number, size, len(all))
	}
	b.WriteString("<webhooks>")
	for _, h := range page {
		b.WriteString(renderWebhook(h))
	}
	b.WriteString("</webhooks>")
	writeXML(w, http.StatusOK, b.String())
}

// renderWebhook answers in the documented shape: both event forms, owner, no timestamps.
func renderWebhook(h *fakeWebhook) string {
	legacy := "webhook-source-api-event-name"
	if e, ok := LookupEvent(h.event); ok {
		legacy = e.Legacy
	}
	return fmt.Sprintf(`<webhook id="%s" name="%s" isEnabled="%t" statusChangeReason="%s" event="%s"><webhook-source><%s /></webhook-source><webhook-destination><webhook-destination-http method="POST" url="%s"/></webhook-destination><owner id="%s" name="admin@example.com"/></webhook>`,
		h.id, esc(h.name), h.enabled, esc(h.reason), esc(h.event), legacy, esc(h.url), testUserID)
}

// recordingObserver collects Observer calls.
type recordingObserver struct {
	mu       sync.Mutex
	requests []observedRequest
	signIns  []string
}

type observedRequest struct {
	op     string
	status int
}

func (o *recordingObserver) ObserveRequest(op string, status int, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests = append(o.requests, observedRequest{op, status})
}

func (o *recordingObserver) ObserveSignIn(result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.signIns = append(o.signIns, result)
}

func (o *recordingObserver) snapshot() ([]observedRequest, []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]observedRequest(nil), o.requests...), append([]string(nil), o.signIns...)
}

func mustClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}
