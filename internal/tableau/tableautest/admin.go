package tableautest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// AdminAPIUsage documents the /_sim/ admin API served by Handler; hack/tableau-sim prints it
// in its --help. It has no authentication: the simulator is for tests and demos only.
const AdminAPIUsage = `Admin API (JSON, no authentication; "site" is a contentUrl, absent or "" = Default site):
  GET    /_sim/sites                          {"sites":[{"id","contentUrl","name"}],"deletedSites":[...]} (deleted: latest first)
  POST   /_sim/trigger                        fire an event: {"site":"","event":"DatasourceRefreshFailed","resourceName":"Sales"}
                                              → {"deliveries":[{"webhookId","webhookName","url","attempts","lastStatus","error","disabled"}]}
                                              every enabled webhook of the event gets Tableau's JSON payload, 3 retries on non-2xx,
                                              and is disabled after repeated exhausted deliveries (--disable-after)
  GET    /_sim/stats                          {"byOperation":{"ListWebhooks":{"200":3}},"total":3,"writes":0}
                                              (status "0": connection closed without a response)
  POST   /_sim/reset-stats                    zero the counters
  GET    /_sim/faults                         fault injection in force
  POST   /_sim/faults                         replace it: {"errorRate":0.2,"statuses":[500,503,429],"retryAfter":"2s",
                                              "retryAfterInDetail":false,"htmlBodies":false,"timeoutRate":0.1,"hang":"30s",
                                              "latency":"100ms","jitter":"50ms","loseCreateResponses":1,
                                              "operations":["CreateWebhook"],"includeServerInfo":false,"seed":1}
                                              (durations: Go duration strings like "250ms" or numbers of seconds; unknown keys are rejected)
                                              A 429 is an HTML page with "Retry-After: <retryAfter in seconds>"; with
                                              "retryAfterInDetail":true it is Tableau Cloud's answer instead: a Tableau error
                                              429000 whose detail ends "Please retry after 29 minutes." (retryAfter "29m"; "N
                                              seconds." unless a whole number of minutes) and no Retry-After header
  DELETE /_sim/faults                         stop fault injection
  GET    /_sim/webhooks?site=S                webhooks: [{"id","name","event","url","enabled","statusChangeReason",
                                              "ownerId","ownerName","createdAt","updatedAt"}]
  POST   /_sim/webhooks?site=S                add a foreign webhook: {"name","event","url","enabled":true,"statusChangeReason","ownerName"}
  POST   /_sim/webhooks/{id}/edit?site=S      out-of-band edit, only the given keys change:
                                              {"name","event","url","enabled","statusChangeReason"}
  DELETE /_sim/webhooks/{id}?site=S           out-of-band delete
  POST   /_sim/expire-tokens                  every issued token answers 401002 from now on
  POST   /_sim/foreign-signin                 {"patName":"sim-pat"}: someone else signs in with the PAT, ending its session
Credentials and sites that stop working (each answers the changed object; 404 unknown name, 409 conflict, 400 bad value):
  GET    /_sim/pats                           pats: [{"name","userName","state"}]   state: "active", "revoked", "expired"
  POST   /_sim/pats/revoke                    {"patName":"sim-pat","state":"revoked"}  ("expired" behaves the same; default "revoked")
                                              → {"name","userName","state"}: sign-in with it answers 401/401001, the session
                                              it holds answers 401/401002
  POST   /_sim/pats/restore                   {"patName":"sim-pat"} → the PAT, active again (ended sessions stay ended)
  GET    /_sim/users                          users: [{"id","name","siteRole","siteAdmin","deleted","pats":[names],"password"}]
                                              (a PAT's user is named like the PAT; --username's user like the username)
  POST   /_sim/users/delete                   {"userName":"sim-pat"} → the user: all its credentials fail as a revoked PAT does
  POST   /_sim/users/restore                  {"userName":"sim-pat"} → the user, back with its LUID, role and credentials
  POST   /_sim/users/site-role                {"userName":"sim-pat","siteRole":"Explorer"} → the user. Roles: ServerAdministrator,
                                              SiteAdministratorCreator, SiteAdministratorExplorer (may manage webhooks), Creator,
                                              ExplorerCanPublish, Explorer, Viewer (sign in, but every webhook call answers
                                              403/403004, open sessions included); --non-admin-pat-name starts as Explorer
  POST   /_sim/sites/delete                   {"site":"marketing"} → {"id","contentUrl","name"}: its webhooks go, sign-in to it
                                              answers 401/401001, its open sessions get 404/404000 on webhook calls
  POST   /_sim/sites/restore                  {"site":"marketing","keepWebhooks":false} → the site, same LUID and contentUrl;
                                              empty unless keepWebhooks; sessions from before the deletion stay ended (401002)
  POST   /_sim/sites/rename                   {"site":"marketing","contentUrl":"marketing-2"} → the site: same LUID and
                                              webhooks, open sessions keep working, sign-in needs the new contentUrl
Operations (for "operations" and stats): ServerInfo SignIn SignOut ListWebhooks GetWebhook CreateWebhook
  UpdateWebhook TestWebhook DeleteWebhook Unknown
`

// adminWebhook is a webhook on the admin API.
type adminWebhook struct {
	ID                 string    `json:"id"`
	Name               string    `json:"name"`
	Event              string    `json:"event"`
	URL                string    `json:"url"`
	Enabled            bool      `json:"enabled"`
	StatusChangeReason string    `json:"statusChangeReason"`
	OwnerID            string    `json:"ownerId"`
	OwnerName          string    `json:"ownerName"`
	CreatedAt          time.Time `json:"createdAt"`
	UpdatedAt          time.Time `json:"updatedAt"`
}

func toAdminWebhook(w Webhook) adminWebhook {
	return adminWebhook{w.ID, w.Name, w.Event, w.URL, w.Enabled, w.StatusChangeReason, w.OwnerID, w.OwnerName,
		w.CreatedAt, w.UpdatedAt}
}

// webhookPatch is the body of an edit or add: absent keys leave fields unchanged.
type webhookPatch struct {
	Name               *string `json:"name"`
	Event              *string `json:"event"`
	URL                *string `json:"url"`
	Enabled            *bool   `json:"enabled"`
	StatusChangeReason *string `json:"statusChangeReason"`
	OwnerName          *string `json:"ownerName"`
}

func (p webhookPatch) apply(w *Webhook) {
	if p.Name != nil {
		w.Name = *p.Name
	}
	if p.Event != nil {
		w.Event = *p.Event
	}
	if p.URL != nil {
		w.URL = *p.URL
	}
	if p.Enabled != nil {
		w.Enabled = *p.Enabled
	}
	if p.StatusChangeReason != nil {
		w.StatusChangeReason = *p.StatusChangeReason
	}
	if p.OwnerName != nil {
		w.OwnerName = *p.OwnerName
	}
}

type adminDelivery struct {
	WebhookID   string `json:"webhookId"`
	WebhookName string `json:"webhookName"`
	URL         string `json:"url"`
	Attempts    int    `json:"attempts"`
	LastStatus  int    `json:"lastStatus"`
	Error       string `json:"error,omitempty"`
	Disabled    bool   `json:"disabled"`
}

func (s *Server) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_sim/sites", s.adminSites)
	mux.HandleFunc("POST /_sim/trigger", s.adminTrigger)
	mux.HandleFunc("GET /_sim/stats", s.adminStats)
	mux.HandleFunc("POST /_sim/reset-stats", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, _ *http.Request) {
		writeAdminJSON(w, http.StatusOK, s.CurrentFaults())
	})
	mux.HandleFunc("POST /_sim/faults", s.adminSetFaults)
	mux.HandleFunc("DELETE /_sim/faults", func(w http.ResponseWriter, _ *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_sim/webhooks", s.adminListWebhooks)
	mux.HandleFunc("POST /_sim/webhooks", s.adminAddWebhook)
	mux.HandleFunc("POST /_sim/webhooks/{id}/edit", s.adminEditWebhook)
	mux.HandleFunc("DELETE /_sim/webhooks/{id}", s.adminDeleteWebhook)
	mux.HandleFunc("POST /_sim/expire-tokens", func(w http.ResponseWriter, _ *http.Request) {
		s.ExpireTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sim/foreign-signin", s.adminForeignSignIn)
	mux.HandleFunc("GET /_sim/pats", s.adminListPATs)
	mux.HandleFunc("POST /_sim/pats/revoke", s.adminRevokePAT)
	mux.HandleFunc("POST /_sim/pats/restore", s.adminRestorePAT)
	mux.HandleFunc("GET /_sim/users", s.adminListUsers)
	mux.HandleFunc("POST /_sim/users/delete", s.adminUserChange(func(req adminUserRequest) error { return s.DeleteUser(req.UserName) }))
	mux.HandleFunc("POST /_sim/users/restore", s.adminUserChange(func(req adminUserRequest) error { return s.RestoreUser(req.UserName) }))
	mux.HandleFunc("POST /_sim/users/site-role", s.adminUserChange(func(req adminUserRequest) error {
		return s.SetSiteRole(req.UserName, req.SiteRole)
	}))
	mux.HandleFunc("POST /_sim/sites/delete", s.adminDeleteSite)
	mux.HandleFunc("POST /_sim/sites/restore", s.adminRestoreSite)
	mux.HandleFunc("POST /_sim/sites/rename", s.adminRenameSite)
	mux.HandleFunc("/_sim/", func(w http.ResponseWriter, r *http.Request) {
		adminError(w, http.StatusNotFound, "unknown admin endpoint %s %s; see --help", r.Method, r.URL.Path)
	})
	return mux
}

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	s.admin.ServeHTTP(w, r)
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func adminError(w http.ResponseWriter, status int, format string, args ...any) {
	writeAdminJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// decodeAdmin decodes a JSON body strictly, so that typos fail loudly.
func decodeAdmin(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		err = dec.Decode(v)
	}
	if err != nil {
		adminError(w, http.StatusBadRequest, "invalid JSON body: %v", err)
		return false
	}
	return true
}

// adminSite resolves the ?site= parameter, answering 404 for an unknown site.
func (s *Server) adminSite(w http.ResponseWriter, r *http.Request) (string, bool) {
	contentURL := r.URL.Query().Get("site")
	if s.SiteID(contentURL) == "" {
		adminError(w, http.StatusNotFound, "no site with contentUrl %q", contentURL)
		return "", false
	}
	return contentURL, true
}

// adminSiteJSON is a site on the admin API.
type adminSiteJSON struct {
	ID         string `json:"id"`
	ContentURL string `json:"contentUrl"`
	Name       string `json:"name"`
}

func toAdminSites(sites []Site) []adminSiteJSON {
	out := []adminSiteJSON{}
	for _, st := range sites {
		out = append(out, adminSiteJSON{st.ID, st.ContentURL, st.Name})
	}
	return out
}

func (s *Server) adminSites(w http.ResponseWriter, _ *http.Request) {
	writeAdminJSON(w, http.StatusOK, map[string]any{"sites": toAdminSites(s.Sites()), "deletedSites": toAdminSites(s.DeletedSites())})
}

func (s *Server) adminTrigger(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Site         string `json:"site"`
		Event        string `json:"event"`
		ResourceName string `json:"resourceName"`
	}
	if !decodeAdmin(w, r, &req) {
		return
	}
	if s.SiteID(req.Site) == "" {
		adminError(w, http.StatusNotFound, "no site with contentUrl %q", req.Site)
		return
	}
	if _, ok := tableau.LookupEvent(req.Event); !ok {
		if _, ok := tableau.LookupLegacyEvent(req.Event); !ok {
			adminError(w, http.StatusBadRequest, "unknown event %q", req.Event)
			return
		}
	}
	out := []adminDelivery{}
	for _, d := range s.Trigger(req.Site, req.Event, req.ResourceName) {
		ad := adminDelivery{WebhookID: d.WebhookID, WebhookName: d.WebhookName, URL: d.URL,
			Attempts: d.Attempts, LastStatus: d.LastStatus, Disabled: d.Disabled}
		if d.Err != nil {
			ad.Error = d.Err.Error()
		}
		out = append(out, ad)
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"deliveries": out})
}

func (s *Server) adminStats(w http.ResponseWriter, _ *http.Request) {
	st := s.Stats()
	by := map[string]map[string]int{}
	for op, m := range st.ByOperation {
		by[op] = map[string]int{}
		for status, n := range m {
			by[op][strconv.Itoa(status)] = n
		}
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"byOperation": by, "total": st.Total(), "writes": st.Writes()})
}

func (s *Server) adminSetFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if !decodeAdmin(w, r, &f) {
		return
	}
	s.SetFaults(f)
	writeAdminJSON(w, http.StatusOK, s.CurrentFaults())
}

func (s *Server) adminListWebhooks(w http.ResponseWriter, r *http.Request) {
	site, ok := s.adminSite(w, r)
	if !ok {
		return
	}
	out := []adminWebhook{}
	for _, wh := range s.Webhooks(site) {
		out = append(out, toAdminWebhook(wh))
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"webhooks": out})
}

func (s *Server) adminAddWebhook(w http.ResponseWriter, r *http.Request) {
	site, ok := s.adminSite(w, r)
	if !ok {
		return
	}
	var p webhookPatch
	if !decodeAdmin(w, r, &p) {
		return
	}
	wh := Webhook{Enabled: true}
	p.apply(&wh)
	if wh.Name == "" || wh.URL == "" {
		adminError(w, http.StatusBadRequest, `"name" and "url" are required`)
		return
	}
	if _, ok := tableau.LookupEvent(canonicalEvent(wh.Event)); !ok {
		adminError(w, http.StatusBadRequest, "unknown event %q", wh.Event)
		return
	}
	writeAdminJSON(w, http.StatusCreated, toAdminWebhook(s.AddWebhook(site, wh)))
}

func (s *Server) adminEditWebhook(w http.ResponseWriter, r *http.Request) {
	site, ok := s.adminSite(w, r)
	if !ok {
		return
	}
	var p webhookPatch
	if !decodeAdmin(w, r, &p) {
		return
	}
	id := r.PathValue("id")
	if !s.EditWebhook(site, id, p.apply) {
		adminError(w, http.StatusNotFound, "no webhook %q on site %q", id, site)
		return
	}
	wh, _ := s.Webhook(site, id)
	writeAdminJSON(w, http.StatusOK, toAdminWebhook(wh))
}

func (s *Server) adminDeleteWebhook(w http.ResponseWriter, r *http.Request) {
	site, ok := s.adminSite(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if !s.DeleteWebhook(site, id) {
		adminError(w, http.StatusNotFound, "no webhook %q on site %q", id, site)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminForeignSignIn(w http.ResponseWriter, r *http.Request) {
	var req struct {
		PATName string `json:"patName"`
	}
	if !decodeAdmin(w, r, &req) {
		return
	}
	if !s.foreignSignIn(req.PATName) {
		adminError(w, http.StatusNotFound, "no PAT named %q", req.PATName)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// adminChangeError answers a failed state change with the status its cause calls for.
func adminChangeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, ErrInvalid):
		status = http.StatusBadRequest
	}
	adminError(w, status, "%v", err)
}

// adminPAT is a PAT on the admin API.
type adminPAT struct {
	Name     string   `json:"name"`
	UserName string   `json:"userName"`
	State    PATState `json:"state"`
}

// adminPATNamed answers the PAT name as it is now.
func (s *Server) adminPATNamed(w http.ResponseWriter, name string) {
	for _, p := range s.PATs() {
		if p.Name == name {
			writeAdminJSON(w, http.StatusOK, adminPAT(p))
			return
		}
	}
	adminError(w, http.StatusNotFound, "no PAT named %q", name)
}

func (s *Server) adminListPATs(w http.ResponseWriter, _ *http.Request) {
	out := []adminPAT{}
	for _, p := range s.PATs() {
		out = append(out, adminPAT(p))
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"pats": out})
}

func (s *Server) adminRevokePAT(w http.ResponseWriter, r *http.Request) {
	var req struct {
		PATName string   `json:"patName"`
		State   PATState `json:"state"`
	}
	if !decodeAdmin(w, r, &req) {
		return
	}
	if req.State == "" {
		req.State = PATRevoked
	}
	if err := s.RevokePAT(req.PATName, req.State); err != nil {
		adminChangeError(w, err)
		return
	}
	s.adminPATNamed(w, req.PATName)
}

func (s *Server) adminRestorePAT(w http.ResponseWriter, r *http.Request) {
	var req struct {
		PATName string `json:"patName"`
	}
	if !decodeAdmin(w, r, &req) {
		return
	}
	if err := s.RestorePAT(req.PATName); err != nil {
		adminChangeError(w, err)
		return
	}
	s.adminPATNamed(w, req.PATName)
}

// adminUser is a user on the admin API.
type adminUser struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	SiteRole  string   `json:"siteRole"`
	SiteAdmin bool     `json:"siteAdmin"`
	Deleted   bool     `json:"deleted"`
	PATs      []string `json:"pats"`
	Password  bool     `json:"password"`
}

func toAdminUser(u User) adminUser {
	pats := u.PATs
	if pats == nil {
		pats = []string{} // [] rather than null, for scripts
	}
	return adminUser{u.ID, u.Name, u.SiteRole, u.SiteAdmin, u.Deleted, pats, u.Password}
}

func (s *Server) adminListUsers(w http.ResponseWriter, _ *http.Request) {
	out := []adminUser{}
	for _, u := range s.Users() {
		out = append(out, toAdminUser(u))
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"users": out})
}

// adminUserRequest is the body of the /_sim/users/ changes; siteRole only for site-role.
type adminUserRequest struct {
	UserName string `json:"userName"`
	SiteRole string `json:"siteRole"`
}

// adminUserChange serves one of the /_sim/users/ changes and answers the user as it is after.
func (s *Server) adminUserChange(change func(adminUserRequest) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req adminUserRequest
		if !decodeAdmin(w, r, &req) {
			return
		}
		if err := change(req); err != nil {
			adminChangeError(w, err)
			return
		}
		u, _ := s.User(req.UserName)
		writeAdminJSON(w, http.StatusOK, toAdminUser(u))
	}
}

// adminSiteAnswer answers the site with that contentUrl among sites (the first match).
func adminSiteAnswer(w http.ResponseWriter, sites []Site, contentURL string) {
	for _, st := range sites {
		if strings.EqualFold(st.ContentURL, contentURL) {
			writeAdminJSON(w, http.StatusOK, adminSiteJSON{st.ID, st.ContentURL, st.Name})
			return
		}
	}
	adminError(w, http.StatusNotFound, "no site with contentUrl %q", contentURL)
}

func (s *Server) adminDeleteSite(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Site string `json:"site"`
	}
	if !decodeAdmin(w, r, &req) {
		return
	}
	if err := s.DeleteSite(req.Site); err != nil {
		adminChangeError(w, err)
		return
	}
	adminSiteAnswer(w, s.DeletedSites(), req.Site)
}

func (s *Server) adminRestoreSite(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Site         string `json:"site"`
		KeepWebhooks bool   `json:"keepWebhooks"`
	}
	if !decodeAdmin(w, r, &req) {
		return
	}
	if err := s.RestoreSite(req.Site, req.KeepWebhooks); err != nil {
		adminChangeError(w, err)
		return
	}
	adminSiteAnswer(w, s.Sites(), req.Site)
}

func (s *Server) adminRenameSite(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Site       string  `json:"site"`
		ContentURL *string `json:"contentUrl"`
	}
	if !decodeAdmin(w, r, &req) {
		return
	}
	// Required rather than defaulted: "" is a valid contentUrl (the Default site's), so a
	// forgotten key must not silently rename a site to it.
	if req.ContentURL == nil {
		adminError(w, http.StatusBadRequest, `"contentUrl" (the new contentUrl) is required`)
		return
	}
	if err := s.RenameSite(req.Site, *req.ContentURL); err != nil {
		adminChangeError(w, err)
		return
	}
	adminSiteAnswer(w, s.Sites(), *req.ContentURL)
}
