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
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/redact"
)

// logCapture is a logr sink at the highest verbosity that keeps every line.
type logCapture struct {
	mu    sync.Mutex
	lines []string
}

func (l *logCapture) logger() funcr.Options {
	return funcr.Options{Verbosity: 10, LogCaller: funcr.All}
}

func (l *logCapture) add(prefix, args string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, prefix+" "+args)
}

func (l *logCapture) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// TestSecretsNeverLeak drives sign-in, token refusal, re-sign-in, server errors that echo
// secrets back, timeouts and sign-out, and then searches every log line and error message
// for the PAT secret, the password and every token the server issued (DESIGN 3.4).
func TestSecretsNeverLeak(t *testing.T) {
	for _, creds := range []Credentials{
		{PATName: testPATName, PATSecret: testPATSecret},
		{Username: testUser, Password: testPassword},
	} {
		t.Run(creds.Identity(), func(t *testing.T) {
			f := newFake(t)
			capture := &logCapture{}
			cfg := f.config()
			cfg.Credentials = creds
			cfg.Logger = funcr.New(capture.add, capture.logger())
			c := mustClient(t, cfg)
			ctx := context.Background()
			var errs []error
			record := func(err error) {
				if err != nil {
					errs = append(errs, err)
				}
			}

			_, err := c.SignIn(ctx)
			record(err)
			f.addWebhook("a", "WorkbookCreated", "https://x")
			f.expireTokens()
			_, err = c.ListWebhooks(ctx)
			record(err)

			// A server that echoes what it received must not get it into our errors.
			f.mu.Lock()
			tok := f.issued[len(f.issued)-1]
			f.mu.Unlock()
			own := creds.PATSecret + creds.Password // the one this client knows and must redact
			echo := fmt.Sprintf("token %s secret %s", tok, own)
			f.fault("ListWebhooks", canned{status: 400, body: `<error code="400000"><summary>` + echo + `</summary><detail>` + echo + `</detail></error>`})
			_, err = c.ListWebhooks(ctx)
			record(err)
			f.fault("SignIn", canned{status: 401, body: `<error code="401001"><summary>Signin Error</summary><detail>` + echo + `</detail></error>`})
			f.expireTokens()
			_, err = c.ListWebhooks(ctx)
			record(err)
			release := make(chan struct{})
			f.hook("GetWebhook", func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-release:
				}
			})
			short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			_, err = c.GetWebhook(short, "x")
			cancel()
			close(release)
			record(err)
			record(c.SignOut(ctx))
			_, err = c.CreateWebhook(ctx, WebhookSpec{Name: "n", Event: "Nope", URL: "http://x"})
			record(err)
			record(c.Close(ctx))

			if len(errs) < 4 {
				t.Fatalf("only %d errors produced; the scenario did not run as intended: %v", len(errs), errs)
			}
			var all bytes.Buffer
			for _, err := range errs {
				fmt.Fprintf(&all, "%v\n%+v\n%#v\n%s\n", err, err, err, err.Error())
			}
			all.WriteString(capture.text())
			if !strings.Contains(capture.text(), "Tableau API request") {
				t.Fatal("nothing was logged at V(1): the log check would prove nothing")
			}
			f.mu.Lock()
			issued := append([]string(nil), f.issued...)
			f.mu.Unlock()
			if len(issued) < 2 {
				t.Fatalf("%d tokens issued", len(issued))
			}
			for _, s := range append(issued, own) {
				if strings.Contains(all.String(), s) {
					t.Errorf("secret %q appears in errors or logs:\n%s", s, all.String())
				}
			}
		})
	}
}

// TestFormattingHidesSecrets prints credentials, configs and clients every way a careless
// log line or error message might.
func TestFormattingHidesSecrets(t *testing.T) {
	f := newFake(t)
	cfg := f.config()
	cfg.Credentials = Credentials{PATName: testPATName, PATSecret: testPATSecret, Password: testPassword}
	c := mustClient(t, f.config())
	if _, err := c.SignIn(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	token := f.issued[0]
	f.mu.Unlock()

	var out bytes.Buffer
	for _, v := range []any{cfg.Credentials, &cfg.Credentials, cfg, &cfg, c, secret(token)} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
	}
	j, err := json.Marshal(cfg.Credentials)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(j)
	capture := &logCapture{}
	log := funcr.New(capture.add, capture.logger())
	log.V(5).Info("dump", "credentials", cfg.Credentials, "config", cfg, "client", c)
	out.WriteString(capture.text())
	var sb strings.Builder
	slog.New(slog.NewTextHandler(&sb, nil)).Info("dump", "credentials", cfg.Credentials)
	out.WriteString(sb.String())

	for _, s := range []string{testPATSecret, testPassword, token} {
		if strings.Contains(out.String(), s) {
			t.Errorf("secret %q printed:\n%s", s, out.String())
		}
	}
	if !strings.Contains(out.String(), "pat:"+testPATName) {
		t.Errorf("the identity is not printed either:\n%s", out.String())
	}
}

// hookURL is a Secret-sourced destination, as a TableauWebhook's urlFrom would supply it; its
// secret part is the path. The query makes XML and JSON escaping change it.
const (
	hookURL     = "https://hooks.slack.com/services/T0001/B0001/s3cretHookPart?thread=a&b=1"
	hookSecret  = "s3cretHookPart" // what must not survive in any form
	hookDisplay = "secretKeyRef:slack/url"
)

func hookContext() context.Context {
	return redact.NewContext(context.Background(), redact.New(redact.Pair{Secret: hookURL, Display: hookDisplay}))
}

// TestErrorRedactsDestinationFromContext: Tableau's error detail may quote the destination
// URL in whatever form its stack wrote it; the secret the caller put in the context is gone
// from the error in every one.
func TestErrorRedactsDestinationFromContext(t *testing.T) {
	jsonEscaped := strings.ReplaceAll(mustJSON(t, hookURL), "/", `\/`)
	for _, tc := range []struct{ name, detail string }{
		{"raw", "Invalid destination " + hookURL},
		{"JSON-escaped", `upstream said {"url":"` + jsonEscaped + `"}`},
		{"percent-encoded", "GET /check?url=" + url.QueryEscape(hookURL) + " failed"},
		{"percent-encoded, lower-case hex", "GET /check?url=" + lowerHexRE.ReplaceAllStringFunc(url.QueryEscape(hookURL), strings.ToLower)},
		{"XML-escaped", "<destination url=\"" + esc(hookURL) + "\"/>"},
		{"without scheme", "cannot reach hooks.slack.com/services/T0001/B0001/s3cretHookPart?thread=a&b=1"},
		{"path only", "404 for /services/T0001/B0001/s3cretHookPart?thread=a&b=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			c := mustClient(t, f.config())
			// esc: the detail travels XML-escaped, so the client decodes exactly tc.detail.
			f.fault("CreateWebhook", canned{status: 400, body: `<error code="400000"><summary>Bad Request</summary><detail>` + esc(tc.detail) + `</detail></error>`})
			_, err := c.CreateWebhook(hookContext(), WebhookSpec{Name: "n", Event: "WorkbookCreated", URL: hookURL})
			e, ok := asError(err)
			if !ok || e.StatusCode != 400 {
				t.Fatalf("err = %v, want the HTTP 400", err)
			}
			if strings.Contains(err.Error(), hookSecret) {
				t.Errorf("destination secret survives: %q", err)
			}
			if !strings.Contains(e.Detail, hookDisplay) {
				t.Errorf("detail %q does not show %s in the secret's place", e.Detail, hookDisplay)
			}
		})
	}
}

// TestErrorRedactsBeforeTruncating puts the destination URL across the maxErrorText cut:
// truncating first would keep the URL's start, which no longer matches as a whole.
func TestErrorRedactsBeforeTruncating(t *testing.T) {
	// The cut falls inside the path, after "/services/T0001/B0001/s3cret".
	cutAt := strings.Index(hookURL, hookSecret) + len("s3cret")
	detail := strings.Repeat("x", maxErrorText-cutAt) + hookURL + " end"
	f := newFake(t)
	c := mustClient(t, f.config())
	f.fault("ListWebhooks", canned{status: 500, body: `<error code="500000"><summary>Internal Server Error</summary><detail>` + esc(detail) + `</detail></error>`})
	_, err := c.ListWebhooks(hookContext())
	e, ok := asError(err)
	if !ok {
		t.Fatalf("err = %v", err)
	}
	if len(e.Detail) > maxErrorText+len("…") {
		t.Errorf("detail is %d bytes, longer than maxErrorText", len(e.Detail))
	}
	// No byte of the URL may remain beyond the display text: not its host, not its path.
	for _, part := range []string{"https:", "hooks.slack", "/services", "T0001", "s3cret"} {
		if strings.Contains(err.Error(), part) {
			t.Errorf("%q of the destination survives truncation: ...%q", part, e.Detail[max(0, len(e.Detail)-80):])
		}
	}
}

// TestUndecodableResponseIsRedacted: encoding/xml quotes names from the body in its syntax
// errors ("invalid character entity &<name>"), and a PAT secret is a valid XML name, so a
// decoder message goes through the same redaction as Tableau's error texts.
func TestUndecodableResponseIsRedacted(t *testing.T) {
	f := newFake(t)
	c := mustClient(t, f.config())
	f.fault("GetWebhook", canned{status: 200, body: `<tsResponse><webhook>&` + testPATSecret + `</webhook></tsResponse>`})
	_, err := c.GetWebhook(context.Background(), "id")
	if err == nil {
		t.Fatal("malformed body accepted")
	}
	if strings.Contains(err.Error(), testPATSecret) {
		t.Errorf("PAT secret in %q", err)
	}
	if !strings.Contains(err.Error(), "&"+redactedText) {
		t.Errorf("error %q does not show where the secret was: the check proves nothing", err)
	}
}

// lowerHexRE finds percent-escapes, for rewriting them in lower-case hex as some stacks do.
var lowerHexRE = regexp.MustCompile(`%[0-9A-F]{2}`)

func mustJSON(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[1 : len(b)-1])
}
