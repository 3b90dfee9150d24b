package tableautest

import (
	"encoding/json"
	"net/http"
	"testing"
)

// admin calls the /_sim/ API and decodes its JSON answer (if any) into out.
func admin(t *testing.T, srv *Server, method, path, body string, status int, out any) {
	t.Helper()
	r := call(t, srv, method, path, map[string]string{"Content-Type": jsonCT}, body)
	wantStatus(t, r, status)
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, r.Body)
		}
	}
}

func TestAdminAPI(t *testing.T) {
	rc := newReceiver(t, http.StatusOK, "")
	srv := NewServer(WithSite("mkt"), WithPAT("op-pat", "s3cr3t"), WithDeliveryClient(rc.Client()))
	defer srv.Close()

	var sites struct {
		Sites []struct{ ID, ContentURL, Name string }
	}
	admin(t, srv, http.MethodGet, "/_sim/sites", "", http.StatusOK, &sites)
	if len(sites.Sites) != 1 || sites.Sites[0].ContentURL != "mkt" || sites.Sites[0].ID != srv.SiteID("mkt") {
		t.Fatalf("sites = %+v", sites)
	}

	// Add a foreign webhook, list it, edit it, trigger it.
	var added adminWebhook
	admin(t, srv, http.MethodPost, "/_sim/webhooks?site=mkt",
		`{"name":"foreign","event":"DatasourceCreated","url":"`+rc.URL+`"}`, http.StatusCreated, &added)
	if added.ID == "" || !added.Enabled || added.OwnerName != ForeignOwnerName {
		t.Fatalf("added = %+v", added)
	}
	admin(t, srv, http.MethodPost, "/_sim/webhooks?site=mkt", `{"name":"x","event":"Nope","url":"https://x.example"}`, http.StatusBadRequest, nil)
	admin(t, srv, http.MethodPost, "/_sim/webhooks?site=mkt", `{"name":"x"}`, http.StatusBadRequest, nil)

	var edited adminWebhook
	admin(t, srv, http.MethodPost, "/_sim/webhooks/"+added.ID+"/edit?site=mkt", `{"name":"renamed"}`, http.StatusOK, &edited)
	if edited.Name != "renamed" || edited.Event != "DatasourceCreated" || edited.URL != rc.URL {
		t.Fatalf("edited = %+v", edited)
	}
	admin(t, srv, http.MethodPost, "/_sim/webhooks/nope/edit?site=mkt", `{"name":"x"}`, http.StatusNotFound, nil)
	admin(t, srv, http.MethodPost, "/_sim/webhooks/"+added.ID+"/edit?site=mkt", `{"unknownField":"x"}`, http.StatusBadRequest, nil)

	var list struct{ Webhooks []adminWebhook }
	admin(t, srv, http.MethodGet, "/_sim/webhooks?site=mkt", "", http.StatusOK, &list)
	if len(list.Webhooks) != 1 || list.Webhooks[0].Name != "renamed" {
		t.Fatalf("list = %+v", list)
	}
	admin(t, srv, http.MethodGet, "/_sim/webhooks?site=nope", "", http.StatusNotFound, nil)

	var trig struct {
		Deliveries []struct {
			WebhookID  string
			Attempts   int
			LastStatus int
			Disabled   bool
		}
	}
	admin(t, srv, http.MethodPost, "/_sim/trigger", `{"site":"mkt","event":"DatasourceCreated","resourceName":"Sales"}`, http.StatusOK, &trig)
	if len(trig.Deliveries) != 1 || trig.Deliveries[0].WebhookID != added.ID || trig.Deliveries[0].LastStatus != 200 ||
		len(rc.received()) != 1 {
		t.Fatalf("trigger = %+v", trig)
	}
	admin(t, srv, http.MethodPost, "/_sim/trigger", `{"site":"mkt","event":"Nope"}`, http.StatusBadRequest, nil)
	admin(t, srv, http.MethodPost, "/_sim/trigger", `{"site":"nope","event":"DatasourceCreated"}`, http.StatusNotFound, nil)

	// Faults.
	var f map[string]any
	admin(t, srv, http.MethodPost, "/_sim/faults", `{"errorRate":1,"statuses":[503],"operations":["ListWebhooks"]}`, http.StatusOK, &f)
	if f["errorRate"] != 1.0 {
		t.Fatalf("faults = %v", f)
	}
	token, siteID := signInPAT(t, srv, "mkt", "op-pat", "s3cr3t")
	wantStatus(t, call(t, srv, http.MethodGet, webhooksPath(siteID), xmlHeaders(token), ""), http.StatusServiceUnavailable)
	admin(t, srv, http.MethodGet, "/_sim/faults", "", http.StatusOK, &f)
	if ops, _ := f["operations"].([]any); len(ops) != 1 || ops[0] != OpListWebhooks {
		t.Fatalf("faults = %v", f)
	}
	admin(t, srv, http.MethodPost, "/_sim/faults", `{"errorRate":"lots"}`, http.StatusBadRequest, nil)
	admin(t, srv, http.MethodDelete, "/_sim/faults", "", http.StatusNoContent, nil)
	wantStatus(t, call(t, srv, http.MethodGet, webhooksPath(siteID), xmlHeaders(token), ""), http.StatusOK)

	// Stats.
	var stats struct {
		ByOperation map[string]map[string]int
		Total       int
		Writes      int
	}
	admin(t, srv, http.MethodGet, "/_sim/stats", "", http.StatusOK, &stats)
	if stats.ByOperation[OpListWebhooks]["503"] != 1 || stats.ByOperation[OpListWebhooks]["200"] != 1 ||
		stats.Total != 3 || stats.Writes != 0 {
		t.Fatalf("stats = %+v", stats)
	}
	admin(t, srv, http.MethodPost, "/_sim/reset-stats", "", http.StatusNoContent, nil)
	if srv.Stats().Total() != 0 {
		t.Fatal("reset-stats kept counts")
	}

	// Sessions.
	admin(t, srv, http.MethodPost, "/_sim/foreign-signin", `{"patName":"op-pat"}`, http.StatusNoContent, nil)
	wantXMLError(t, call(t, srv, http.MethodGet, webhooksPath(siteID), xmlHeaders(token), ""), http.StatusUnauthorized, CodeInvalidCredentials)
	admin(t, srv, http.MethodPost, "/_sim/foreign-signin", `{"patName":"nobody"}`, http.StatusNotFound, nil)
	token, _ = signInPAT(t, srv, "mkt", "op-pat", "s3cr3t")
	admin(t, srv, http.MethodPost, "/_sim/expire-tokens", "", http.StatusNoContent, nil)
	wantXMLError(t, call(t, srv, http.MethodGet, webhooksPath(siteID), xmlHeaders(token), ""), http.StatusUnauthorized, CodeInvalidCredentials)

	// Delete.
	admin(t, srv, http.MethodDelete, "/_sim/webhooks/"+added.ID+"?site=mkt", "", http.StatusNoContent, nil)
	admin(t, srv, http.MethodDelete, "/_sim/webhooks/"+added.ID+"?site=mkt", "", http.StatusNotFound, nil)
	if len(srv.Webhooks("mkt")) != 0 {
		t.Fatal("admin delete kept the webhook")
	}

	admin(t, srv, http.MethodGet, "/_sim/nothing", "", http.StatusNotFound, nil)
	if srv.Stats().Total() != 3 { // the three API calls since the reset; /_sim/ is never counted
		t.Fatalf("stats = %+v", srv.Stats())
	}
}

func TestAdminPATs(t *testing.T) {
	srv := NewServer(WithPAT("op-pat", "s3cr3t"), WithNonAdminPAT("viewer", "v"))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", "op-pat", "s3cr3t")

	var list struct{ PATs []adminPAT }
	admin(t, srv, http.MethodGet, "/_sim/pats", "", http.StatusOK, &list)
	if len(list.PATs) != 2 || list.PATs[0] != (adminPAT{"op-pat", "op-pat", PATActive}) || list.PATs[1].Name != "viewer" {
		t.Fatalf("pats = %+v", list)
	}

	// "state" defaults to revoked.
	var pat adminPAT
	admin(t, srv, http.MethodPost, "/_sim/pats/revoke", `{"patName":"op-pat"}`, http.StatusOK, &pat)
	if pat.State != PATRevoked {
		t.Fatalf("revoked = %+v", pat)
	}
	wantXMLError(t, listRaw(t, srv, token, siteID), http.StatusUnauthorized, CodeInvalidCredentials)
	wantXMLError(t, signInRaw(t, srv, "", "op-pat", "s3cr3t"), http.StatusUnauthorized, CodeSignInError)
	admin(t, srv, http.MethodPost, "/_sim/pats/revoke", `{"patName":"op-pat","state":"expired"}`, http.StatusOK, &pat)
	if pat.State != PATExpired {
		t.Fatalf("expired = %+v", pat)
	}
	admin(t, srv, http.MethodPost, "/_sim/pats/revoke", `{"patName":"op-pat","state":"active"}`, http.StatusBadRequest, nil)
	admin(t, srv, http.MethodPost, "/_sim/pats/revoke", `{"patName":"nobody"}`, http.StatusNotFound, nil)
	admin(t, srv, http.MethodPost, "/_sim/pats/revoke", `{"pat":"op-pat"}`, http.StatusBadRequest, nil)

	admin(t, srv, http.MethodPost, "/_sim/pats/restore", `{"patName":"op-pat"}`, http.StatusOK, &pat)
	if pat.State != PATActive {
		t.Fatalf("restored = %+v", pat)
	}
	wantStatus(t, signInRaw(t, srv, "", "op-pat", "s3cr3t"), http.StatusOK)
	admin(t, srv, http.MethodPost, "/_sim/pats/restore", `{"patName":"nobody"}`, http.StatusNotFound, nil)
}

func TestAdminUsers(t *testing.T) {
	srv := NewServer(WithPAT("op-pat", "s3cr3t"), WithUser("admin", "pw"))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", "op-pat", "s3cr3t")

	var list struct{ Users []adminUser }
	admin(t, srv, http.MethodGet, "/_sim/users", "", http.StatusOK, &list)
	if len(list.Users) != 2 || list.Users[0].Name != "op-pat" || !list.Users[0].SiteAdmin ||
		list.Users[0].SiteRole != SiteRoleSiteAdministratorCreator || len(list.Users[0].PATs) != 1 || list.Users[0].Password ||
		list.Users[1].Name != "admin" || !list.Users[1].Password || list.Users[1].PATs == nil {
		t.Fatalf("users = %+v", list)
	}

	// Site role.
	var u adminUser
	admin(t, srv, http.MethodPost, "/_sim/users/site-role", `{"userName":"op-pat","siteRole":"Explorer"}`, http.StatusOK, &u)
	if u.SiteRole != SiteRoleExplorer || u.SiteAdmin {
		t.Fatalf("site-role = %+v", u)
	}
	wantXMLError(t, listRaw(t, srv, token, siteID), http.StatusForbidden, CodeForbidden)
	admin(t, srv, http.MethodPost, "/_sim/users/site-role", `{"userName":"op-pat","siteRole":"SiteAdministratorCreator"}`, http.StatusOK, &u)
	if !u.SiteAdmin {
		t.Fatalf("site-role back = %+v", u)
	}
	wantStatus(t, listRaw(t, srv, token, siteID), http.StatusOK)
	admin(t, srv, http.MethodPost, "/_sim/users/site-role", `{"userName":"op-pat","siteRole":"Overlord"}`, http.StatusBadRequest, nil)
	admin(t, srv, http.MethodPost, "/_sim/users/site-role", `{"userName":"nobody","siteRole":"Viewer"}`, http.StatusNotFound, nil)

	// Delete and restore.
	admin(t, srv, http.MethodPost, "/_sim/users/delete", `{"userName":"op-pat"}`, http.StatusOK, &u)
	if !u.Deleted {
		t.Fatalf("deleted = %+v", u)
	}
	wantXMLError(t, listRaw(t, srv, token, siteID), http.StatusUnauthorized, CodeInvalidCredentials)
	wantXMLError(t, signInRaw(t, srv, "", "op-pat", "s3cr3t"), http.StatusUnauthorized, CodeSignInError)
	admin(t, srv, http.MethodPost, "/_sim/users/restore", `{"userName":"op-pat"}`, http.StatusOK, &u)
	if u.Deleted {
		t.Fatalf("restored = %+v", u)
	}
	wantStatus(t, signInRaw(t, srv, "", "op-pat", "s3cr3t"), http.StatusOK)
	admin(t, srv, http.MethodPost, "/_sim/users/delete", `{"userName":"nobody"}`, http.StatusNotFound, nil)
	admin(t, srv, http.MethodPost, "/_sim/users/restore", `{"userName":"nobody"}`, http.StatusNotFound, nil)
	admin(t, srv, http.MethodPost, "/_sim/users/delete", ``, http.StatusBadRequest, nil)
}

func TestAdminSiteLifecycle(t *testing.T) {
	srv := NewServer(WithSite("mkt"), WithSite("fin"), WithPAT("op-pat", "s3cr3t"))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "mkt", "op-pat", "s3cr3t")
	createXML(t, srv, token, siteID, "w", "WorkbookCreated", hookURL)

	var st adminSiteJSON
	admin(t, srv, http.MethodPost, "/_sim/sites/delete", `{"site":"mkt"}`, http.StatusOK, &st)
	if st.ID != siteID || st.ContentURL != "mkt" {
		t.Fatalf("deleted = %+v", st)
	}
	wantXMLError(t, listRaw(t, srv, token, siteID), http.StatusNotFound, CodeSiteNotFound)
	wantXMLError(t, signInRaw(t, srv, "mkt", "op-pat", "s3cr3t"), http.StatusUnauthorized, CodeSignInError)
	var sites struct{ Sites, DeletedSites []adminSiteJSON }
	admin(t, srv, http.MethodGet, "/_sim/sites", "", http.StatusOK, &sites)
	if len(sites.Sites) != 1 || sites.Sites[0].ContentURL != "fin" || len(sites.DeletedSites) != 1 || sites.DeletedSites[0].ID != siteID {
		t.Fatalf("sites = %+v", sites)
	}
	admin(t, srv, http.MethodGet, "/_sim/webhooks?site=mkt", "", http.StatusNotFound, nil)
	admin(t, srv, http.MethodPost, "/_sim/sites/delete", `{"site":"mkt"}`, http.StatusOK, nil) // again: no change
	admin(t, srv, http.MethodPost, "/_sim/sites/delete", `{"site":"nope"}`, http.StatusNotFound, nil)

	admin(t, srv, http.MethodPost, "/_sim/sites/restore", `{"site":"mkt","keepWebhooks":true}`, http.StatusOK, &st)
	if st.ID != siteID || len(srv.Webhooks("mkt")) != 1 {
		t.Fatalf("restored = %+v, webhooks %v", st, srv.Webhooks("mkt"))
	}
	admin(t, srv, http.MethodPost, "/_sim/sites/restore", `{"site":"nope"}`, http.StatusNotFound, nil)

	// Rename; the old contentUrl then refuses sign-in, the new one reaches the same LUID.
	admin(t, srv, http.MethodPost, "/_sim/sites/rename", `{"site":"mkt","contentUrl":"marketing"}`, http.StatusOK, &st)
	if st.ID != siteID || st.ContentURL != "marketing" {
		t.Fatalf("renamed = %+v", st)
	}
	wantXMLError(t, signInRaw(t, srv, "mkt", "op-pat", "s3cr3t"), http.StatusUnauthorized, CodeSignInError)
	if _, id := signInPAT(t, srv, "marketing", "op-pat", "s3cr3t"); id != siteID {
		t.Fatalf("sign-in to the new contentUrl: site %s, want %s", id, siteID)
	}
	admin(t, srv, http.MethodPost, "/_sim/sites/rename", `{"site":"marketing","contentUrl":"fin"}`, http.StatusConflict, nil)
	admin(t, srv, http.MethodPost, "/_sim/sites/rename", `{"site":"nope","contentUrl":"x"}`, http.StatusNotFound, nil)
	admin(t, srv, http.MethodPost, "/_sim/sites/rename", `{"site":"marketing"}`, http.StatusBadRequest, nil)

	// Restoring over a contentUrl taken meanwhile is a conflict.
	admin(t, srv, http.MethodPost, "/_sim/sites/delete", `{"site":"fin"}`, http.StatusOK, nil)
	admin(t, srv, http.MethodPost, "/_sim/sites/rename", `{"site":"marketing","contentUrl":"fin"}`, http.StatusOK, nil)
	admin(t, srv, http.MethodPost, "/_sim/sites/restore", `{"site":"fin"}`, http.StatusConflict, nil)

	if n := srv.CountStatus(OpSignIn, http.StatusUnauthorized); n != 2 {
		t.Errorf("SignIn 401 count = %d, want 2", n)
	}
}
