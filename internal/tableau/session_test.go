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
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// concurrently runs fn n times at once and returns the errors.
func concurrently(n int, fn func() error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn()
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func TestConcurrentCallsSignInOnce(t *testing.T) {
	const n = 25
	f := newFake(t)
	f.addWebhook("a", "WorkbookCreated", "https://x")
	c := mustClient(t, f.config())
	ctx := context.Background()
	list := func() error {
		ws, err := c.ListWebhooks(ctx)
		if err == nil && len(ws) != 1 {
			return errors.New("wrong list")
		}
		return err
	}

	for i, err := range concurrently(n, list) {
		if err != nil {
			t.Fatalf("call %d without a session: %v", i, err)
		}
	}
	if got := f.count("SignIn"); got != 1 {
		t.Fatalf("%d concurrent first calls signed in %d times, want 1", n, got)
	}
	if got := f.count("ServerInfo"); got != 1 {
		t.Errorf("version discovered %d times, want 1", got)
	}

	// The session expires under every caller at once: each gets a 401 for the same token,
	// and only the first to get in signs in again.
	f.expireTokens()
	for i, err := range concurrently(n, list) {
		if err != nil {
			t.Fatalf("call %d with an expired token: %v", i, err)
		}
	}
	if got := f.count("SignIn"); got != 2 {
		t.Errorf("%d calls on an expired token caused %d re-sign-ins, want 1", n, got-1)
	}
	if got := f.count("ListWebhooks"); got > 3*n {
		t.Errorf("%d list requests for %d calls: more than one retry each", got, 2*n)
	}
}

func TestForeignSignInIsSurvived(t *testing.T) {
	f := newFake(t)
	c := mustClient(t, f.config())
	ctx := context.Background()
	before, err := c.SignIn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.foreignSignIn(testPATName) // ends our session, as Tableau does for a PAT
	if _, err := c.ListWebhooks(ctx); err != nil {
		t.Fatalf("ListWebhooks after a foreign sign-in: %v", err)
	}
	if f.count("SignIn") != 2 || f.count("ListWebhooks") != 2 {
		t.Errorf("sign-ins %d, list requests %d; want one re-sign-in and one retry", f.count("SignIn"), f.count("ListWebhooks"))
	}
	after, err := c.SignIn(ctx)
	if err != nil || after != before {
		t.Errorf("session after re-sign-in = %+v, %v; want the same site and user", after, err)
	}
	if f.count("SignIn") != 2 {
		t.Error("SignIn with a live session signed in again")
	}
}

func TestPersistent401IsUnauthorizedAfterOneRetry(t *testing.T) {
	f := newFake(t)
	f.hook("ListWebhooks", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusUnauthorized, "401002", "Unauthorized Access", "Invalid credentials were provided.")
	})
	c := mustClient(t, f.config())
	_, err := c.ListWebhooks(context.Background())
	if !IsUnauthorized(err) || IsTransient(err) || IsRejected(err) {
		t.Fatalf("err = %v, want IsUnauthorized", err)
	}
	if f.count("SignIn") != 2 || f.count("ListWebhooks") != 2 {
		t.Errorf("sign-ins %d, list requests %d; want exactly one re-sign-in and one retry", f.count("SignIn"), f.count("ListWebhooks"))
	}
}

func TestSignInFailure(t *testing.T) {
	f := newFake(t)
	obs := &recordingObserver{}
	cfg := f.config()
	cfg.Credentials.PATSecret = "wrong"
	cfg.Observer = obs
	c := mustClient(t, cfg)
	_, err := c.ListWebhooks(context.Background())
	if !IsUnauthorized(err) {
		t.Fatalf("err = %v, want IsUnauthorized", err)
	}
	if e, _ := asError(err); e.Operation != "SignIn" || e.Code != "401001" {
		t.Errorf("error = %+v", e)
	}
	if f.count("SignIn") != 1 || f.count("ListWebhooks") != 0 {
		t.Errorf("sign-ins %d, list %d: a refused sign-in must not be retried", f.count("SignIn"), f.count("ListWebhooks"))
	}
	if _, signIns := obs.snapshot(); len(signIns) != 1 || signIns[0] != "failure" {
		t.Errorf("sign-in observations = %v, want [failure]", signIns)
	}

	f.fault("SignIn", canned{status: 503})
	_, err = c.SignIn(context.Background())
	if !IsTransient(err) {
		t.Errorf("503 on sign-in = %v, want transient", err)
	}
	if _, signIns := obs.snapshot(); signIns[len(signIns)-1] != "error" {
		t.Errorf("sign-in observations = %v, want the last to be error", signIns)
	}
}

func TestPasswordSignInAndDefaultSite(t *testing.T) {
	f := newFake(t)
	f.site = ""
	cfg := f.config()
	cfg.Site = ""
	cfg.Credentials = Credentials{Username: testUser, Password: testPassword}
	c := mustClient(t, cfg)
	s, err := c.SignIn(context.Background())
	if err != nil || s.SiteID != testSiteID {
		t.Fatalf("SignIn = %+v, %v", s, err)
	}
	body := f.requests("SignIn")[0].body
	for _, want := range []string{`name="` + testUser + `"`, `contentUrl=""`, `<tsRequest>`} {
		if !strings.Contains(body, want) {
			t.Errorf("sign-in body lacks %s: the Default site is contentUrl=\"\"", want)
		}
	}
}

func TestSignOut(t *testing.T) {
	f := newFake(t)
	c := mustClient(t, f.config())
	ctx := context.Background()
	if err := c.SignOut(ctx); err != nil || f.count("SignOut") != 0 {
		t.Fatalf("SignOut without a session: %v, %d requests", err, f.count("SignOut"))
	}
	if _, err := c.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.SignOut(ctx); err != nil {
		t.Fatal(err)
	}
	so := f.requests("SignOut")
	if len(so) != 1 || so[0].header.Get("X-Tableau-Auth") == "" || so[0].path != "/api/3.24/auth/signout" {
		t.Fatalf("sign-out requests = %+v", so)
	}
	f.mu.Lock()
	live := len(f.tokens)
	f.mu.Unlock()
	if live != 0 {
		t.Errorf("%d sessions still live after SignOut", live)
	}
	// A later call opens a new session.
	if _, err := c.ListWebhooks(ctx); err != nil || f.count("SignIn") != 2 {
		t.Errorf("ListWebhooks after SignOut: %v, sign-ins %d", err, f.count("SignIn"))
	}
	// A session Tableau already ended signs out without error.
	f.expireTokens()
	if err := c.SignOut(ctx); err != nil {
		t.Errorf("SignOut of an expired session: %v", err)
	}
}

func TestClosedClientRefusesCalls(t *testing.T) {
	f := newFake(t)
	c := mustClient(t, f.config())
	ctx := context.Background()
	if _, err := c.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Closed() {
		t.Fatal("Closed before Close")
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !c.Closed() {
		t.Error("not Closed after Close")
	}
	if f.count("SignOut") != 1 {
		t.Errorf("Close signed out %d times", f.count("SignOut"))
	}
	_, err := c.ListWebhooks(ctx)
	if !errors.Is(err, ErrClientClosed) || !IsClientClosed(err) || !IsTransient(err) {
		t.Errorf("ListWebhooks after Close = %v, want transient ErrClientClosed", err)
	}
	if _, err := c.SignIn(ctx); !errors.Is(err, ErrClientClosed) {
		t.Errorf("SignIn after Close = %v", err)
	}
	if f.count("SignIn") != 1 {
		t.Error("a closed client signed in again")
	}
}

func TestSignInWaitHonoursContext(t *testing.T) {
	f := newFake(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	f.hook("SignIn", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		writeError(w, http.StatusServiceUnavailable, "503000", "Unavailable", "")
	})
	cfg := f.config()
	cfg.APIVersion = "3.24"
	c := mustClient(t, cfg)
	first := make(chan error, 1)
	go func() { _, err := c.SignIn(context.Background()); first <- err }()
	<-entered

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.ListWebhooks(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("waiting behind a sign-in with a cancelled context = %v", err)
	}
	close(release)
	if err := <-first; !IsTransient(err) {
		t.Errorf("first sign-in = %v", err)
	}
}
