package tableautest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// ReasonDeliveryFailures is the statusChangeReason of a webhook the simulator disabled after
// repeated delivery failures. Tableau's own text is undocumented, hence "(simulated)".
const ReasonDeliveryFailures = "Webhook disabled due to repeated delivery failures (simulated)"

// Statuses reported by Test Webhook when the destination gave no HTTP answer.
const (
	// TestStatusTimeout is reported when the destination did not answer in time; Tableau
	// reports 408 then (webhooks-docs issue #17).
	TestStatusTimeout = http.StatusRequestTimeout
	// TestStatusUnreachable is reported when the destination could not be reached at all
	// (connection refused, DNS, TLS failure): the simulator's choice, like a gateway's 502.
	TestStatusUnreachable = http.StatusBadGateway
)

// deliveryRetries is how many times Tableau retries a failed delivery after the first attempt.
const deliveryRetries = 3

// maxReportedBody bounds the destination body reported by Test Webhook.
const maxReportedBody = 64 << 10

// Delivery is the outcome of delivering one event to one webhook.
type Delivery struct {
	// WebhookID and WebhookName identify the webhook; URL is where the event was sent.
	WebhookID, WebhookName, URL string
	// Attempts is 1 when the first POST succeeded, up to 4 (initial + 3 retries) otherwise.
	Attempts int
	// LastStatus is the status of the last attempt, 0 if it got no HTTP answer.
	LastStatus int
	// Err is the transport error of the last attempt, or nil.
	Err error
	// Disabled reports that this delivery's failure disabled the webhook.
	Disabled bool
}

// Succeeded reports whether an attempt got a 2xx answer.
func (d Delivery) Succeeded() bool { return d.LastStatus >= 200 && d.LastStatus < 300 }

// deliveryPayload is Tableau's event body (REFERENCE.md §4.1, field names since webhooks-docs
// PR #14). Retries and every webhook of one event get identical payloads, as Tableau's do.
type deliveryPayload struct {
	Resource     string `json:"resource"`
	EventType    string `json:"event_type"`
	ResourceName string `json:"resource_name"`
	SiteLUID     string `json:"site_luid"`
	ResourceLUID string `json:"resource_luid"`
	CreatedAt    string `json:"created_at"`
}

// Trigger fires an event (API or legacy name) on a site: every enabled webhook of that event
// receives Tableau's JSON payload, with 3 retries on a non-2xx answer or transport error.
// A webhook whose retries are exhausted WithDisableAfter times in a row is disabled with
// ReasonDeliveryFailures. It returns one Delivery per webhook, sorted by webhook name then id,
// and nil for an unknown site or event. It blocks until every delivery has finished.
func (s *Server) Trigger(contentURL, event, resourceName string) []Delivery {
	ev, ok := tableau.LookupEvent(event)
	if !ok {
		if ev, ok = tableau.LookupLegacyEvent(event); !ok {
			return nil
		}
	}
	s.mu.Lock()
	st := s.siteByContentURL(contentURL)
	if st == nil {
		s.mu.Unlock()
		return nil
	}
	var targets []Webhook
	for _, w := range sortedWebhooks(st) {
		if w.Enabled && w.Event == ev.Name {
			targets = append(targets, w)
		}
	}
	siteID := st.id
	s.mu.Unlock()

	payload, _ := json.Marshal(deliveryPayload{
		Resource: ev.Resource, EventType: ev.Name, ResourceName: resourceName,
		SiteLUID: siteID, ResourceLUID: newLUID(), CreatedAt: timestamp(s.cfg.now()),
	})
	results := make([]Delivery, len(targets))
	var wg sync.WaitGroup
	for i, w := range targets {
		wg.Go(func() { results[i] = s.deliver(w, payload) })
	}
	wg.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range results {
		d := &results[i]
		cur, ok := st.webhooks[d.WebhookID]
		if !ok {
			continue // deleted while delivering
		}
		if d.Succeeded() {
			cur.failures = 0
			continue
		}
		cur.failures++
		if cur.failures >= s.cfg.disableAfter && cur.Enabled {
			cur.Enabled, cur.StatusChangeReason = false, ReasonDeliveryFailures
			cur.UpdatedAt = s.cfg.now()
			d.Disabled = true
		}
	}
	return results
}

// deliver POSTs payload to one webhook, retrying with a doubling backoff.
func (s *Server) deliver(w Webhook, payload []byte) Delivery {
	d := Delivery{WebhookID: w.ID, WebhookName: w.Name, URL: w.URL}
	wait := s.cfg.retryBackoff
	for attempt := 0; attempt <= deliveryRetries; attempt++ {
		if attempt > 0 {
			if wait > 0 && !s.sleep(s.ctx, wait) {
				break
			}
			wait *= 2
		}
		d.Attempts++
		d.LastStatus, _, d.Err = s.post(s.ctx, w.URL, payload)
		if d.Succeeded() {
			break
		}
	}
	return d
}

// post sends one POST with a JSON content type and returns the answer's status and body.
func (s *Server) post(ctx context.Context, url string, payload []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.cfg.delivery.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxReportedBody))
	return resp.StatusCode, string(b), nil
}

// sendTest is Test Webhook's request: an empty body with a JSON content type. The result is
// the destination's status and body, or TestStatusTimeout/TestStatusUnreachable with the
// error text when it gave no HTTP answer.
func (s *Server) sendTest(ctx context.Context, url string) (int, string) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	status, body, err := s.post(ctx, url, nil)
	if err == nil {
		return status, body
	}
	var timeout interface{ Timeout() bool }
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &timeout) && timeout.Timeout()) {
		return TestStatusTimeout, "simulated: the destination did not answer in time: " + err.Error()
	}
	return TestStatusUnreachable, "simulated: the destination could not be reached: " + err.Error()
}
