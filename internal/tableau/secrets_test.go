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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
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
