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
	if _, err := old.ListWebhooks(ctx); !errors.Is(err, ErrClientClosed) {
		t.Errorf("old client still usable: %v", err)
	}
}

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
	cfg.Credentials.PATSecret = "rotated-secret"
	fresh, err := p.Get(ctx, "bi/a", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if fresh == old {
		t.Fatal("rotation kept the client with the old secret")
	}
	if f.count("SignOut") != 1 {
		t.Errorf("old session signed out %d times, want 1", f.count("SignOut"))
	}
	if _, err := fresh.ListWebhooks(ctx); err != nil {
		t.Fatalf("new client: %v", err)
	}
	// The other owner's stale client fails transiently instead of signing in with the old
	// secret, and its next Get returns the new client.
	if _, err := old.ListWebhooks(ctx); !errors.Is(err, ErrClientClosed) || !IsTransient(err) {
		t.Errorf("stale client = %v", err)
	}
	if b, err := p.Get(ctx, "bi/b", cfg); err != nil || b != fresh {
		t.Errorf("other owner after rotation = %p, %v; want the new client", b, err)
	}
	// Both owners still hold claims: releasing one keeps the session.
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
