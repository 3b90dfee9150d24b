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
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
)

// maxListPages bounds List's pagination so that a server reporting an absurd totalAvailable
// cannot keep the client paging forever.
const maxListPages = 1000

// Webhook is a webhook as Tableau reports it.
type Webhook struct {
	// ID is Tableau's LUID for the webhook.
	ID string
	// Name is the webhook's name.
	Name string
	// Event is the API event name (e.g. "DatasourceRefreshFailed"): the event attribute, or,
	// when a server omits it, the catalogue name of the legacy <webhook-source> element.
	// "" when neither names an event.
	Event string
	// LegacyEvent is the raw <webhook-source> child element name, if any; it explains an
	// empty Event when the legacy name is not in the catalogue.
	LegacyEvent string
	// URL is the destination.
	URL string
	// Enabled is false when a user or Tableau (after repeated delivery failures) disabled it.
	Enabled bool
	// StatusChangeReason says why it was disabled; "" when enabled.
	StatusChangeReason string
	// OwnerID and OwnerName identify the user who owns the webhook.
	OwnerID, OwnerName string
	// CreatedAt and UpdatedAt are ISO-8601 timestamps when the server sends them.
	CreatedAt, UpdatedAt string
}

// WebhookSpec is the desired state of a webhook.
type WebhookSpec struct {
	// Name, Event (API event name) and URL (https destination) are required by Tableau.
	Name, Event, URL string
	// Enabled is always sent, so that Update can both disable and re-enable.
	Enabled bool
}

// TestResult is what Tableau got back when it called the destination for a test.
type TestResult struct {
	// WebhookID is the tested webhook.
	WebhookID string
	// Status is the HTTP status the destination returned (0 if Tableau reported none); the
	// API call itself succeeds even when the destination failed.
	Status int
	// Body is the destination's response body.
	Body string
}

// errEmptyID is returned for calls without a webhook id, which would otherwise address the
// collection (a Delete or Update of "" must never reach Tableau).
var errEmptyID = errors.New("webhook id is empty")

// ListWebhooks returns every webhook of the site. Tableau does not document pagination for
// webhooks; when a server sends <pagination> anyway, the remaining pages are fetched with
// the page size it reported, and webhooks seen twice (the list shifting between pages) are
// returned once.
func (c *Client) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	const op = "ListWebhooks"
	page, err := c.listPage(ctx, nil)
	if err != nil {
		return nil, err
	}
	// The first page's webhooks are filtered in place: a copy of 10,000 is 1.7 MB.
	all := page.Webhooks[:0]
	seen := make(map[string]bool, len(page.Webhooks))
	// What most webhooks of a site share (their owner, event, the reason Tableau disabled
	// them) is kept once per List, not once per webhook: the operator keeps the list.
	shared := map[string]string{}
	intern := func(s *string) {
		if c, ok := shared[*s]; ok {
			*s = c
		} else {
			shared[*s] = *s
		}
	}
	add := func(ws []Webhook) {
		for _, w := range ws {
			if w.ID != "" && seen[w.ID] {
				continue
			}
			seen[w.ID] = true
			for _, f := range []*string{&w.Event, &w.LegacyEvent, &w.StatusChangeReason, &w.OwnerID, &w.OwnerName} {
				intern(f)
			}
			all = append(all, w)
		}
	}
	add(page.Webhooks)
	if !page.Paginated {
		return all, nil
	}
	size := page.PageSize
	if size <= 0 {
		size = len(page.Webhooks)
	}
	number := page.PageNumber
	if number <= 0 {
		number = 1
	}
	for pages := 1; page.Paginated && size > 0 && len(page.Webhooks) > 0 && page.TotalAvailable > number*size; pages++ {
		if pages >= maxListPages {
			// A partial list would make existing webhooks look deleted: fail instead.
			return nil, &Error{Operation: op, StatusCode: http.StatusOK, Err: fmt.Errorf("more than %d pages of webhooks", maxListPages)}
		}
		number++
		page, err = c.listPage(ctx, url.Values{"pageSize": {strconv.Itoa(size)}, "pageNumber": {strconv.Itoa(number)}})
		if err != nil {
			return nil, err
		}
		add(page.Webhooks)
	}
	return all, nil
}

func (c *Client) listPage(ctx context.Context, query url.Values) (webhookPage, error) {
	const op = "ListWebhooks"
	resp, err := c.siteCall(ctx, op, http.MethodGet, "", query, nil, http.StatusOK)
	if err != nil {
		return webhookPage{}, err
	}
	page, err := decodeWebhookList(resp.body)
	if err != nil {
		return webhookPage{}, c.responseError(ctx, op, resp, err)
	}
	return page, nil
}

// GetWebhook returns one webhook; IsNotFound(err) when it does not exist.
func (c *Client) GetWebhook(ctx context.Context, id string) (Webhook, error) {
	const op = "GetWebhook"
	if id == "" {
		return Webhook{}, fmt.Errorf("tableau %s: %w", op, errEmptyID)
	}
	resp, err := c.siteCall(ctx, op, http.MethodGet, "/"+url.PathEscape(id), nil, nil, http.StatusOK)
	if err != nil {
		return Webhook{}, err
	}
	w, err := decodeWebhook(resp.body)
	if err != nil {
		return Webhook{}, c.responseError(ctx, op, resp, err)
	}
	return w, nil
}

// CreateWebhook creates a webhook (event attribute form, API 3.9+) and returns it as
// Tableau stored it. When the server answers 201 without a readable body, the webhook is
// still returned, with the id from the Location header: the webhook exists, and an error
// here would make the caller create a duplicate.
func (c *Client) CreateWebhook(ctx context.Context, spec WebhookSpec) (Webhook, error) {
	const op = "CreateWebhook"
	body, err := encodeWebhook(spec)
	if err != nil {
		return Webhook{}, &Error{Operation: op, Err: err}
	}
	resp, err := c.siteCall(ctx, op, http.MethodPost, "", nil, body, http.StatusCreated, http.StatusOK)
	if err != nil {
		return Webhook{}, err
	}
	w, err := decodeWebhook(resp.body)
	if err == nil && w.ID != "" {
		return w, nil
	}
	if id := idFromLocation(resp.header.Get("Location")); id != "" {
		return specWebhook(id, spec), nil
	}
	if err == nil {
		err = errors.New("decode response: webhook without an id")
	}
	return Webhook{}, c.responseError(ctx, op, resp, err)
}

// UpdateWebhook replaces the webhook's name, event, destination and enabled state. Tableau
// documents 201 for this PUT; 200 is accepted too. A success without a readable body yields
// the spec as sent.
func (c *Client) UpdateWebhook(ctx context.Context, id string, spec WebhookSpec) (Webhook, error) {
	const op = "UpdateWebhook"
	if id == "" {
		return Webhook{}, fmt.Errorf("tableau %s: %w", op, errEmptyID)
	}
	body, err := encodeWebhook(spec)
	if err != nil {
		return Webhook{}, &Error{Operation: op, Err: err}
	}
	resp, err := c.siteCall(ctx, op, http.MethodPut, "/"+url.PathEscape(id), nil, body, http.StatusOK, http.StatusCreated)
	if err != nil {
		return Webhook{}, err
	}
	w, err := decodeWebhook(resp.body)
	if err != nil {
		c.log.V(1).Info("Update Webhook response unreadable; assuming the spec was applied", "webhookID", id, "error", c.redactor(ctx, "").Redact(err.Error()))
		return specWebhook(id, spec), nil
	}
	if w.ID == "" {
		w.ID = id
	}
	return w, nil
}

// TestWebhook asks Tableau to call the destination now (a GET, as documented) and returns
// what the destination answered. A missing webhook is IsNotFound (Tableau's 400113 or 404).
func (c *Client) TestWebhook(ctx context.Context, id string) (TestResult, error) {
	const op = "TestWebhook"
	if id == "" {
		return TestResult{}, fmt.Errorf("tableau %s: %w", op, errEmptyID)
	}
	resp, err := c.siteCall(ctx, op, http.MethodGet, "/"+url.PathEscape(id)+"/test", nil, nil, http.StatusOK)
	if err != nil {
		return TestResult{}, err
	}
	r, err := decodeTestResult(resp.body)
	if err != nil {
		return TestResult{}, c.responseError(ctx, op, resp, err)
	}
	if r.WebhookID == "" {
		r.WebhookID = id
	}
	return r, nil
}

// DeleteWebhook deletes a webhook; IsNotFound(err) when it was already gone.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	const op = "DeleteWebhook"
	if id == "" {
		return fmt.Errorf("tableau %s: %w", op, errEmptyID)
	}
	_, err := c.siteCall(ctx, op, http.MethodDelete, "/"+url.PathEscape(id), nil, nil, http.StatusNoContent, http.StatusOK)
	return err
}

// siteCall makes a call under /api/{v}/sites/{site-luid}/webhooks with the session token.
// When Tableau refuses the token (expired, or ended by a sign-in elsewhere with the same
// PAT) it signs in again once, single-flight, and retries once; a second 401 is returned.
func (c *Client) siteCall(ctx context.Context, op, method, suffix string, query url.Values, body []byte, ok ...int) (*response, error) {
	if err := c.checkOpen(op); err != nil {
		return nil, err
	}
	sess, tok, err := c.ensureSession(ctx, "")
	if err != nil {
		return nil, err
	}
	resp, err := c.roundTrip(ctx, request{op: op, method: method, url: c.siteURL(sess, suffix, query), body: body, token: tok})
	if err != nil {
		return nil, err
	}
	if resp.status == http.StatusUnauthorized {
		c.log.V(1).Info("Tableau refused the session token; signing in again", "operation", op)
		if sess, tok, err = c.ensureSession(ctx, tok); err != nil {
			return nil, err
		}
		if resp, err = c.roundTrip(ctx, request{op: op, method: method, url: c.siteURL(sess, suffix, query), body: body, token: tok}); err != nil {
			return nil, err
		}
	}
	if err := c.expect(ctx, op, resp, tok, ok...); err != nil {
		return nil, err
	}
	return resp, nil
}

func (c *Client) siteURL(s Session, suffix string, query url.Values) string {
	c.mu.Lock()
	base := c.base
	c.mu.Unlock()
	u := c.apiURL(base, s.APIVersion, "/sites/"+url.PathEscape(s.SiteID)+"/webhooks"+suffix)
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return u
}

// idFromLocation takes the webhook id from Create's Location
// (/api/<v>/sites/<site-id>/webhooks/<id>).
func idFromLocation(loc string) string {
	u, err := url.Parse(loc)
	if err != nil || u.Path == "" {
		return ""
	}
	dir, id := path.Split(path.Clean(u.Path))
	if path.Base(path.Clean(dir)) != "webhooks" {
		return ""
	}
	return id
}

func specWebhook(id string, spec WebhookSpec) Webhook {
	w := Webhook{ID: id, Name: spec.Name, Event: spec.Event, URL: spec.URL, Enabled: spec.Enabled}
	if !spec.Enabled {
		w.StatusChangeReason = "Webhook disabled by user" // Tableau's documented default
	}
	return w
}
