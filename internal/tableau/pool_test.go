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
	"testing"
)

func TestPoolSharesOneClientPerCredential(t *testing.T) {
	f := newFake(t)
	p := NewPool()
	ctx := context.Background()
	cfg := f.config()
	a, err := p.Get(ctx, "ns/a", cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A fresh *http.Client on every Get must not defeat sharing.
	cfg.HTTPClient = &http.Client{}
	b, err := p.Get(ctx, "ns/b", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("two owners of the same site and PAT got different clients: their sessions would evict each other")
	}
	again, err := p.Get(ctx, "ns/a", cfg)
	if err != nil || again != a {
		t.Errorf("re-Get by the same owner = %p, %v; want the same client", again, err)
	}
	if _, err := a.ListWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ListWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	if f.count("SignIn") != 1 {
		t.Errorf("%d sign-ins for one shared credential", f.count("SignIn"))
	}
}

func TestPoolRefusesOnePATForTwoSites(t *testing.T) {
	f := newFake(t)
	p := NewPool()
	ctx := context.Background()
	marketing := f.config()
	finance := f.config()
	finance.Site = "finance"
	if _, err := p.Get(ctx, "bi/marketing", marketing); err != nil {
		t.Fatal(err)
	}
	_, err := p.Get(ctx, "bi/finance", finance)
	if !IsCredentialsInUse(err) {
		t.Fatalf("err = %v, want IsCredentialsInUse", err)
	}
	for _, want := range []string{"pat:" + testPATName, `"marketing"`, "bi/marketing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), testPATSecret) {
		t.Error("error contains the secret")
	}
	// Another server, or username/password (not limited to one session), is fine.
	other := finance
	other.ServerURL = "https://other.example.com"
	if _, err := p.Get(ctx, "bi/other", other); err != nil {
		t.Errorf("same PAT on another server: %v", err)
	}
	user := finance
	user.Credentials = Credentials{Username: testUser, Password: testPassword}
	userMarketing := marketing
	userMarketing.Credentials = user.Credentials
	if _, err := p.Get(ctx, "bi/u1", user); err != nil {
		t.Errorf("password sign-in for site finance: %v", err)
	}
	if _, err := p.Get(ctx, "bi/u2", userMarketing); err != nil {
		t.Errorf("same user for site marketing: %v", err)
	}
	// Once the first site lets go, the second may have the PAT.
	p.Release(ctx, "bi/marketing")
	if _, err := p.Get(ctx, "bi/finance", finance); err != nil {
		t.Errorf("after release: %v", err)
	}
}

func TestPoolOwnerMovesToAnotherSite(t *testing.T) {
	f := newFake(t)
	p := NewPool()
	ctx := context.Background()
	cfg := f.config()
	old, err := p.Get(ctx, "bi/site", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	cfg.Site = "finance"
	moved, err := p.Get(ctx, "bi/site", cfg)
	if err != nil {
		t.Fatalf("the only owner changed its site: %v", err)
	}
	if moved == old {
		t.Error("kept the client of the old site")
	}
	if f.count("SignOut") != 1 {
		t.Errorf("old session signed out %d times, want 1", f.count("SignOut"))
	}
	if _, err := old.ListWebhooks(ctx); !errors.Is(err, ErrClientClosed) || !old.Closed() {
		t.Errorf("old client still usable: %v", err)
	}
}

// TestPoolSamePATNameOtherSecret is the tenant-isolation case: PAT names are unique per
// Tableau user only, so another team's token may have the same name. It is another
// credential: it gets its own client, and the first team's client keeps working.
func TestPoolSamePATNameOtherSecret(t *testing.T) {
	f := newFake(t)
	const otherSecret = "other-team-s3cret-9876543210"
	f.otherPATs = []fakePAT{{name: testPATName, secret: otherSecret}}
	p := NewPool()
	ctx := context.Background()
	first := f.config()
	second := f.config()
	second.Credentials.PATSecret = otherSecret

	a, err := p.Get(ctx, "team-a/site", first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ListWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := p.Get(ctx, "team-b/site", second)
	if err != nil {
		t.Fatalf("a PAT of the same name with another secret: %v", err)
	}
	if b == a {
		t.Fatal("two different tokens of the same name share one client")
	}
	if a.Closed() {
		t.Fatal("the second team's Get closed the first team's client")
	}
	for i, c := range []*Client{b, a, b} {
		if _, err := c.ListWebhooks(ctx); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := f.count("SignOut"); n != 0 {
		t.Errorf("%d sign-outs: a session was ended", n)
	}
	if n := f.count("SignIn"); n != 2 {
		t.Errorf("%d sign-ins, want 2 (one per token, none replacing the other)", n)
	}
	if again, err := p.Get(ctx, "team-a/site", first); err != nil || again != a {
		t.Errorf("first team's next Get = %p, %v; want its unchanged client", again, err)
	}
}

// TestPoolSamePATNameOtherSiteIsNotInUse: the one-site-per-PAT rule is about one token, so
// another user's token of the same name is free to serve another site.
func TestPoolSamePATNameOtherSiteIsNotInUse(t *testing.T) {
	f := newFake(t)
	p := NewPool()
	ctx := context.Background()
	marketing := f.config()
	finance := f.config()
	finance.Site = "finance"
	finance.Credentials.PATSecret = "other-team-s3cret-9876543210"
	if _, err := p.Get(ctx, "team-a/marketing", marketing); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Get(ctx, "team-b/finance", finance); err != nil {
		t.Errorf("another token of the same name for another site: %v", err)
	}
}

// TestPoolRotation: an owner whose secret changed moves to a new client; owners that still
// present the old secret keep the old client until they present the new one, and the old
// session ends with its last owner.
func TestPoolRotation(t *testing.T) {
	f := newFake(t)
	p := NewPool()
	ctx := context.Background()
	cfg := f.config()
	old, err := p.Get(ctx, "bi/a", cfg)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := p.Get(ctx, "bi/b", cfg)
	if err != nil || shared != old {
		t.Fatal("not shared")
	}
	if _, err := old.SignIn(ctx); err != nil {
		t.Fatal(err)
	}

	f.mu.Lock()
	f.pats[testPATName] = "rotated-secret"
	f.mu.Unlock()
	rotated := cfg
	rotated.Credentials.PATSecret = "rotated-secret"
	fresh, err := p.Get(ctx, "bi/a", rotated)
	if err != nil {
		t.Fatal(err)
	}
	if fresh == old {
		t.Fatal("rotation kept the client with the old secret")
	}
	if old.Closed() || f.count("SignOut") != 0 {
		t.Errorf("old client closed=%v, sign-outs=%d while bi/b still claims it", old.Closed(), f.count("SignOut"))
	}
	if _, err := fresh.ListWebhooks(ctx); err != nil {
		t.Fatalf("new client: %v", err)
	}
	if b, err := p.Get(ctx, "bi/b", cfg); err != nil || b != old {
		t.Errorf("bi/b, still on the old secret = %p, %v; want the old client", b, err)
	}

	b, err := p.Get(ctx, "bi/b", rotated)
	if err != nil || b != fresh {
		t.Fatalf("bi/b with the new secret = %p, %v; want the new client", b, err)
	}
	if !old.Closed() || f.count("SignOut") != 1 {
		t.Errorf("after its last owner left: closed=%v, sign-outs=%d; want closed, 1", old.Closed(), f.count("SignOut"))
	}
	if _, err := old.ListWebhooks(ctx); !IsClientClosed(err) || !IsTransient(err) {
		t.Errorf("stale client = %v, want transient IsClientClosed", err)
	}
	// Both owners claim the new client: releasing one keeps the session.
	p.Release(ctx, "bi/a")
	if f.count("SignOut") != 1 {
		t.Error("released a session another owner still uses")
	}
	p.Release(ctx, "bi/b")
	if f.count("SignOut") != 2 {
		t.Errorf("sign-outs = %d after the last owner released, want 2", f.count("SignOut"))
	}
	p.Release(ctx, "bi/b") // idempotent
}

// TestPoolSoleOwnerRotation: the old session ends before Get returns the new client, so the
// two never race for the PAT's one session.
func TestPoolSoleOwnerRotation(t *testing.T) {
	f := newFake(t)
	p := NewPool()
	ctx := context.Background()
	cfg := f.config()
	old, err := p.Get(ctx, "bi/a", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.pats[testPATName] = "rotated-secret"
	f.mu.Unlock()
	cfg.Credentials.PATSecret = "rotated-secret"
	fresh, err := p.Get(ctx, "bi/a", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !old.Closed() || f.count("SignOut") != 1 {
		t.Errorf("old client closed=%v, sign-outs=%d; want closed and signed out", old.Closed(), f.count("SignOut"))
	}
	if _, err := fresh.ListWebhooks(ctx); err != nil {
		t.Errorf("new client: %v", err)
	}
}

// TestPoolKeysByNormalizedServer: spellings of one server share the session.
func TestPoolKeysByNormalizedServer(t *testing.T) {
	p := NewPool()
	ctx := context.Background()
	cfg := Config{ServerURL: "https://tableau.example.com", Site: "s", Credentials: Credentials{PATName: "n", PATSecret: "s"}}
	a, err := p.Get(ctx, "a", cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServerURL = "https://Tableau.example.com:443/"
	b, err := p.Get(ctx, "b", cfg)
	if err != nil || b != a {
		t.Errorf("same server spelt differently = %p, %v; want the shared client", b, err)
	}
}

func TestPoolSettingsChange(t *testing.T) {
	f := newFake(t)
	p := NewPool()
	ctx := context.Background()
	cfg := f.config()
	a, err := p.Get(ctx, "bi/a", cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPClientKey = "ca=sha256:1234"
	a2, err := p.Get(ctx, "bi/a", cfg)
	if err != nil || a2 == a {
		t.Fatalf("sole owner changing TLS settings = %p, %v; want a new client", a2, err)
	}
	if _, err := p.Get(ctx, "bi/b", cfg); err != nil {
		t.Fatal(err)
	}
	cfg.APIVersion = "3.20"
	if _, err := p.Get(ctx, "bi/b", cfg); !IsCredentialsInUse(err) {
		t.Errorf("a second owner wanting other settings = %v, want IsCredentialsInUse", err)
	}
}

func TestPoolClose(t *testing.T) {
	f := newFake(t)
	p := NewPool()
	ctx := context.Background()
	pat := f.config()
	user := f.config()
	user.Credentials = Credentials{Username: testUser, Password: testPassword}
	for owner, cfg := range map[string]Config{"a": pat, "b": user} {
		c, err := p.Get(ctx, owner, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.SignIn(ctx); err != nil {
			t.Fatal(err)
		}
	}
	p.Close(ctx)
	if f.count("SignOut") != 2 {
		t.Errorf("Close signed out %d sessions, want 2", f.count("SignOut"))
	}
	if _, err := p.Get(ctx, "a", pat); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("Get after Close = %v", err)
	}
}

func TestPoolValidatesConfig(t *testing.T) {
	p := NewPool()
	if _, err := p.Get(context.Background(), "x", Config{ServerURL: "https://t"}); err == nil {
		t.Error("Get accepted a config without credentials")
	}
	if _, err := p.Get(context.Background(), "x", Config{ServerURL: "https://t", APIVersion: "3.8", Credentials: Credentials{PATName: "n", PATSecret: "s"}}); !IsUnsupportedVersion(err) {
		t.Errorf("pinned 3.8 = %v", err)
	}
}
