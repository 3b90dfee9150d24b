package tableautest

// Sites deleted or renamed under the operator's feet (issue 10 item 3).

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

func TestDeleteSite(t *testing.T) {
	srv := NewServer(WithSite("mkt"), WithSite("fin"), WithPAT("op", "s3cr3t"), WithPAT("other", "x"))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "mkt", "op", "s3cr3t")
	finToken, finID := signInPAT(t, srv, "fin", "other", "x")
	hook := createXML(t, srv, token, siteID, "gone", "WorkbookCreated", hookURL)
	createXML(t, srv, finToken, finID, "stays", "WorkbookCreated", hookURL)
	srv.ResetStats()

	if err := srv.DeleteSite("mkt"); err != nil {
		t.Fatal(err)
	}
	// Its webhooks go and it is no longer a site.
	if srv.Webhooks("mkt") != nil || srv.SiteID("mkt") != "" || len(srv.Sites()) != 1 || srv.Trigger("mkt", "WorkbookCreated", "x") != nil {
		t.Fatalf("deleted site still visible: webhooks %v, id %q, sites %v", srv.Webhooks("mkt"), srv.SiteID("mkt"), srv.Sites())
	}
	if d := srv.DeletedSites(); len(d) != 1 || d[0].ID != siteID || d[0].ContentURL != "mkt" {
		t.Fatalf("DeletedSites = %+v", d)
	}
	// Its open session still authenticates, and every webhook call answers site not found.
	hookPath := webhooksPath(siteID) + "/" + hook.ID
	for _, c := range []struct{ op, method, path, body string }{
		{OpListWebhooks, http.MethodGet, webhooksPath(siteID), ""},
		{OpGetWebhook, http.MethodGet, hookPath, ""},
		{OpCreateWebhook, http.MethodPost, webhooksPath(siteID), formA("new", "WorkbookCreated", hookURL)},
		{OpUpdateWebhook, http.MethodPut, hookPath, `<tsRequest><webhook name="renamed"/></tsRequest>`},
		{OpTestWebhook, http.MethodGet, hookPath + "/test", ""},
		{OpDeleteWebhook, http.MethodDelete, hookPath, ""},
	} {
		t.Run(c.op, func(t *testing.T) {
			wantXMLError(t, call(t, srv, c.method, c.path, xmlHeaders(token), c.body), http.StatusNotFound, CodeSiteNotFound)
			if n := srv.CountStatus(c.op, http.StatusNotFound); n != 1 {
				t.Errorf("%s 404 count = %d", c.op, n)
			}
		})
	}
	wantJSONError(t, call(t, srv, http.MethodGet, webhooksPath(siteID), jsonHeaders(token), ""), http.StatusNotFound, CodeSiteNotFound)
	// Sign-in to it fails as bad credentials do: Tableau does not say the site is gone.
	wantXMLError(t, signInRaw(t, srv, "mkt", "op", "s3cr3t"), http.StatusUnauthorized, CodeSignInError)
	if n := srv.CountStatus(OpSignIn, http.StatusUnauthorized); n != 1 {
		t.Errorf("SignIn 401 count = %d", n)
	}
	// The other site is untouched.
	if r := listRaw(t, srv, finToken, finID); r.Status != http.StatusOK || len(decodeXML(t, r).Webhooks.Webhook) != 1 {
		t.Fatalf("other site: %d %s", r.Status, r.Body)
	}

	if err := srv.DeleteSite("mkt"); err != nil {
		t.Errorf("delete twice: %v", err)
	}
	if err := srv.DeleteSite("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete unknown site: %v", err)
	}

	// Restored empty, with its LUID; the session from before stays ended.
	if err := srv.RestoreSite("mkt", false); err != nil {
		t.Fatal(err)
	}
	if srv.SiteID("mkt") != siteID || len(srv.Webhooks("mkt")) != 0 || len(srv.DeletedSites()) != 0 {
		t.Fatalf("restored: id %q (want %s), webhooks %v", srv.SiteID("mkt"), siteID, srv.Webhooks("mkt"))
	}
	wantXMLError(t, listRaw(t, srv, token, siteID), http.StatusUnauthorized, CodeInvalidCredentials)
	token, gotID := signInPAT(t, srv, "mkt", "op", "s3cr3t")
	if gotID != siteID {
		t.Errorf("sign-in site id %s, want %s", gotID, siteID)
	}
	wantStatus(t, listRaw(t, srv, token, siteID), http.StatusOK)
	if err := srv.RestoreSite("mkt", false); err != nil {
		t.Errorf("restore a live site: %v", err)
	}
	if err := srv.RestoreSite("nope", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("restore unknown site: %v", err)
	}

	// Restored with its webhooks: an undo.
	kept := createXML(t, srv, token, siteID, "kept", "WorkbookCreated", hookURL)
	if err := errors.Join(srv.DeleteSite("mkt"), srv.RestoreSite("mkt", true)); err != nil {
		t.Fatal(err)
	}
	if hooks := srv.Webhooks("mkt"); len(hooks) != 1 || hooks[0].ID != kept.ID {
		t.Fatalf("restored with webhooks: %+v", hooks)
	}
}

func TestDeleteSiteRestoreConflict(t *testing.T) {
	srv := New(WithSite("mkt"), WithSite("fin"))
	defer srv.Close()
	mkt, fin := srv.SiteID("mkt"), srv.SiteID("fin")
	// fin takes the deleted site's contentUrl: restoring it would make two sites "mkt".
	if err := errors.Join(srv.DeleteSite("mkt"), srv.RenameSite("fin", "mkt")); err != nil {
		t.Fatal(err)
	}
	if err := srv.RestoreSite("mkt", false); !errors.Is(err, ErrConflict) {
		t.Fatalf("restore over a renamed site: %v, want ErrConflict", err)
	}
	// Once fin is deleted too, two deleted sites share "mkt": the latest deletion comes back.
	if err := errors.Join(srv.DeleteSite("mkt"), srv.RestoreSite("mkt", false)); err != nil {
		t.Fatal(err)
	}
	if srv.SiteID("mkt") != fin {
		t.Fatalf("restored %s, want the latest deleted %s", srv.SiteID("mkt"), fin)
	}
	if d := srv.DeletedSites(); len(d) != 1 || d[0].ID != mkt {
		t.Fatalf("DeletedSites = %+v", d)
	}
}

// TestDeleteSiteClient is the operator's view: its session tells "site not found" apart from
// a refused token, a new sign-in is refused, and the same client recovers after the restore.
func TestDeleteSiteClient(t *testing.T) {
	srv := NewServer(WithSite("mkt"), WithPAT("op", "s3cr3t"))
	defer srv.Close()
	ctx := context.Background()
	creds := tableau.Credentials{PATName: "op", PATSecret: "s3cr3t"}
	c := simClient(t, srv, "mkt", creds)
	if _, err := c.ListWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.DeleteSite("mkt"); err != nil {
		t.Fatal(err)
	}
	_, err := c.ListWebhooks(ctx)
	if !tableau.IsSiteNotFound(err) || tableau.IsUnauthorized(err) {
		t.Fatalf("ListWebhooks on a deleted site: %v, want IsSiteNotFound", err)
	}
	if n := srv.Count(OpSignIn); n != 1 {
		t.Errorf("site not found made the client sign in again: %d sign-ins", n)
	}
	if _, err := simClient(t, srv, "mkt", creds).SignIn(ctx); !tableau.IsUnauthorized(err) {
		t.Errorf("new sign-in to a deleted site: %v, want IsUnauthorized", err)
	}
	if err := srv.RestoreSite("mkt", false); err != nil {
		t.Fatal(err)
	}
	eventuallyNoError(t, "ListWebhooks after RestoreSite", func() error { _, err := c.ListWebhooks(ctx); return err })
}

func TestRenameSite(t *testing.T) {
	srv := NewServer(WithSite("mkt"), WithSite("fin"), WithPAT("op", "s3cr3t"))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "mkt", "op", "s3cr3t")
	hook := createXML(t, srv, token, siteID, "kept", "WorkbookCreated", hookURL)

	if err := srv.RenameSite("mkt", "marketing"); err != nil {
		t.Fatal(err)
	}
	if srv.SiteID("marketing") != siteID || srv.SiteID("mkt") != "" || srv.Webhooks("mkt") != nil {
		t.Fatalf("after rename: ids %q/%q", srv.SiteID("marketing"), srv.SiteID("mkt"))
	}
	if hooks := srv.Webhooks("marketing"); len(hooks) != 1 || hooks[0].ID != hook.ID {
		t.Fatalf("webhooks after rename: %+v", hooks)
	}
	// The open session keeps working: webhook URIs use the LUID.
	wantStatus(t, listRaw(t, srv, token, siteID), http.StatusOK)
	createXML(t, srv, token, siteID, "after", "WorkbookCreated", hookURL)
	// New sign-ins need the new contentUrl, and are told it.
	wantXMLError(t, signInRaw(t, srv, "mkt", "op", "s3cr3t"), http.StatusUnauthorized, CodeSignInError)
	r := signInRaw(t, srv, "marketing", "op", "s3cr3t")
	wantStatus(t, r, http.StatusOK)
	if c := decodeXML(t, r).Credentials; c.Site.ID != siteID || c.Site.ContentURL != "marketing" {
		t.Errorf("sign-in site = %+v", c.Site)
	}

	if err := srv.RenameSite("marketing", "FIN"); !errors.Is(err, ErrConflict) {
		t.Errorf("rename onto another site: %v, want ErrConflict", err)
	}
	if err := srv.RenameSite("mkt", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("rename unknown site: %v, want ErrNotFound", err)
	}
	if err := srv.RenameSite("marketing", "Marketing"); err != nil || srv.Sites()[0].ContentURL != "Marketing" {
		t.Errorf("change of case: %v, sites %+v", err, srv.Sites())
	}
}

// TestRenameSiteClient: a client whose session predates the rename keeps working; one signing
// in with the old contentUrl is refused, with the new one it reaches the same site.
func TestRenameSiteClient(t *testing.T) {
	srv := NewServer(WithSite("mkt"), WithPAT("op", "s3cr3t"), WithPAT("second", "y"))
	defer srv.Close()
	ctx := context.Background()
	c := simClient(t, srv, "mkt", tableau.Credentials{PATName: "op", PATSecret: "s3cr3t"})
	before, err := c.SignIn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.RenameSite("mkt", "mkt-2026"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListWebhooks(ctx); err != nil {
		t.Errorf("ListWebhooks of the session from before the rename: %v", err)
	}
	second := tableau.Credentials{PATName: "second", PATSecret: "y"}
	if _, err := simClient(t, srv, "mkt", second).SignIn(ctx); !tableau.IsUnauthorized(err) {
		t.Errorf("sign-in with the old contentUrl: %v, want IsUnauthorized", err)
	}
	after, err := simClient(t, srv, "mkt-2026", second).SignIn(ctx)
	if err != nil || after.SiteID != before.SiteID || after.SiteContentURL != "mkt-2026" {
		t.Errorf("sign-in with the new contentUrl: %+v, %v", after, err)
	}
}
