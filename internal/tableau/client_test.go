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

import (
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

func TestNewClientValidatesConfig(t *testing.T) {
	pat := Credentials{PATName: "n", PATSecret: "s"}
	tests := []struct {
		name        string
		cfg         Config
		wantErr     bool
		unsupported bool
	}{
		{name: "https PAT", cfg: Config{ServerURL: "https://tableau.example.com", Credentials: pat}},
		{name: "http password with port and prefix", cfg: Config{ServerURL: "http://tableau:8080/prefix/", Credentials: Credentials{Username: "u", Password: "p"}}},
		{name: "pinned 3.10 is newer than 3.9", cfg: Config{ServerURL: "https://t", Credentials: pat, APIVersion: "3.10"}},
		{name: "pinned 3.9", cfg: Config{ServerURL: "https://t", Credentials: pat, APIVersion: "3.9"}},
		{name: "pinned 3.8", cfg: Config{ServerURL: "https://t", Credentials: pat, APIVersion: "3.8"}, wantErr: true, unsupported: true},
		{name: "pinned 2.4", cfg: Config{ServerURL: "https://t", Credentials: pat, APIVersion: "2.4"}, wantErr: true, unsupported: true},
		{name: "pinned garbage", cfg: Config{ServerURL: "https://t", Credentials: pat, APIVersion: "latest"}, wantErr: true},
		{name: "empty URL", cfg: Config{Credentials: pat}, wantErr: true},
		{name: "ftp scheme", cfg: Config{ServerURL: "ftp://t", Credentials: pat}, wantErr: true},
		{name: "no scheme", cfg: Config{ServerURL: "tableau.example.com", Credentials: pat}, wantErr: true},
		{name: "credentials in URL", cfg: Config{ServerURL: "https://u:p@t", Credentials: pat}, wantErr: true},
		{name: "trailing /api", cfg: Config{ServerURL: "https://t/api/", Credentials: pat}, wantErr: true},
		{name: "query", cfg: Config{ServerURL: "https://t/?x=1", Credentials: pat}, wantErr: true},
		{name: "no credentials", cfg: Config{ServerURL: "https://t"}, wantErr: true},
		{name: "both kinds", cfg: Config{ServerURL: "https://t", Credentials: Credentials{PATName: "n", PATSecret: "s", Username: "u", Password: "p"}}, wantErr: true},
		{name: "PAT without secret", cfg: Config{ServerURL: "https://t", Credentials: Credentials{PATName: "n"}}, wantErr: true},
		{name: "password without user", cfg: Config{ServerURL: "https://t", Credentials: Credentials{Password: "p"}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewClient err = %v, want error %v", err, tt.wantErr)
			}
			if IsUnsupportedVersion(err) != tt.unsupported {
				t.Errorf("IsUnsupportedVersion(%v) = %v, want %v", err, !tt.unsupported, tt.unsupported)
			}
			if err == nil && c.APIVersion() != tt.cfg.APIVersion {
				t.Errorf("APIVersion() = %q before any call, want %q", c.APIVersion(), tt.cfg.APIVersion)
			}
		})
	}
}

func TestNormalizeServerURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://tableau.example.com", "https://tableau.example.com"},
		{"https://Tableau.example.com:443/", "https://tableau.example.com"},
		{"HTTPS://TABLEAU.EXAMPLE.COM", "https://tableau.example.com"},
		{"http://tableau.example.com:80/", "http://tableau.example.com"},
		{"https://tableau.example.com:", "https://tableau.example.com"},
		{"https://tableau.example.com:0443", "https://tableau.example.com"},
		// Not the scheme's default: kept.
		{"https://tableau.example.com:80", "https://tableau.example.com:80"},
		{"http://tableau.example.com:443", "http://tableau.example.com:443"},
		{"https://tableau.example.com:8443/", "https://tableau.example.com:8443"},
		{"https://[::1]:443/", "https://[::1]"},
		{"https://[::1]:8443", "https://[::1]:8443"},
		// The path is case-sensitive and kept, without the trailing slash.
		{"  https://tableau.example.com/Prefix/  ", "https://tableau.example.com/Prefix"},
	} {
		got, err := NormalizeServerURL(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("NormalizeServerURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "tableau.example.com", "ftp://t", "https://u:p@t", "https://t/api", "https://t/?q=1", "https://t/#f", "https://"} {
		if got, err := NormalizeServerURL(bad); err == nil {
			t.Errorf("NormalizeServerURL(%q) = %q, want an error", bad, got)
		}
	}
}

func TestCredentialsIdentity(t *testing.T) {
	if got := (Credentials{PATName: "ci", PATSecret: "x"}).Identity(); got != "pat:ci" {
		t.Errorf("PAT identity = %q", got)
	}
	if got := (Credentials{Username: "bob", Password: "x"}).Identity(); got != "user:bob" {
		t.Errorf("user identity = %q", got)
	}
}

// TestWebhookLifecycle drives every operation against the fake and checks what went over
// the wire: XML both ways, the event attribute form, isEnabled always, no reason.
func TestWebhookLifecycle(t *testing.T) {
	f := newFake(t)
	obs := &recordingObserver{}
	cfg := f.config()
	cfg.Observer = obs
	c := mustClient(t, cfg)
	ctx := context.Background()

	created, err := c.CreateWebhook(ctx, WebhookSpec{Name: "refresh-failed", Event: "DatasourceRefreshFailed", URL: "https://hooks.example.com/a", Enabled: true})
	if err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	if created.ID == "" || created.Name != "refresh-failed" || created.Event != "DatasourceRefreshFailed" || created.URL != "https://hooks.example.com/a" || !created.Enabled {
		t.Errorf("created = %+v", created)
	}
	if created.LegacyEvent != "webhook-source-event-datasource-refresh-failed" || created.OwnerID != testUserID {
		t.Errorf("created legacy/owner = %q/%q", created.LegacyEvent, created.OwnerID)
	}
	if c.APIVersion() != "3.24" {
		t.Errorf("APIVersion() = %q after discovery, want 3.24", c.APIVersion())
	}

	create := f.requests("CreateWebhook")[0]
	if create.path != "/api/3.24/sites/"+testSiteID+"/webhooks" {
		t.Errorf("create path = %s: webhook paths use the site LUID and the discovered version", create.path)
	}
	if create.header.Get("Content-Type") != "application/xml" || create.header.Get("Accept") != "application/xml" {
		t.Errorf("create headers: Content-Type %q Accept %q", create.header.Get("Content-Type"), create.header.Get("Accept"))
	}
	if create.header.Get("X-Tableau-Auth") == "" {
		t.Error("create sent no X-Tableau-Auth")
	}
	assertWebhookRequest(t, create.body, "refresh-failed", "DatasourceRefreshFailed", "https://hooks.example.com/a", "true")

	got, err := c.GetWebhook(ctx, created.ID)
	if err != nil || got != created {
		t.Errorf("GetWebhook = %+v, %v; want %+v", got, err, created)
	}

	list, err := c.ListWebhooks(ctx)
	if err != nil || len(list) != 1 || list[0] != created {
		t.Errorf("ListWebhooks = %+v, %v", list, err)
	}

	disabled, err := c.UpdateWebhook(ctx, created.ID, WebhookSpec{Name: "renamed", Event: "WorkbookCreated", URL: "https://hooks.example.com/b", Enabled: false})
	if err != nil {
		t.Fatalf("UpdateWebhook(disable): %v", err)
	}
	if disabled.Enabled || disabled.StatusChangeReason != "Webhook disabled by user" || disabled.Name != "renamed" || disabled.Event != "WorkbookCreated" {
		t.Errorf("disabled = %+v", disabled)
	}
	upd := f.requests("UpdateWebhook")
	if upd[0].method != http.MethodPut || upd[0].path != "/api/3.24/sites/"+testSiteID+"/webhooks/"+created.ID {
		t.Errorf("update went to %s %s", upd[0].method, upd[0].path)
	}
	assertWebhookRequest(t, upd[0].body, "renamed", "WorkbookCreated", "https://hooks.example.com/b", "false")

	// Re-enabling must not send a reason: Tableau rejects that with 400127, which the fake
	// enforces too.
	enabled, err := c.UpdateWebhook(ctx, created.ID, WebhookSpec{Name: "renamed", Event: "WorkbookCreated", URL: "https://hooks.example.com/b", Enabled: true})
	if err != nil || !enabled.Enabled || enabled.StatusChangeReason != "" {
		t.Fatalf("UpdateWebhook(enable) = %+v, %v", enabled, err)
	}
	assertWebhookRequest(t, f.requests("UpdateWebhook")[1].body, "renamed", "WorkbookCreated", "https://hooks.example.com/b", "true")

	res, err := c.TestWebhook(ctx, created.ID)
	if err != nil || res != (TestResult{WebhookID: created.ID, Status: 200, Body: "ok"}) {
		t.Errorf("TestWebhook = %+v, %v", res, err)
	}
	if r := f.requests("TestWebhook")[0]; r.method != http.MethodGet || !strings.HasSuffix(r.path, "/webhooks/"+created.ID+"/test") {
		t.Errorf("test went to %s %s; Tableau documents a GET", r.method, r.path)
	}

	if err := c.DeleteWebhook(ctx, created.ID); err != nil {
		t.Fatalf("DeleteWebhook: %v", err)
	}
	if _, err := c.GetWebhook(ctx, created.ID); !IsNotFound(err) {
		t.Errorf("GetWebhook after delete: %v, want IsNotFound", err)
	}
	if err := c.DeleteWebhook(ctx, created.ID); !IsNotFound(err) {
		t.Errorf("second DeleteWebhook: %v, want IsNotFound", err)
	}
	if _, err := c.TestWebhook(ctx, created.ID); !IsNotFound(err) || IsRejected(err) {
		t.Errorf("TestWebhook of a deleted webhook: %v, want IsNotFound (400113) and not IsRejected", err)
	}

	if err := c.SignOut(ctx); err != nil {
		t.Fatalf("SignOut: %v", err)
	}
	if f.count("SignIn") != 1 || f.count("SignOut") != 1 || f.count("ServerInfo") != 1 {
		t.Errorf("sign-ins %d, sign-outs %d, serverinfo %d; want 1 each", f.count("SignIn"), f.count("SignOut"), f.count("ServerInfo"))
	}

	reqs, signIns := obs.snapshot()
	wantOps := []observedRequest{
		{"ServerInfo", 200}, {"SignIn", 200}, {"CreateWebhook", 201}, {"GetWebhook", 200}, {"ListWebhooks", 200},
		{"UpdateWebhook", 200}, {"UpdateWebhook", 200}, {"TestWebhook", 200}, {"DeleteWebhook", 204},
		{"GetWebhook", 404}, {"DeleteWebhook", 404}, {"TestWebhook", 400}, {"SignOut", 204},
	}
	if len(reqs) != len(wantOps) {
		t.Fatalf("observed %v, want %v", reqs, wantOps)
	}
	for i := range wantOps {
		if reqs[i] != wantOps[i] {
			t.Errorf("observation %d = %v, want %v", i, reqs[i], wantOps[i])
		}
	}
	if len(signIns) != 1 || signIns[0] != "success" {
		t.Errorf("sign-in observations = %v", signIns)
	}
}

func assertWebhookRequest(t *testing.T, body, name, event, url, enabled string) {
	t.Helper()
	var req struct {
		XMLName xml.Name
		Webhook struct {
			Attrs  []xml.Attr `xml:",any,attr"`
			Source *struct{}  `xml:"webhook-source"`
			Dest   struct {
				HTTP struct {
					Method string `xml:"method,attr"`
					URL    string `xml:"url,attr"`
				} `xml:"webhook-destination-http"`
			} `xml:"webhook-destination"`
		} `xml:"webhook"`
	}
	if err := xml.Unmarshal([]byte(body), &req); err != nil {
		t.Fatalf("request body %q: %v", body, err)
	}
	if req.XMLName.Local != "tsRequest" {
		t.Errorf("request root = %q, want tsRequest", req.XMLName.Local)
	}
	attrs := map[string]string{}
	for _, a := range req.Webhook.Attrs {
		attrs[a.Name.Local] = a.Value
	}
	want := map[string]string{"name": name, "event": event, "isEnabled": enabled}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("request attribute %s = %q, want %q (body %s)", k, attrs[k], v, body)
		}
	}
	if _, ok := attrs["statusChangeReason"]; ok {
		t.Errorf("request sent statusChangeReason: %s", body)
	}
	if req.Webhook.Source != nil {
		t.Errorf("request used the deprecated webhook-source form: %s", body)
	}
	if req.Webhook.Dest.HTTP.Method != "POST" || req.Webhook.Dest.HTTP.URL != url {
		t.Errorf("destination = %+v, want POST %s", req.Webhook.Dest.HTTP, url)
	}
}

func TestEmptyWebhookIDNeverReachesTableau(t *testing.T) {
	f := newFake(t)
	c := mustClient(t, f.config())
	ctx := context.Background()
	if _, err := c.GetWebhook(ctx, ""); err == nil {
		t.Error("GetWebhook(\"\") succeeded")
	}
	if _, err := c.UpdateWebhook(ctx, "", WebhookSpec{}); err == nil {
		t.Error("UpdateWebhook(\"\") succeeded")
	}
	if _, err := c.TestWebhook(ctx, ""); err == nil {
		t.Error("TestWebhook(\"\") succeeded")
	}
	if err := c.DeleteWebhook(ctx, ""); err == nil || IsNotFound(err) {
		t.Errorf("DeleteWebhook(\"\") = %v, want an error that is not NotFound", err)
	}
	if n := f.count("DeleteWebhook") + f.count("UpdateWebhook") + f.count("ListWebhooks"); n != 0 {
		t.Errorf("%d requests reached Tableau", n)
	}
}

func TestCreateWithoutBodyUsesLocation(t *testing.T) {
	f := newFake(t)
	f.fault("CreateWebhook", canned{status: 201, header: map[string]string{"Location": "/api/3.24/sites/" + testSiteID + "/webhooks/new-id"}})
	c := mustClient(t, f.config())
	w, err := c.CreateWebhook(context.Background(), WebhookSpec{Name: "n", Event: "WorkbookCreated", URL: "https://x", Enabled: true})
	if err != nil || w.ID != "new-id" || w.Name != "n" {
		t.Errorf("CreateWebhook = %+v, %v; want the id from Location", w, err)
	}

	f.fault("CreateWebhook", canned{status: 201, body: "garbage"})
	if _, err := c.CreateWebhook(context.Background(), WebhookSpec{Name: "n", Event: "WorkbookCreated", URL: "https://x", Enabled: true}); err == nil || IsTransient(err) {
		t.Errorf("CreateWebhook with neither body nor Location = %v, want a non-transient error", err)
	}
}

func TestUpdateAccepts201(t *testing.T) {
	f := newFake(t)
	id := f.addWebhook("a", "WorkbookCreated", "https://x")
	f.fault("UpdateWebhook", canned{status: 201, body: tsOpen + `<webhook id="` + id + `" name="b" isEnabled="true" event="WorkbookDeleted"/></tsResponse>`})
	c := mustClient(t, f.config())
	w, err := c.UpdateWebhook(context.Background(), id, WebhookSpec{Name: "b", Event: "WorkbookDeleted", URL: "https://x", Enabled: true})
	if err != nil || w.Name != "b" || w.Event != "WorkbookDeleted" {
		t.Errorf("UpdateWebhook with the documented 201 = %+v, %v", w, err)
	}
}

func TestErrorResponses(t *testing.T) {
	retryDate := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	html := canned{status: 429, header: map[string]string{"Content-Type": "text/html", "Retry-After": "30"}, body: "<html><body><h1>429 Too Many Requests</h1><br></body></html>"}
	tests := []struct {
		name   string
		op     string
		resp   canned
		check  func(t *testing.T, err error)
		status int
		code   string
	}{
		{
			name: "403 forbidden", op: "ListWebhooks",
			resp:   canned{status: 403, body: tsOpen + `<error code="403004"><summary>Forbidden</summary><detail>Not a site administrator</detail></error></tsResponse>`},
			status: 403, code: "403004",
			check: func(t *testing.T, err error) {
				if !IsForbidden(err) || IsRejected(err) || IsTransient(err) || IsUnauthorized(err) {
					t.Errorf("predicates wrong for %v", err)
				}
			},
		},
		{
			name: "404 not found", op: "ListWebhooks",
			resp:   canned{status: 404, body: tsOpen + `<error code="404000"><summary>Site Not Found</summary><detail>x</detail></error></tsResponse>`},
			status: 404, code: "404000",
			check: func(t *testing.T, err error) {
				if !IsNotFound(err) || IsRejected(err) || IsTransient(err) {
					t.Errorf("predicates wrong for %v", err)
				}
			},
		},
		{
			name: "400 rejected", op: "ListWebhooks",
			resp:   canned{status: 400, body: tsOpen + `<error code="400127"><summary>Bad Request</summary><detail>reason with enabled</detail></error></tsResponse>`},
			status: 400, code: "400127",
			check: func(t *testing.T, err error) {
				if !IsRejected(err) || IsNotFound(err) || IsTransient(err) {
					t.Errorf("predicates wrong for %v", err)
				}
				if e, _ := asError(err); e.Summary != "Bad Request" || e.Detail != "reason with enabled" {
					t.Errorf("summary/detail = %q/%q", e.Summary, e.Detail)
				}
			},
		},
		{
			name: "409 rejected", op: "ListWebhooks", resp: canned{status: 409, body: `<error code="409000"><summary>Conflict</summary></error>`},
			status: 409, code: "409000",
			check: func(t *testing.T, err error) {
				if !IsRejected(err) {
					t.Errorf("409 not rejected: %v", err)
				}
			},
		},
		{
			name: "429 HTML with Retry-After seconds", op: "ListWebhooks", resp: html, status: 429,
			check: func(t *testing.T, err error) {
				d, ok := IsRateLimited(err)
				if !ok || d != 30*time.Second || !IsTransient(err) || IsRejected(err) {
					t.Errorf("IsRateLimited = %v, %v; transient %v; err %v", d, ok, IsTransient(err), err)
				}
				if e, _ := asError(err); e.Summary != "Too Many Requests" || strings.Contains(err.Error(), "<html>") {
					t.Errorf("HTML body leaked into the error: %v", err)
				}
			},
		},
		{
			name: "429 with Retry-After HTTP date", op: "ListWebhooks",
			resp: canned{status: 429, header: map[string]string{"Retry-After": retryDate}, body: "slow down"}, status: 429,
			check: func(t *testing.T, err error) {
				d, ok := IsRateLimited(err)
				if !ok || d <= 60*time.Second || d > 2*time.Minute {
					t.Errorf("IsRateLimited = %v, %v; want about 2m", d, ok)
				}
			},
		},
		{
			name: "429 without Retry-After", op: "ListWebhooks", resp: canned{status: 429}, status: 429,
			check: func(t *testing.T, err error) {
				if d, ok := IsRateLimited(err); !ok || d != 0 {
					t.Errorf("IsRateLimited = %v, %v", d, ok)
				}
			},
		},
		{
			name: "500 XML", op: "ListWebhooks",
			resp:   canned{status: 500, body: tsOpen + `<error code="500000"><summary>Internal Server Error</summary><detail>x</detail></error></tsResponse>`},
			status: 500, code: "500000",
			check: func(t *testing.T, err error) {
				if !IsTransient(err) || IsRejected(err) {
					t.Errorf("predicates wrong for %v", err)
				}
			},
		},
		{
			name: "503 empty body", op: "ListWebhooks", resp: canned{status: 503, header: map[string]string{"Retry-After": "5"}}, status: 503,
			check: func(t *testing.T, err error) {
				e, _ := asError(err)
				if !IsTransient(err) || e.RetryAfter != 5*time.Second {
					t.Errorf("err = %v", err)
				}
				if _, ok := IsRateLimited(err); ok {
					t.Error("503 reported as rate limited")
				}
			},
		},
		{
			name: "408", op: "ListWebhooks", resp: canned{status: 408}, status: 408,
			check: func(t *testing.T, err error) {
				if !IsTransient(err) || IsRejected(err) {
					t.Errorf("predicates wrong for %v", err)
				}
			},
		},
		{
			name: "JSON error body", op: "ListWebhooks",
			resp:   canned{status: 404, body: `{"error":{"summary":"Resource Not Found","detail":"Unknown resource","code":"404003"}}`},
			status: 404, code: "404003",
			check: func(t *testing.T, err error) {
				if !IsNotFound(err) {
					t.Errorf("err = %v", err)
				}
			},
		},
		{
			name: "unreadable 200", op: "ListWebhooks", resp: canned{status: 200, body: "<html>proxy</html>"}, status: 200,
			check: func(t *testing.T, err error) {
				if IsTransient(err) || IsNotFound(err) || err == nil {
					t.Errorf("err = %v: a 200 without <webhooks> must fail, not look like an empty site", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			c := mustClient(t, f.config())
			if _, err := c.SignIn(context.Background()); err != nil {
				t.Fatal(err)
			}
			f.fault(tt.op, tt.resp)
			_, err := c.ListWebhooks(context.Background())
			e, ok := asError(err)
			if !ok {
				t.Fatalf("err = %#v, want *Error", err)
			}
			if e.Operation != tt.op || e.StatusCode != tt.status || e.Code != tt.code {
				t.Errorf("Error = {%s %d %q}, want {%s %d %q}", e.Operation, e.StatusCode, e.Code, tt.op, tt.status, tt.code)
			}
			tt.check(t, err)
			if n := f.count(tt.op); n != 1 {
				t.Errorf("%d %s requests: the client must not retry by itself", n, tt.op)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	f := newFake(t)
	release := make(chan struct{})
	defer close(release)
	f.hook("ListWebhooks", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	obs := &recordingObserver{}
	cfg := f.config()
	cfg.Timeout = 300 * time.Millisecond // generous: discovery and sign-in share it on a busy machine
	cfg.Observer = obs
	c := mustClient(t, cfg)

	_, err := c.ListWebhooks(context.Background())
	e, ok := asError(err)
	if !ok || e.StatusCode != 0 || !errors.Is(err, context.DeadlineExceeded) || !IsTransient(err) {
		t.Fatalf("err = %v, want a transient *Error with StatusCode 0 wrapping DeadlineExceeded", err)
	}
	reqs, _ := obs.snapshot()
	if last := reqs[len(reqs)-1]; last != (observedRequest{"ListWebhooks", 0}) {
		t.Errorf("last observation = %v, want ListWebhooks with status 0", last)
	}
}

func TestCallerCancellationIsNotTransient(t *testing.T) {
	f := newFake(t)
	c := mustClient(t, f.config())
	ctx, cancel := context.WithCancel(context.Background())
	f.hook("ListWebhooks", func(w http.ResponseWriter, r *http.Request) {
		cancel()
		<-r.Context().Done()
	})
	_, err := c.ListWebhooks(ctx)
	if !errors.Is(err, context.Canceled) || IsTransient(err) {
		t.Errorf("err = %v; a cancelled call is not worth retrying", err)
	}
}

func TestRateLimit(t *testing.T) {
	f := newFake(t)
	cfg := f.config()
	cfg.APIVersion = "3.24" // no discovery call
	cfg.QPS = 0.01          // one token per 100s: the third call cannot get one in time
	cfg.Burst = 2
	c := mustClient(t, cfg)
	ctx := context.Background()
	for i := range 2 {
		if _, err := c.ServerInfo(ctx); err != nil {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := c.ServerInfo(short)
	if err == nil {
		t.Fatal("third call passed a burst of 2 at 0.01 QPS")
	}
	if e, ok := asError(err); !ok || e.StatusCode != 0 || !IsTransient(err) {
		t.Errorf("err = %v, want a transient *Error without status", err)
	}
	if n := f.count("ServerInfo"); n != 2 {
		t.Errorf("%d requests reached the server, want 2", n)
	}
}

func TestRateLimitDefaults(t *testing.T) {
	c := mustClient(t, Config{ServerURL: "https://t", Credentials: Credentials{PATName: "n", PATSecret: "s"}})
	if c.limiter.Limit() != DefaultQPS || c.limiter.Burst() != DefaultBurst || c.cfg.Timeout != DefaultTimeout {
		t.Errorf("defaults: qps %v burst %d timeout %v", c.limiter.Limit(), c.limiter.Burst(), c.cfg.Timeout)
	}
}

func TestVersionDiscovery(t *testing.T) {
	t.Run("probes at 3.9 and adopts the server's version", func(t *testing.T) {
		f := newFake(t)
		f.apiVersion = "3.10" // numerically newer than 3.9
		c := mustClient(t, f.config())
		info, err := c.ServerInfo(context.Background())
		if err != nil || info.RESTAPIVersion != "3.10" || info.ProductVersion != "2024.2.0" || info.Build != "20242.24.0711.1636" {
			t.Fatalf("ServerInfo = %+v, %v", info, err)
		}
		if got := f.requests("ServerInfo")[0].path; got != "/api/3.9/serverinfo" {
			t.Errorf("probe path = %s", got)
		}
		if c.APIVersion() != "3.10" {
			t.Errorf("APIVersion() = %q", c.APIVersion())
		}
		s, err := c.SignIn(context.Background())
		if err != nil || s.APIVersion != "3.10" || s.SiteID != testSiteID || s.UserID != testUserID || s.SiteContentURL != testSite {
			t.Errorf("SignIn = %+v, %v", s, err)
		}
		if f.count("ServerInfo") != 1 {
			t.Errorf("serverinfo asked %d times", f.count("ServerInfo"))
		}
		if got := f.requests("SignIn")[0].path; got != "/api/3.10/auth/signin" {
			t.Errorf("sign-in path = %s", got)
		}
	})
	t.Run("refuses a server older than 3.9", func(t *testing.T) {
		f := newFake(t)
		f.apiVersion = "3.8"
		f.product = "2020.2.0"
		c := mustClient(t, f.config())
		_, err := c.SignIn(context.Background())
		if !IsUnsupportedVersion(err) || IsTransient(err) {
			t.Fatalf("SignIn err = %v, want ErrUnsupportedVersion", err)
		}
		if !strings.Contains(err.Error(), "3.8") {
			t.Errorf("error %q does not say which version the server runs", err)
		}
		if f.count("SignIn") != 0 {
			t.Error("signed in to an unsupported server")
		}
		info, err := c.ServerInfo(context.Background())
		if !IsUnsupportedVersion(err) || info.ProductVersion != "2020.2.0" {
			t.Errorf("ServerInfo = %+v, %v; want the info together with ErrUnsupportedVersion", info, err)
		}
		if c.APIVersion() != "" {
			t.Errorf("APIVersion() = %q, want none adopted", c.APIVersion())
		}
	})
	t.Run("a 404 from something that is not Tableau stays a 404", func(t *testing.T) {
		f := newFake(t)
		f.hook("ServerInfo", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
		c := mustClient(t, f.config())
		_, err := c.SignIn(context.Background())
		if !IsNotFound(err) || IsUnsupportedVersion(err) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("pinned version skips discovery", func(t *testing.T) {
		f := newFake(t)
		cfg := f.config()
		cfg.APIVersion = "3.20"
		c := mustClient(t, cfg)
		if _, err := c.ListWebhooks(context.Background()); err != nil {
			t.Fatal(err)
		}
		if f.count("ServerInfo") != 0 || f.requests("ListWebhooks")[0].path != "/api/3.20/sites/"+testSiteID+"/webhooks" {
			t.Errorf("serverinfo %d, list path %s", f.count("ServerInfo"), f.requests("ListWebhooks")[0].path)
		}
	})
}

func TestCompareAPIVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"3.10", "3.9", 1}, {"3.9", "3.10", -1}, {"3.9", "3.9", 0}, {"3.9.0", "3.9", 0},
		{"4.0", "3.27", 1}, {"2.4", "3.9", -1}, {" 3.24 ", "3.24", 0},
	}
	for _, tt := range tests {
		a, err := parseAPIVersion(tt.a)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := parseAPIVersion(tt.b)
		if got := compareAPIVersions(a, b); got != tt.want {
			t.Errorf("compare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	for _, bad := range []string{"", "3", "3.", ".9", "3.x", "v3.9", "3.9.1.2.3", "-3.9"} {
		if _, err := parseAPIVersion(bad); err == nil {
			t.Errorf("parseAPIVersion(%q) accepted", bad)
		}
	}
}

func TestSignInRedirect(t *testing.T) {
	pod := newFake(t)
	front := newFake(t)
	front.hook("SignIn", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, pod.srv.URL+"/api/3.24/auth/signin", http.StatusMovedPermanently)
	})
	cfg := front.config()
	cfg.APIVersion = "3.24"
	c := mustClient(t, cfg)
	if _, err := c.ListWebhooks(context.Background()); err != nil {
		t.Fatalf("ListWebhooks: %v", err)
	}
	if front.count("SignIn") != 1 || pod.count("SignIn") != 1 || pod.count("ListWebhooks") != 1 || front.count("ListWebhooks") != 0 {
		t.Errorf("front sign-in %d, pod sign-in %d, pod list %d, front list %d: site calls must follow the session to the pod",
			front.count("SignIn"), pod.count("SignIn"), pod.count("ListWebhooks"), front.count("ListWebhooks"))
	}
	if got := pod.requests("SignIn")[0].method; got != http.MethodPost {
		t.Errorf("redirected sign-in was a %s, want a re-POST", got)
	}
}

func TestRedirectTargetRefusesDowngrade(t *testing.T) {
	if _, _, err := redirectTarget("https://a/api/3.24/auth/signin", "http://b/api/3.24/auth/signin"); err == nil {
		t.Error("followed https -> http")
	}
	if _, _, err := redirectTarget("https://a/api/3.24/auth/signin", "https://b/login"); err == nil {
		t.Error("followed a redirect outside /api/")
	}
	target, base, err := redirectTarget("https://a/api/3.24/auth/signin", "https://POD.example.com/prefix/api/3.24/auth/signin")
	if err != nil || base != "https://pod.example.com/prefix" || target != "https://POD.example.com/prefix/api/3.24/auth/signin" {
		t.Errorf("redirectTarget = %q, %q, %v", target, base, err)
	}
}

func TestClientDoesNotFollowRedirectsWithToken(t *testing.T) {
	elsewhere := newFake(t)
	f := newFake(t)
	f.hook("ListWebhooks", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.srv.URL+r.URL.Path, http.StatusFound)
	})
	c := mustClient(t, f.config())
	if _, err := c.ListWebhooks(context.Background()); err == nil {
		t.Error("a redirected site call succeeded")
	}
	for _, r := range elsewhere.requests("ListWebhooks") {
		if r.header.Get("X-Tableau-Auth") != "" {
			t.Error("the session token was sent to another host")
		}
	}
}

func TestListFollowsPagination(t *testing.T) {
	f := newFake(t)
	f.pageSize = 2
	for i := range 5 {
		f.addWebhook("w"+string(rune('a'+i)), "WorkbookCreated", "https://x")
	}
	c := mustClient(t, f.config())
	ws, err := c.ListWebhooks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 5 {
		t.Fatalf("listed %d webhooks, want 5", len(ws))
	}
	for i, w := range ws {
		if w.Name != "w"+string(rune('a'+i)) {
			t.Errorf("webhook %d = %s", i, w.Name)
		}
	}
	reqs := f.requests("ListWebhooks")
	if len(reqs) != 3 {
		t.Fatalf("%d list requests, want 3", len(reqs))
	}
	if len(reqs[0].query) != 0 {
		t.Errorf("first page asked with %v; Tableau documents no paging for webhooks", reqs[0].query)
	}
	for i, r := range reqs[1:] {
		if r.query["pageSize"][0] != "2" || r.query["pageNumber"][0] != string(rune('2'+i)) {
			t.Errorf("page request %d query = %v, want the server's page size", i+2, r.query)
		}
	}
}

// A List keeps once what its webhooks share, across pages: the owner and the event.
func TestListSharesRepeatedFields(t *testing.T) {
	f := newFake(t)
	f.pageSize = 2
	for i := range 3 {
		f.addWebhook("w"+string(rune('a'+i)), "WorkbookCreated", "https://x")
	}
	ws, err := mustClient(t, f.config()).ListWebhooks(context.Background())
	if err != nil || len(ws) != 3 {
		t.Fatalf("ListWebhooks = %d webhooks, %v", len(ws), err)
	}
	for _, w := range ws[1:] {
		for _, f := range []struct{ name, first, this string }{
			{"event", ws[0].Event, w.Event}, {"owner ID", ws[0].OwnerID, w.OwnerID}, {"owner name", ws[0].OwnerName, w.OwnerName},
		} {
			if f.this == "" || f.this != f.first || unsafe.StringData(f.this) != unsafe.StringData(f.first) {
				t.Errorf("webhook %s: %s %q is not the first webhook's %q, shared", w.Name, f.name, f.this, f.first)
			}
		}
	}
}

func TestListWithoutPaginationIsOneRequest(t *testing.T) {
	f := newFake(t)
	f.addWebhook("a", "WorkbookCreated", "https://x")
	c := mustClient(t, f.config())
	if ws, err := c.ListWebhooks(context.Background()); err != nil || len(ws) != 1 || f.count("ListWebhooks") != 1 {
		t.Errorf("ListWebhooks = %d webhooks, %v, %d requests", len(ws), err, f.count("ListWebhooks"))
	}
}

func TestListStopsOnInconsistentPagination(t *testing.T) {
	f := newFake(t)
	// The server repeats page 1 and claims far more than it ever returns.
	page := tsOpen + `<pagination pageNumber="1" pageSize="1" totalAvailable="3"/><webhooks><webhook id="a" name="a" event="WorkbookCreated"/></webhooks></tsResponse>`
	empty := tsOpen + `<pagination pageNumber="3" pageSize="1" totalAvailable="1000000"/><webhooks/></tsResponse>`
	f.fault("ListWebhooks", canned{status: 200, body: page}, canned{status: 200, body: page}, canned{status: 200, body: empty})
	c := mustClient(t, f.config())
	ws, err := c.ListWebhooks(context.Background())
	if err != nil || len(ws) != 1 {
		t.Errorf("ListWebhooks = %+v, %v; want the one webhook once", ws, err)
	}
	if n := f.count("ListWebhooks"); n != 3 {
		t.Errorf("%d list requests, want 3 (stop at the empty page)", n)
	}
}

func TestListRefusesEndlessPagination(t *testing.T) {
	f := newFake(t)
	var n atomic.Int64
	f.hook("ListWebhooks", func(w http.ResponseWriter, r *http.Request) {
		id := strconv.FormatInt(n.Add(1), 10)
		writeXML(w, http.StatusOK, `<pagination pageNumber="1" pageSize="1" totalAvailable="999999999"/><webhooks><webhook id="w`+id+`" name="x"/></webhooks>`)
	})
	c := mustClient(t, f.config())
	if _, err := c.ListWebhooks(context.Background()); err == nil {
		t.Error("an endless list succeeded; a partial list would make webhooks look deleted")
	}
	if got := f.count("ListWebhooks"); got != maxListPages {
		t.Errorf("%d list requests, want the cap %d", got, maxListPages)
	}
}
