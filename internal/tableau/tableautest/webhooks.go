package tableautest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// ReasonDisabledByUser is the statusChangeReason Tableau sets when a webhook is disabled
// through the API without a reason.
const ReasonDisabledByUser = "Webhook disabled by user"

// maxAPIPageSize is the largest pageSize of Tableau's paginated endpoints, which WithPageSize's
// paging borrows.
const maxAPIPageSize = 1000

// handleWebhooks authorises and serves the six webhook endpoints.
func (s *Server) handleWebhooks(x *exchange) {
	_, sess, apiErr := s.authenticate(x)
	if apiErr != nil {
		s.fail(x, apiErr)
		return
	}
	s.mu.Lock()
	st := s.siteByID(x.rt.siteID)
	s.mu.Unlock()
	switch {
	case st == nil:
		// Also the answer to a session whose site DeleteSite removed: the token is still good,
		// so 404000 (not 401) tells its client that the site, not the token, is gone.
		s.fail(x, errSiteNotFound(x.rt.siteID))
		return
	case st.id != sess.siteID:
		s.fail(x, errSiteMismatch(x.rt.siteID))
		return
	case !sess.admin:
		// The role is read at each call (SetSiteRole), so rights lost or given back apply to
		// the session already open.
		s.fail(x, errForbidden())
		return
	}
	switch x.rt.op {
	case OpListWebhooks:
		s.listWebhooks(x, st)
	case OpCreateWebhook:
		s.createWebhook(x, st, sess)
	case OpGetWebhook:
		s.getWebhook(x, st)
	case OpUpdateWebhook:
		s.updateWebhook(x, st)
	case OpDeleteWebhook:
		s.deleteWebhook(x, st)
	case OpTestWebhook:
		s.testWebhook(x, st)
	}
}

// decodeWebhookBody decodes a Create or Update body in the format its Content-Type (or first
// byte) says.
func decodeWebhookBody(x *exchange) (webhookFields, *apiError) {
	in, ok := requestFormat(x.r.Header.Get("Content-Type"), x.body)
	if !ok {
		return webhookFields{}, errBadRequest("The request body is neither XML nor JSON.")
	}
	f, err := decodeWebhook(in, x.body)
	if err != nil {
		return webhookFields{}, errBadRequest("Could not parse the webhook request: %v", err)
	}
	return f, nil
}

// resolveEvent applies Tableau's rule for the two event forms: either may be given, and when
// both are they must name the same event. given is false when neither is.
func resolveEvent(f webhookFields) (ev tableau.EventInfo, given bool, apiErr *apiError) {
	var fromEvent, fromSource *tableau.EventInfo
	if f.Event != nil && *f.Event != "" {
		e, ok := tableau.LookupEvent(*f.Event)
		if !ok {
			return ev, false, errBadRequest("Unknown webhook event '%s'.", *f.Event)
		}
		fromEvent = &e
	}
	switch len(f.Sources) {
	case 0:
	case 1:
		e, ok := tableau.LookupLegacyEvent(f.Sources[0])
		if !ok {
			return ev, false, errBadRequest("Unknown webhook-source event '%s'.", f.Sources[0])
		}
		fromSource = &e
	default:
		return ev, false, errBadRequest("webhook-source must contain exactly one event, got %d.", len(f.Sources))
	}
	switch {
	case fromEvent != nil && fromSource != nil && fromEvent.Name != fromSource.Name:
		return ev, false, errBadRequest("The event '%s' and the webhook-source '%s' name different events.",
			*f.Event, f.Sources[0])
	case fromEvent != nil:
		return *fromEvent, true, nil
	case fromSource != nil:
		return *fromSource, true, nil
	}
	return ev, false, nil
}

// validateDestination enforces Tableau's destination rules: method POST, an https URL.
func validateDestination(method, rawURL *string) *apiError {
	if method != nil && !strings.EqualFold(*method, http.MethodPost) {
		return errBadRequest("The webhook destination method must be POST, got '%s'.", *method)
	}
	if rawURL == nil || *rawURL == "" {
		return errBadRequest("The webhook destination url is required.")
	}
	u, err := url.Parse(*rawURL)
	if err != nil || !strings.EqualFold(u.Scheme, "https") || u.Hostname() == "" {
		return errBadRequest("The webhook destination url '%s' must be an https URL.", *rawURL)
	}
	return nil
}

func (s *Server) createWebhook(x *exchange, st *site, sess caller) {
	f, apiErr := decodeWebhookBody(x)
	if apiErr != nil {
		s.fail(x, apiErr)
		return
	}
	if f.Name == nil || strings.TrimSpace(*f.Name) == "" {
		s.fail(x, errBadRequest("The webhook name is required."))
		return
	}
	ev, given, apiErr := resolveEvent(f)
	if apiErr == nil && !given {
		apiErr = errBadRequest("Either the event attribute or the webhook-source element is required.")
	}
	if apiErr != nil {
		s.fail(x, apiErr)
		return
	}
	if !f.HasDestination {
		s.fail(x, errBadRequest("The webhook-destination element with webhook-destination-http is required."))
		return
	}
	if apiErr := validateDestination(f.Method, f.URL); apiErr != nil {
		s.fail(x, apiErr)
		return
	}
	// A statusChangeReason with isEnabled=true is ignored on Create: Tableau documents 400127
	// for Update only (webhooks-docs PR #18).
	enabled, reason := true, ""
	if f.IsEnabled != nil && !*f.IsEnabled {
		enabled, reason = false, ReasonDisabledByUser
		if f.StatusChangeReason != nil && *f.StatusChangeReason != "" {
			reason = *f.StatusChangeReason
		}
	}
	now := s.cfg.now()
	w := Webhook{
		ID: newLUID(), Name: *f.Name, Event: ev.Name, URL: *f.URL, Enabled: enabled, StatusChangeReason: reason,
		OwnerID: sess.userID, OwnerName: sess.userName, CreatedAt: now, UpdatedAt: now,
	}
	s.mu.Lock()
	st.webhooks[w.ID] = &webhookState{Webhook: w}
	s.mu.Unlock()

	if s.faults.takeLostCreate() {
		x.abort()
	}
	x.w.Header().Set("Location", "/api/"+x.version+"/sites/"+st.id+"/webhooks/"+w.ID)
	body, err := encodeWebhook(x.out, s.cfg.apiVersion, w)
	s.respondEncoded(x, http.StatusCreated, body, err)
}

func (s *Server) lookupWebhook(st *site, id string) (Webhook, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := st.webhooks[id]
	if !ok {
		return Webhook{}, false
	}
	return w.Webhook, true
}

func (s *Server) getWebhook(x *exchange, st *site) {
	w, ok := s.lookupWebhook(st, x.rt.hookID)
	if !ok {
		s.fail(x, errWebhookNotFound(x.rt.hookID))
		return
	}
	body, err := encodeWebhook(x.out, s.cfg.apiVersion, w)
	s.respondEncoded(x, http.StatusOK, body, err)
}

// updateWebhook changes only the fields the request gives, as PSTableauREST relies on.
func (s *Server) updateWebhook(x *exchange, st *site) {
	id := x.rt.hookID
	if _, ok := s.lookupWebhook(st, id); !ok {
		s.fail(x, errWebhookNotFound(id))
		return
	}
	f, apiErr := decodeWebhookBody(x)
	if apiErr != nil {
		s.fail(x, apiErr)
		return
	}
	if f.Name != nil && strings.TrimSpace(*f.Name) == "" {
		s.fail(x, errBadRequest("The webhook name must not be empty."))
		return
	}
	ev, eventGiven, apiErr := resolveEvent(f)
	if apiErr != nil {
		s.fail(x, apiErr)
		return
	}
	if f.HasDestination {
		if apiErr := validateDestination(f.Method, f.URL); apiErr != nil {
			s.fail(x, apiErr)
			return
		}
	}
	reason := ""
	if f.StatusChangeReason != nil {
		reason = *f.StatusChangeReason
	}

	s.mu.Lock()
	cur, ok := st.webhooks[id]
	if !ok { // deleted meanwhile
		s.mu.Unlock()
		s.fail(x, errWebhookNotFound(id))
		return
	}
	w := cur.Webhook
	switch {
	case f.IsEnabled != nil && *f.IsEnabled:
		if reason != "" {
			s.mu.Unlock()
			s.fail(x, errReasonWithEnabled())
			return
		}
		w.Enabled, w.StatusChangeReason = true, ""
	case f.IsEnabled != nil:
		w.Enabled, w.StatusChangeReason = false, ReasonDisabledByUser
		if reason != "" {
			w.StatusChangeReason = reason
		}
	case reason != "":
		// A reason alone describes a disabled webhook; on an enabled one it is the same
		// contradiction as a reason with isEnabled=true.
		if w.Enabled {
			s.mu.Unlock()
			s.fail(x, errReasonWithEnabled())
			return
		}
		w.StatusChangeReason = reason
	}
	if f.Name != nil {
		w.Name = *f.Name
	}
	if eventGiven {
		w.Event = ev.Name
	}
	if f.HasDestination {
		w.URL = *f.URL
	}
	if w.Enabled && !cur.Enabled {
		cur.failures = 0
	}
	w.UpdatedAt = s.cfg.now()
	cur.Webhook = w
	s.mu.Unlock()

	body, err := encodeWebhook(x.out, s.cfg.apiVersion, w)
	s.respondEncoded(x, http.StatusOK, body, err)
}

func (s *Server) deleteWebhook(x *exchange, st *site) {
	s.mu.Lock()
	_, ok := st.webhooks[x.rt.hookID]
	delete(st.webhooks, x.rt.hookID)
	s.mu.Unlock()
	if !ok {
		s.fail(x, errWebhookNotFound(x.rt.hookID))
		return
	}
	s.respond(x, http.StatusNoContent, nil)
}

func (s *Server) testWebhook(x *exchange, st *site) {
	w, ok := s.lookupWebhook(st, x.rt.hookID)
	if !ok {
		s.fail(x, errTestWebhookNotFound(x.rt.hookID))
		return
	}
	status, text := s.sendTest(x.r.Context(), w.URL)
	body, err := encodeTestResult(x.out, s.cfg.apiVersion, w.ID, status, text)
	s.respondEncoded(x, http.StatusOK, body, err)
}

// listWebhooks serves List Webhooks with a name:eq/event:eq filter (PSTableauREST sends one).
// Tableau's schema has no <pagination> for webhooks, so by default the answer is every
// matching webhook in one <webhooks> element, and pageSize/pageNumber (which PSTableauREST
// also sends) are ignored; WithPageSize turns on paging with <pagination>, a test option for
// the client's paging path that is not what Tableau does.
func (s *Server) listWebhooks(x *exchange, st *site) {
	q := x.r.URL.Query()
	keep, apiErr := parseFilter(q.Get("filter"))
	if apiErr != nil {
		s.fail(x, apiErr)
		return
	}
	s.mu.Lock()
	all := sortedWebhooks(st)
	s.mu.Unlock()
	matched := all[:0]
	for _, w := range all {
		if keep(w) {
			matched = append(matched, w)
		}
	}
	p := page{Webhooks: matched}
	if s.cfg.pageSize > 0 {
		var ok bool
		if p, ok = s.pageOf(x, matched); !ok {
			return
		}
	}
	body, err := encodeWebhookList(x.out, s.cfg.apiVersion, p)
	s.respondEncoded(x, http.StatusOK, body, err)
}

// pageOf cuts the page the request asks for (pageSize, default WithPageSize's; pageNumber,
// default 1) out of matched, answering 400 for a bad parameter.
func (s *Server) pageOf(x *exchange, matched []Webhook) (page, bool) {
	q := x.r.URL.Query()
	size, sizeGiven, apiErr := queryInt(q, "pageSize", 1, maxAPIPageSize)
	if apiErr == nil && !sizeGiven {
		size = s.cfg.pageSize
	}
	number, numberGiven, apiErr2 := queryInt(q, "pageNumber", 1, 0)
	if apiErr == nil {
		apiErr = apiErr2
	}
	if apiErr != nil {
		s.fail(x, apiErr)
		return page{}, false
	}
	if !numberGiven {
		number = 1
	}
	total := len(matched)
	p := page{Paginated: true, Number: number, Size: size, Total: total}
	if from := (number - 1) * size; from < total {
		p.Webhooks = matched[from:min(from+size, total)]
	}
	return p, true
}

// queryInt reads a positive integer query parameter within [lo, hi] (hi 0: unbounded).
func queryInt(q url.Values, key string, lo, hi int) (int, bool, *apiError) {
	if !q.Has(key) {
		return 0, false, nil
	}
	n, err := strconv.Atoi(q.Get(key))
	if err != nil || n < lo || (hi > 0 && n > hi) {
		return 0, false, errBadRequest("Invalid %s '%s'.", key, q.Get(key))
	}
	return n, true, nil
}

// parseFilter supports Tableau's filter syntax for the fields a webhook list can be filtered
// on in the simulator: name:eq:<value> (and event:eq:<value>), comma-separated.
func parseFilter(expr string) (func(Webhook) bool, *apiError) {
	var preds []func(Webhook) bool
	if expr != "" {
		for term := range strings.SplitSeq(expr, ",") {
			parts := strings.SplitN(term, ":", 3)
			if len(parts) != 3 || parts[1] != "eq" {
				return nil, errBadRequest("Unsupported filter expression '%s'.", term)
			}
			value := parts[2]
			switch parts[0] {
			case "name":
				preds = append(preds, func(w Webhook) bool { return w.Name == value })
			case "event":
				preds = append(preds, func(w Webhook) bool { return w.Event == value })
			default:
				return nil, errBadRequest("Unsupported filter field '%s'.", parts[0])
			}
		}
	}
	return func(w Webhook) bool {
		for _, p := range preds {
			if !p(w) {
				return false
			}
		}
		return true
	}, nil
}
