package tableautest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// ForeignOwnerName owns webhooks added with AddWebhook without an owner: someone other than
// the operator's user created them.
const ForeignOwnerName = "foreign-admin"

// Webhook is a webhook as the simulator stores it.
type Webhook struct {
	// ID is the webhook's LUID.
	ID string
	// Name is the webhook's name; Tableau does not require names to be unique.
	Name string
	// Event is the API event name (e.g. "DatasourceRefreshFailed"), never the legacy name.
	Event string
	// URL is the destination; deliveries and tests POST to it.
	URL string
	// Enabled is isEnabled; disabled webhooks receive no deliveries.
	Enabled bool
	// StatusChangeReason says why the webhook was disabled; "" while enabled.
	StatusChangeReason string
	// OwnerID and OwnerName identify the user who created the webhook.
	OwnerID, OwnerName string
	// CreatedAt and UpdatedAt are reported as createdAt/updatedAt.
	CreatedAt, UpdatedAt time.Time
}

// Site is one site of the simulated server.
type Site struct {
	// ID is the site LUID used in webhook URIs.
	ID string
	// ContentURL is the site's contentUrl used at sign-in ("" is the Default site).
	ContentURL string
	// Name is the site's display name.
	Name string
}

type site struct {
	id, contentURL, name string
	webhooks             map[string]*webhookState
	// deleted hides the site from every lookup (DeleteSite) while keeping its LUID, contentUrl
	// and webhooks for RestoreSite; deletion orders deleted sites, latest highest.
	deleted  bool
	deletion int
}

type webhookState struct {
	Webhook
	failures int // consecutive exhausted deliveries
}

// siteByContentURL finds a live (not deleted) site; contentUrl matching ignores case, as
// Tableau's does. Callers hold s.mu.
func (s *Server) siteByContentURL(contentURL string) *site {
	for _, st := range s.sites {
		if !st.deleted && strings.EqualFold(st.contentURL, contentURL) {
			return st
		}
	}
	return nil
}

// siteByID finds a live site by LUID. Callers hold s.mu.
func (s *Server) siteByID(id string) *site {
	for _, st := range s.sites {
		if !st.deleted && strings.EqualFold(st.id, id) {
			return st
		}
	}
	return nil
}

// schemaLegacyNames are the <webhook-source> element names the simulator answers with where
// Tableau's schema and its events page disagree. The events page spells LabelDeleted's
// legacy name "webhook-source-event-label-LabelDeleted"; ts-api_3_27.xsd and ts-api_3_29.xsd,
// which are generated from the server, list "webhook-source-event-label-deleted", so that is
// what a server is taken to send. Requests may use either spelling.
var schemaLegacyNames = map[string]string{
	"LabelDeleted": "webhook-source-event-label-deleted",
}

// legacyName returns the <webhook-source> element name of an API event name: the schema's
// where it lists the event (schemaLegacyNames), else the events page's; "" for an event the
// catalogue does not know (possible only through out-of-band edits).
func legacyName(event string) string {
	if name, ok := schemaLegacyNames[event]; ok {
		return name
	}
	if e, ok := tableau.LookupEvent(event); ok {
		return e.Legacy
	}
	return ""
}

// canonicalEvent turns an API or legacy event name into the API name, leaving unknown names as
// they are so that out-of-band edits can store anything.
func canonicalEvent(event string) string {
	if e, ok := tableau.LookupEvent(event); ok {
		return e.Name
	}
	if e, ok := tableau.LookupLegacyEvent(event); ok {
		return e.Name
	}
	return event
}

// sortedWebhooks returns a site's webhooks by name, then id: a stable order for List pages.
func sortedWebhooks(st *site) []Webhook {
	out := make([]Webhook, 0, len(st.webhooks))
	for _, w := range st.webhooks {
		out = append(out, w.Webhook)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Sites returns the live sites of the server (not those DeleteSite removed) in the order
// they were configured.
func (s *Server) Sites() []Site {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Site, 0, len(s.sites))
	for _, st := range s.sites {
		if !st.deleted {
			out = append(out, Site{ID: st.id, ContentURL: st.contentURL, Name: st.name})
		}
	}
	return out
}

// SiteID returns the LUID of the site with that contentUrl, or "" if there is none.
func (s *Server) SiteID(contentURL string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.siteByContentURL(contentURL); st != nil {
		return st.id
	}
	return ""
}

// Webhooks returns a snapshot of a site's webhooks sorted by name then id (nil for an unknown
// site).
func (s *Server) Webhooks(contentURL string) []Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.siteByContentURL(contentURL)
	if st == nil {
		return nil
	}
	return sortedWebhooks(st)
}

// Webhook returns one webhook of a site.
func (s *Server) Webhook(contentURL, id string) (Webhook, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.siteByContentURL(contentURL)
	if st == nil {
		return Webhook{}, false
	}
	w, ok := st.webhooks[id]
	if !ok {
		return Webhook{}, false
	}
	return w.Webhook, true
}

// DeleteWebhook deletes a webhook out of band, as another administrator would; it reports
// whether the webhook existed.
func (s *Server) DeleteWebhook(contentURL, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.siteByContentURL(contentURL)
	if st == nil {
		return false
	}
	if _, ok := st.webhooks[id]; !ok {
		return false
	}
	delete(st.webhooks, id)
	return true
}

// EditWebhook changes a webhook out of band (rename, retarget, change event, disable, …) to
// create drift; it reports whether the webhook existed. The ID cannot change; UpdatedAt is
// set to now unless edit sets it; an event given by its legacy name is stored as the API name.
func (s *Server) EditWebhook(contentURL, id string, edit func(*Webhook)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.siteByContentURL(contentURL)
	if st == nil {
		return false
	}
	cur, ok := st.webhooks[id]
	if !ok {
		return false
	}
	w := cur.Webhook
	edit(&w)
	w.ID = id
	w.Event = canonicalEvent(w.Event)
	if w.UpdatedAt.Equal(cur.UpdatedAt) {
		w.UpdatedAt = s.cfg.now()
	}
	if w.Enabled && !cur.Enabled {
		cur.failures = 0
	}
	cur.Webhook = w
	return true
}

// AddWebhook stores a webhook created outside the operator (a "foreign" webhook) and returns
// it as stored: the ID is assigned when empty (an existing ID is replaced), the owner defaults
// to ForeignOwnerName, timestamps default to now. Set Enabled yourself: the zero value is a
// disabled webhook. It panics for an unknown site, a programming error in a test.
func (s *Server) AddWebhook(contentURL string, w Webhook) Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.siteByContentURL(contentURL)
	if st == nil {
		panic(fmt.Sprintf("tableautest: AddWebhook: no site with contentUrl %q", contentURL))
	}
	if w.ID == "" {
		w.ID = newLUID()
	}
	if w.OwnerID == "" {
		w.OwnerID = foreignOwnerID
	}
	if w.OwnerName == "" {
		w.OwnerName = ForeignOwnerName
	}
	if w.CreatedAt.IsZero() {
		w.CreatedAt = s.cfg.now()
	}
	if w.UpdatedAt.IsZero() {
		w.UpdatedAt = w.CreatedAt
	}
	w.Event = canonicalEvent(w.Event)
	st.webhooks[w.ID] = &webhookState{Webhook: w}
	return w
}

// foreignOwnerID is the user LUID of ForeignOwnerName, stable for the life of the process.
var foreignOwnerID = newLUID()

func sortedStrings(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}
