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
	"regexp"
	"strconv"
	"strings"
	"time"
)

// MinAPIVersion is the oldest REST API version the client works with: 3.9 (Tableau 2020.3)
// is where webhooks gained the event attribute, and Update Webhook exists from 3.8.
const MinAPIVersion = "3.9"

// ErrUnsupportedVersion is wrapped by the error returned when the server's (or the pinned)
// REST API version is older than MinAPIVersion. Retrying cannot fix it.
var ErrUnsupportedVersion = errors.New("tableau: REST API version not supported")

// ErrCredentialsInUse is wrapped by Pool.Get when a personal access token (the same name and
// secret) is already in use for another site of the same server, or by another owner with
// other connection settings: a PAT holds one session, so two clients sharing it would sign
// each other out forever.
var ErrCredentialsInUse = errors.New("tableau: credentials already in use")

// ErrClientClosed is the cause of an *Error returned by a Client after Close (for example
// after the Pool dropped it because no owner claims it any more: its owner's secret rotated
// or its settings changed). It is transient: fetching the client from the Pool again yields
// a working one.
var ErrClientClosed = errors.New("tableau: client closed")

// ErrPoolClosed is returned by Pool.Get after Pool.Close, so that a reconcile racing the
// manager's shutdown cannot open a session nobody will end.
var ErrPoolClosed = errors.New("tableau: session pool closed")

// Tableau error codes the predicates need. Codes start with the HTTP status they come with.
const (
	codeWebhookNotFoundOnTest = "400113" // Test Webhook: "webhook does not exist", a 400-class not-found
	codeSiteNotFound          = "404000" // the site LUID in the URI names no site (deleted)
)

// Error is a failed Tableau REST API call. It never contains a token, PAT secret or password:
// the client redacts them from anything the server echoes.
type Error struct {
	// Operation is the client operation that failed, e.g. "CreateWebhook".
	Operation string
	// StatusCode is the HTTP status; 0 when there was no response (network error, timeout,
	// rate-limiter wait cancelled, client closed).
	StatusCode int
	// Code is Tableau's 6-digit error code; "" when the body had none (e.g. an HTML 429 page).
	Code string
	// Summary and Detail are Tableau's <summary> and <detail> texts.
	Summary, Detail string
	// RetryAfter is the server's Retry-After (seconds or HTTP date) when present.
	RetryAfter time.Duration
	// Err is the underlying cause: network error, context deadline, decode error.
	Err error
}

// Error formats the failure for logs and conditions; it carries no secrets.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("tableau ")
	b.WriteString(e.Operation)
	b.WriteString(": ")
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
		if e.Code != "" {
			fmt.Fprintf(&b, " (code %s)", e.Code)
		}
		if e.Summary != "" {
			b.WriteString(": ")
			b.WriteString(e.Summary)
		}
		if e.Detail != "" {
			b.WriteString(": ")
			b.WriteString(e.Detail)
		}
		if e.Err != nil {
			b.WriteString(": ")
		}
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap exposes the cause so that errors.Is(err, context.DeadlineExceeded) works.
func (e *Error) Unwrap() error { return e.Err }

func asError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// IsNotFound reports a missing resource: HTTP 404, or Tableau's 400113 "webhook does not
// exist" from Test Webhook. Deleting something that is not found counts as deleted.
func IsNotFound(err error) bool {
	e, ok := asError(err)
	return ok && (e.StatusCode == http.StatusNotFound || e.Code == codeWebhookNotFoundOnTest)
}

// IsSiteNotFound reports that Tableau no longer knows the site the session is for (404 with
// code 404000): the site was deleted while the session lasted. A webhook that is not found
// is IsNotFound but not IsSiteNotFound.
func IsSiteNotFound(err error) bool {
	e, ok := asError(err)
	return ok && e.StatusCode == http.StatusNotFound && e.Code == codeSiteNotFound
}

// IsUnauthorized reports HTTP 401: sign-in refused the credentials, or the token was refused
// again after the client's one re-sign-in.
func IsUnauthorized(err error) bool {
	e, ok := asError(err)
	return ok && e.StatusCode == http.StatusUnauthorized
}

// IsForbidden reports HTTP 403, e.g. the credentials are not a site administrator's.
func IsForbidden(err error) bool {
	e, ok := asError(err)
	return ok && e.StatusCode == http.StatusForbidden
}

// IsRejected reports that Tableau refused the request as invalid (400, 409, 422 and other
// 4xx that are not about authentication, existence, timeouts or rate limits): sending the
// same spec again will fail again.
func IsRejected(err error) bool {
	e, ok := asError(err)
	if !ok || e.StatusCode < 400 || e.StatusCode >= 500 {
		return false
	}
	switch e.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return e.Code != codeWebhookNotFoundOnTest
}

// IsRateLimited reports HTTP 429 and the server's Retry-After (0 when absent), so the caller
// can requeue no earlier than the server asked.
func IsRateLimited(err error) (time.Duration, bool) {
	e, ok := asError(err)
	if !ok || e.StatusCode != http.StatusTooManyRequests {
		return 0, false
	}
	return e.RetryAfter, true
}

// IsTransient reports failures worth retrying with backoff: 5xx, 429, 408, and calls that got
// no response (network errors, timeouts, a closed client) unless the caller cancelled them.
func IsTransient(err error) bool {
	e, ok := asError(err)
	if !ok {
		return false
	}
	switch {
	case e.StatusCode >= 500, e.StatusCode == http.StatusTooManyRequests, e.StatusCode == http.StatusRequestTimeout:
		return true
	case e.StatusCode == 0:
		return !errors.Is(e.Err, context.Canceled)
	}
	return false
}

// IsUnsupportedVersion reports that the server's or the pinned REST API version is older
// than MinAPIVersion.
func IsUnsupportedVersion(err error) bool { return errors.Is(err, ErrUnsupportedVersion) }

// IsClientClosed reports a call on a closed Client (see ErrClientClosed): the holder should
// drop it and get the current client from the Pool.
func IsClientClosed(err error) bool { return errors.Is(err, ErrClientClosed) }

// IsCredentialsInUse reports that Pool.Get refused to share a personal access token between
// two sites.
func IsCredentialsInUse(err error) bool { return errors.Is(err, ErrCredentialsInUse) }

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP date; anything else, or a
// date in the past, is 0 (no hint).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, ok := parseUint(v); ok {
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, maxRetryAfter)
		}
	}
	return 0
}

// retryAfterText finds the retry hint Tableau Cloud writes into a 429's error text instead of
// a Retry-After header: "Too many requests for 'api.rest.refresh_extracts'. Please retry after
// 29 minutes." (REFERENCE 10.2).
var retryAfterText = regexp.MustCompile(`(?i)\bretry\s+after\s+(\d{1,9})\s*(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h)\b`)

// parseRetryAfterText reads that hint; 0 when there is none.
func parseRetryAfterText(texts ...string) time.Duration {
	for _, t := range texts {
		m := retryAfterText.FindStringSubmatch(t)
		if m == nil {
			continue
		}
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			continue
		}
		unit := time.Second
		switch strings.ToLower(m[2])[0] {
		case 'm':
			unit = time.Minute
		case 'h':
			unit = time.Hour
		}
		if n > int64(maxRetryAfter/unit) {
			return maxRetryAfter
		}
		return time.Duration(n) * unit
	}
	return 0
}

// maxRetryAfter caps a server's Retry-After: beyond a day the hint is more likely a
// misconfiguration than a plan, and a requeue that far out would look like a hang.
const maxRetryAfter = 24 * time.Hour

func parseUint(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
		if n > (1<<62)/10 {
			n = 1 << 62 // saturate; callers cap
			continue
		}
		n = n*10 + int64(r-'0')
	}
	return n, true
}
