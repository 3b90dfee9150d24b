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
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/redact"
)

// Fuzz targets for everything the client decodes from the network. Seeds are the bodies of
// REFERENCE.md and the Tableau fixtures in testdata; `go test` runs the seeds, and
// `go test -fuzz=FuzzX` explores further.

func addSeeds(f *testing.F, bodies ...string) {
	f.Helper()
	for _, b := range bodies {
		f.Add([]byte(b))
	}
	for _, name := range []string{"webhook_create.xml", "webhook_get.xml", "webhook_create_request.xml"} {
		f.Add(readTestdata(f, name))
	}
}

var allSeeds = []string{
	refSignIn, refSignInModern, refServerInfo, refWebhookDoc, refWebhooksDoc, refTestResult,
	refError, refServerInfo404, refJSONError, refPagination,
	`<html><body>Too many requests<br></body></html>`, ``, `{}`, `<tsResponse/>`,
	`<?xml version="1.0" encoding="ISO-8859-1"?><tsResponse><webhook id="a" name="caf` + "\xe9" + `"/></tsResponse>`,
}

func FuzzDecodeWebhook(f *testing.F) {
	addSeeds(f, allSeeds...)
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := decodeWebhook(body)
		if err != nil {
			if w != (Webhook{}) {
				t.Fatalf("error %v with a non-zero webhook %+v", err, w)
			}
			return
		}
		// A legacy element the catalogue knows always yields an event.
		if _, known := LookupLegacyEvent(w.LegacyEvent); known && w.Event == "" {
			t.Fatalf("legacy %q not mapped to an event", w.LegacyEvent)
		}
		// Whatever decodes can be sent back unchanged: encode the spec and decode it again.
		spec := WebhookSpec{Name: w.Name, Event: w.Event, URL: w.URL, Enabled: w.Enabled}
		req, err := encodeWebhook(spec)
		if err != nil {
			t.Fatalf("encode %+v: %v", spec, err)
		}
		back, err := decodeWebhook(req)
		if err != nil {
			t.Fatalf("decode of our own request %s: %v", req, err)
		}
		if back.Name != spec.Name || back.Event != spec.Event || back.URL != spec.URL || back.Enabled != spec.Enabled {
			t.Fatalf("round trip changed %+v into %+v (request %s)", spec, back, req)
		}
	})
}

func FuzzDecodeWebhookList(f *testing.F) {
	addSeeds(f, allSeeds...)
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodeWebhookList(body)
		// The streaming decoder reads what decoding the whole body into tsResponse reads.
		if r, rerr := decodeResponse(body); rerr == nil {
			var want []Webhook
			if r.Webhooks != nil {
				for i := range r.Webhooks.Webhook {
					want = append(want, r.Webhooks.Webhook[i].toWebhook())
				}
			}
			if err == nil && !slices.Equal(p.Webhooks, want) {
				t.Fatalf("streamed %+v, whole body %+v", p.Webhooks, want)
			}
			if err != nil && (r.Webhooks != nil || r.Pagination != nil) {
				t.Fatalf("streaming failed (%v) where the whole body decodes", err)
			}
		} else if err == nil {
			t.Fatalf("streamed a list (%+v) from a body that does not decode: %v", p, rerr)
		}
		if err != nil {
			return
		}
		if p.PageNumber < 0 || p.PageSize < 0 || p.TotalAvailable < 0 {
			t.Fatalf("negative pagination %+v", p)
		}
		if !p.Paginated && (p.PageNumber != 0 || p.PageSize != 0 || p.TotalAvailable != 0) {
			t.Fatalf("pagination values without <pagination>: %+v", p)
		}
	})
}

func FuzzDecodeTestResult(f *testing.F) {
	addSeeds(f, allSeeds...)
	f.Add([]byte(`<tsResponse><webhookTestResult id="w" status="404 Not Found"><body>x</body></webhookTestResult></tsResponse>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeTestResult(body)
		if err == nil && (r.Status < 0 || r.Status > 999999999) {
			t.Fatalf("status %d out of range", r.Status)
		}
	})
}

func FuzzDecodeSignIn(f *testing.F) {
	addSeeds(f, allSeeds...)
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeSignIn(body)
		if err == nil && (r.token == "" || r.session.SiteID == "") {
			t.Fatalf("accepted a sign-in without token or site: %+v", r.session)
		}
		if err != nil && r.token != "" {
			t.Fatal("token returned with an error")
		}
	})
}

func FuzzDecodeServerInfo(f *testing.F) {
	addSeeds(f, allSeeds...)
	f.Fuzz(func(t *testing.T, body []byte) {
		info, err := decodeServerInfo(body)
		if err != nil {
			return
		}
		// Checking the version never panics, whatever the server claims.
		_ = checkAPIVersion(info.RESTAPIVersion)
	})
}

// FuzzDecodeError covers XML, JSON and anything else a failing server sends, through the
// same path the client uses to build *Error.
func FuzzDecodeError(f *testing.F) {
	addSeeds(f, allSeeds...)
	f.Add([]byte(`{"error":{"code":404003,"summary":"x","detail":"y"}}`))
	f.Add([]byte(`<error code="400113"><summary>s</summary><detail>d</detail></error>`))
	const hookURL = "https://hooks.example.com/services/T0/B0/fuzz-hook-secret"
	f.Add([]byte(`<error code="400000"><summary>s</summary><detail>bad url ` + hookURL + `</detail></error>`))
	f.Add([]byte(`{"error":{"code":"400000","summary":"s","detail":"bad url https:\/\/hooks.example.com\/services\/T0\/B0\/fuzz-hook-secret"}}`))
	c, err := NewClient(Config{ServerURL: "https://t", Credentials: Credentials{PATName: "n", PATSecret: "fuzz-secret"}})
	if err != nil {
		f.Fatal(err)
	}
	ctx := redact.NewContext(context.Background(), redact.New(redact.Pair{Secret: hookURL, Display: "secretKeyRef:hook/url"}))
	f.Fuzz(func(t *testing.T, body []byte) {
		ae, ok := decodeError(body)
		if !ok && ae != (apiError{}) {
			t.Fatalf("not ok but %+v", ae)
		}
		for _, status := range []int{400, 401, 404, 429, 500} {
			e := c.apiError(ctx, "ListWebhooks", &response{status: status, header: http.Header{"Retry-After": {string(body)}}, body: body}, "tok")
			msg := e.Error()
			if strings.Contains(msg, "fuzz-secret") || strings.Contains(msg, "/services/T0/B0/fuzz-hook-secret") {
				t.Fatalf("secret in %q", msg)
			}
			if len(e.Summary) > maxErrorText+len("…") || len(e.Detail) > maxErrorText+len("…") {
				t.Fatalf("unbounded error text: %d/%d bytes", len(e.Summary), len(e.Detail))
			}
			if utf8.Valid(body) && !utf8.ValidString(msg) {
				t.Fatalf("truncation broke UTF-8: %q", msg)
			}
			if IsRejected(e) && (IsNotFound(e) || IsTransient(e) || IsUnauthorized(e)) {
				t.Fatalf("contradictory predicates for %v", e)
			}
			if e.RetryAfter < 0 || e.RetryAfter > maxRetryAfter {
				t.Fatalf("RetryAfter %v", e.RetryAfter)
			}
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"30", "0", "", "Sun, 01 Nov 2026 12:01:30 GMT", "Sunday, 01-Nov-26 12:01:30 GMT", "Sun Nov  1 12:01:30 2026", "99999999999999999999", "-1"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if d := parseRetryAfter(s, now); d < 0 || d > maxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %v", s, d)
		}
	})
}

func FuzzAPIVersion(f *testing.F) {
	for _, s := range []string{"3.9", "3.10", "2.4", "3.24", "10.0.1", "", "3", "a.b", "3.9.0.0"} {
		f.Add(s, "3.9")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		va, errA := parseAPIVersion(a)
		vb, errB := parseAPIVersion(b)
		if errA != nil || errB != nil {
			return
		}
		if compareAPIVersions(va, va) != 0 {
			t.Fatalf("%q != itself", a)
		}
		if compareAPIVersions(va, vb) != -compareAPIVersions(vb, va) {
			t.Fatalf("compare(%q, %q) not antisymmetric", a, b)
		}
		// checkAPIVersion agrees with compare against MinAPIVersion.
		lowest, _ := parseAPIVersion(MinAPIVersion)
		if (compareAPIVersions(va, lowest) < 0) != IsUnsupportedVersion(checkAPIVersion(a)) {
			t.Fatalf("checkAPIVersion(%q) disagrees with compare", a)
		}
	})
}
