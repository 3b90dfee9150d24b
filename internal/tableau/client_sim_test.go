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

// The client against the real simulator over HTTP. This is an external test package because
// tableautest imports tableau (for the event catalogue).
package tableau_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

const (
	simSite   = "marketing"
	simPAT    = "ci"
	simSecret = "s3cret"
)

// destination is an https receiver for Test Webhook, trusted by the simulator.
type destination struct {
	srv   *httptest.Server
	posts atomic.Int32
}

func newDestination(t *testing.T) *destination {
	t.Helper()
	d := &destination{}
	d.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method == http.MethodPost {
			d.posts.Add(1)
		}
		_, _ = io.WriteString(w, "received")
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func newSim(t *testing.T, opts ...tableautest.Option) *tableautest.Server {
	t.Helper()
	srv := tableautest.NewServer(append([]tableautest.Option{tableautest.WithSite(simSite), tableautest.WithPAT(simPAT, simSecret)}, opts...)...)
	t.Cleanup(srv.Close)
	return srv
}

func simConfig(srv *tableautest.Server) tableau.Config {
	return tableau.Config{
		ServerURL:   srv.URL,
		Site:        simSite,
		Credentials: tableau.Credentials{PATName: simPAT, PATSecret: simSecret},
		QPS:         1000,
		Burst:       1000,
		Timeout:     10 * time.Second,
	}
}

func newSimClient(t *testing.T, cfg tableau.Config) *tableau.Client {
	t.Helper()
	c, err := tableau.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSimAllOperations(t *testing.T) {
	dest := newDestination(t)
	srv := newSim(t, tableautest.WithDeliveryClient(dest.srv.Client()))
	c := newSimClient(t, simConfig(srv))
	ctx := context.Background()

	info, err := c.ServerInfo(ctx)
	if err != nil || info.RESTAPIVersion != tableautest.DefaultAPIVersion || info.ProductVersion != tableautest.DefaultProductVersion {
		t.Fatalf("ServerInfo = %+v, %v", info, err)
	}
	if c.APIVersion() != tableautest.DefaultAPIVersion {
		t.Errorf("APIVersion() = %q", c.APIVersion())
	}

	sess, err := c.SignIn(ctx)
	if err != nil || sess.SiteID != srv.SiteID(simSite) || sess.SiteContentURL != simSite || sess.UserID == "" {
		t.Fatalf("SignIn = %+v, %v; site id %s", sess, err, srv.SiteID(simSite))
	}

	url := dest.srv.URL + "/hook"
	created, err := c.CreateWebhook(ctx, tableau.WebhookSpec{Name: "refresh-failed", Event: "DatasourceRefreshFailed", URL: url, Enabled: true})
	if err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	stored := srv.Webhooks(simSite)
	if len(stored) != 1 || stored[0].ID != created.ID || stored[0].Event != "DatasourceRefreshFailed" || stored[0].URL != url || !stored[0].Enabled {
		t.Fatalf("simulator holds %+v after create %+v", stored, created)
	}
	if created.Event != "DatasourceRefreshFailed" || created.OwnerID != sess.UserID {
		t.Errorf("created = %+v", created)
	}

	got, err := c.GetWebhook(ctx, created.ID)
	if err != nil || got.ID != created.ID || got.Name != "refresh-failed" || got.URL != url || !got.Enabled {
		t.Errorf("GetWebhook = %+v, %v", got, err)
	}
	list, err := c.ListWebhooks(ctx)
	if err != nil || len(list) != 1 || list[0].ID != created.ID {
		t.Errorf("ListWebhooks = %+v, %v", list, err)
	}

	disabled, err := c.UpdateWebhook(ctx, created.ID, tableau.WebhookSpec{Name: "renamed", Event: "WorkbookRefreshFailed", URL: url, Enabled: false})
	if err != nil || disabled.Enabled || disabled.Name != "renamed" || disabled.Event != "WorkbookRefreshFailed" {
		t.Fatalf("UpdateWebhook(disable) = %+v, %v", disabled, err)
	}
	if w := srv.Webhooks(simSite)[0]; w.Enabled || w.StatusChangeReason == "" || w.Name != "renamed" {
		t.Errorf("simulator after disable: %+v", w)
	}
	enabled, err := c.UpdateWebhook(ctx, created.ID, tableau.WebhookSpec{Name: "renamed", Event: "WorkbookRefreshFailed", URL: url, Enabled: true})
	if err != nil || !enabled.Enabled || enabled.StatusChangeReason != "" {
		t.Fatalf("UpdateWebhook(enable) = %+v, %v", enabled, err)
	}
	if w := srv.Webhooks(simSite)[0]; !w.Enabled || w.StatusChangeReason != "" {
		t.Errorf("simulator after re-enable: %+v", w)
	}

	res, err := c.TestWebhook(ctx, created.ID)
	if err != nil || res.WebhookID != created.ID || res.Status != http.StatusOK || res.Body != "received" {
		t.Errorf("TestWebhook = %+v, %v", res, err)
	}
	if dest.posts.Load() != 1 {
		t.Errorf("destination got %d POSTs from the test, want 1", dest.posts.Load())
	}

	if err := c.DeleteWebhook(ctx, created.ID); err != nil {
		t.Fatalf("DeleteWebhook: %v", err)
	}
	if n := len(srv.Webhooks(simSite)); n != 0 {
		t.Errorf("%d webhooks left after delete", n)
	}
	if _, err := c.GetWebhook(ctx, created.ID); !tableau.IsNotFound(err) {
		t.Errorf("GetWebhook after delete = %v", err)
	}
	if _, err := c.TestWebhook(ctx, created.ID); !tableau.IsNotFound(err) {
		t.Errorf("TestWebhook after delete = %v", err)
	}
	if err := c.DeleteWebhook(ctx, created.ID); !tableau.IsNotFound(err) {
		t.Errorf("DeleteWebhook twice = %v", err)
	}

	if err := c.SignOut(ctx); err != nil {
		t.Fatalf("SignOut: %v", err)
	}
	if srv.Sessions() != 0 {
		t.Errorf("%d sessions live after SignOut", srv.Sessions())
	}
	if srv.Count(tableautest.OpSignIn) != 1 || srv.Count(tableautest.OpServerInfo) != 1 || srv.Count(tableautest.OpSignOut) != 1 {
		t.Errorf("sign-ins %d, serverinfo %d, sign-outs %d; want 1 each",
			srv.Count(tableautest.OpSignIn), srv.Count(tableautest.OpServerInfo), srv.Count(tableautest.OpSignOut))
	}
}

func TestSimSessionRecovery(t *testing.T) {
	srv := newSim(t)
	c := newSimClient(t, simConfig(srv))
	ctx := context.Background()
	if _, err := c.SignIn(ctx); err != nil {
		t.Fatal(err)
	}

	srv.ExpireTokens()
	const n = 10
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = c.ListWebhooks(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("calls after expiry: %v", err)
	}
	if got := srv.Count(tableautest.OpSignIn); got != 2 {
		t.Errorf("%d sign-ins after %d concurrent calls on an expired token, want 2 (one re-sign-in)", got, n)
	}

	srv.ForeignSignIn(simPAT)
	if _, err := c.ListWebhooks(ctx); err != nil {
		t.Fatalf("after a foreign sign-in: %v", err)
	}
	if got := srv.Count(tableautest.OpSignIn); got != 3 {
		t.Errorf("%d sign-ins after a foreign sign-in, want 3", got)
	}
}

func TestSimWebhookCreatedElsewhere(t *testing.T) {
	srv := newSim(t)
	added := srv.AddWebhook(simSite, tableautest.Webhook{Name: "foreign", Event: "DatasourceRefreshFailed", URL: "https://example.com/x", Enabled: true})
	c := newSimClient(t, simConfig(srv))
	w, err := c.GetWebhook(context.Background(), added.ID)
	if err != nil || w.Event != "DatasourceRefreshFailed" || w.Name != "foreign" || w.OwnerName != added.OwnerName {
		t.Errorf("GetWebhook = %+v, %v", w, err)
	}
}

func TestSimPagination(t *testing.T) {
	srv := newSim(t, tableautest.WithPageSize(2))
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		srv.AddWebhook(simSite, tableautest.Webhook{Name: name, Event: "WorkbookCreated", URL: "https://example.com/" + name, Enabled: true})
	}
	c := newSimClient(t, simConfig(srv))
	list, err := c.ListWebhooks(context.Background())
	if err != nil || len(list) != 5 {
		t.Fatalf("ListWebhooks = %d webhooks, %v; want 5", len(list), err)
	}
	if got := srv.Count(tableautest.OpListWebhooks); got != 3 {
		t.Errorf("%d list requests for 5 webhooks in pages of 2, want 3", got)
	}
}

func TestSimFaults(t *testing.T) {
	srv := newSim(t)
	c := newSimClient(t, simConfig(srv))
	ctx := context.Background()
	if _, err := c.SignIn(ctx); err != nil {
		t.Fatal(err)
	}

	srv.SetFaults(tableautest.Faults{ErrorRate: 1, Statuses: []int{429}, RetryAfter: 7 * time.Second, Operations: []string{tableautest.OpListWebhooks}})
	_, err := c.ListWebhooks(ctx)
	if d, ok := tableau.IsRateLimited(err); !ok || d != 7*time.Second || !tableau.IsTransient(err) {
		t.Errorf("429 = %v (retry after %v, %v)", err, d, ok)
	}

	srv.SetFaults(tableautest.Faults{ErrorRate: 1, Statuses: []int{500}, HTMLBodies: true, Operations: []string{tableautest.OpGetWebhook}})
	if _, err := c.GetWebhook(ctx, "x"); !tableau.IsTransient(err) || tableau.IsNotFound(err) {
		t.Errorf("500 = %v", err)
	}

	srv.SetFaults(tableautest.Faults{TimeoutRate: 1, Operations: []string{tableautest.OpListWebhooks}})
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err = c.ListWebhooks(short)
	var e *tableau.Error
	if !errors.As(err, &e) || e.StatusCode != 0 || !tableau.IsTransient(err) {
		t.Errorf("hang = %v, want a transient error without status", err)
	}
	srv.ClearFaults()
	if _, err := c.ListWebhooks(ctx); err != nil {
		t.Errorf("after clearing faults: %v", err)
	}
}

func TestSimRejectsInvalidSpec(t *testing.T) {
	srv := newSim(t)
	c := newSimClient(t, simConfig(srv))
	_, err := c.CreateWebhook(context.Background(), tableau.WebhookSpec{Name: "n", Event: "WorkbookCreated", URL: "http://insecure.example.com", Enabled: true})
	if !tableau.IsRejected(err) {
		t.Errorf("http destination = %v, want IsRejected", err)
	}
	if n := len(srv.Webhooks(simSite)); n != 0 {
		t.Errorf("%d webhooks created", n)
	}
}

func TestSimAuthFailures(t *testing.T) {
	t.Run("wrong secret", func(t *testing.T) {
		srv := newSim(t)
		cfg := simConfig(srv)
		cfg.Credentials.PATSecret = "wrong"
		_, err := newSimClient(t, cfg).ListWebhooks(context.Background())
		if !tableau.IsUnauthorized(err) || srv.Count(tableautest.OpSignIn) != 1 {
			t.Errorf("err = %v after %d sign-ins", err, srv.Count(tableautest.OpSignIn))
		}
	})
	t.Run("not a site administrator", func(t *testing.T) {
		srv := tableautest.NewServer(tableautest.WithSite(simSite), tableautest.WithNonAdminPAT(simPAT, simSecret))
		t.Cleanup(srv.Close)
		if _, err := newSimClient(t, simConfig(srv)).ListWebhooks(context.Background()); !tableau.IsForbidden(err) {
			t.Errorf("err = %v, want IsForbidden", err)
		}
	})
	t.Run("unsupported version", func(t *testing.T) {
		srv := newSim(t, tableautest.WithAPIVersion("3.8"))
		_, err := newSimClient(t, simConfig(srv)).SignIn(context.Background())
		if !tableau.IsUnsupportedVersion(err) || srv.Count(tableautest.OpSignIn) != 0 {
			t.Errorf("err = %v, sign-ins %d", err, srv.Count(tableautest.OpSignIn))
		}
	})
}

func TestSimPasswordDefaultSiteOverTLS(t *testing.T) {
	srv := tableautest.NewTLSServer(tableautest.WithUser("admin", "pw"))
	t.Cleanup(srv.Close)
	c := newSimClient(t, tableau.Config{
		ServerURL:   srv.URL,
		Credentials: tableau.Credentials{Username: "admin", Password: "pw"},
		HTTPClient:  srv.Client(),
	})
	sess, err := c.SignIn(context.Background())
	if err != nil || sess.SiteID != srv.SiteID("") {
		t.Fatalf("SignIn = %+v, %v", sess, err)
	}
	if _, err := c.ListWebhooks(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestSimPool(t *testing.T) {
	srv := newSim(t, tableautest.WithSite("finance"))
	p := tableau.NewPool()
	ctx := context.Background()
	cfg := simConfig(srv)
	a, err := p.Get(ctx, "bi/marketing", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	finance := cfg
	finance.Site = "finance"
	if _, err := p.Get(ctx, "bi/finance", finance); !tableau.IsCredentialsInUse(err) {
		t.Errorf("same PAT for another site = %v", err)
	}
	p.Close(ctx)
	if srv.Sessions() != 0 || srv.Count(tableautest.OpSignOut) != 1 {
		t.Errorf("after Close: %d sessions, %d sign-outs", srv.Sessions(), srv.Count(tableautest.OpSignOut))
	}
}
