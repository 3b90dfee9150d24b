package tableautest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// AdminAPIUsage documents the /_sim/ admin API served by Handler; hack/tableau-sim prints it
// in its --help. It has no authentication: the simulator is for tests and demos only.
const AdminAPIUsage = `Admin API (JSON, no authentication; "site" is a contentUrl, absent or "" = Default site):
  GET    /_sim/sites                          sites: [{"id","contentUrl","name"}]
  POST   /_sim/trigger                        fire an event: {"site":"","event":"DatasourceRefreshFailed","resourceName":"Sales"}
                                              → {"deliveries":[{"webhookId","webhookName","url","attempts","lastStatus","error","disabled"}]}
                                              every enabled webhook of the event gets Tableau's JSON payload, 3 retries on non-2xx,
                                              and is disabled after repeated exhausted deliveries (--disable-after)
  GET    /_sim/stats                          {"byOperation":{"ListWebhooks":{"200":3}},"total":3,"writes":0}
                                              (status "0": connection closed without a response)
  POST   /_sim/reset-stats                    zero the counters
  GET    /_sim/faults                         fault injection in force
  POST   /_sim/faults                         replace it: {"errorRate":0.2,"statuses":[500,503,429],"retryAfter":"2s",
                                              "htmlBodies":false,"timeoutRate":0.1,"hang":"30s","latency":"100ms","jitter":"50ms",
                                              "loseCreateResponses":1,"operations":["CreateWebhook"],"includeServerInfo":false,"seed":1}
                                              (durations: Go duration strings like "250ms" or numbers of seconds; unknown keys are rejected)
  DELETE /_sim/faults                         stop fault injection
  GET    /_sim/webhooks?site=S                webhooks: [{"id","name","event","url","enabled","statusChangeReason",
                                              "ownerId","ownerName","createdAt","updatedAt"}]
  POST   /_sim/webhooks?site=S                add a foreign webhook: {"name","event","url","enabled":true,"statusChangeReason","ownerName"}
  POST   /_sim/webhooks/{id}/edit?site=S      out-of-band edit, only the given keys change:
                                              {"name","event","url","enabled","statusChangeReason"}
  DELETE /_sim/webhooks/{id}?site=S           out-of-band delete
  POST   /_sim/expire-tokens                  every issued token answers 401002 from now on
  POST   /_sim/foreign-signin                 {"patName":"sim-pat"}: someone else signs in with the PAT, ending its session
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

func (s *Server) adminSites(w http.ResponseWriter, _ *http.Request) {
	type siteJSON struct {
		ID         string `json:"id"`
		ContentURL string `json:"contentUrl"`
		Name       string `json:"name"`
	}
	out := []siteJSON{}
	for _, st := range s.Sites() {
		out = append(out, siteJSON{st.ID, st.ContentURL, st.Name})
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"sites": out})
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
