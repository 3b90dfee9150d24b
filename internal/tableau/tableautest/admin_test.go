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
