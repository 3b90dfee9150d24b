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

// Package tableau is a client for the webhook endpoints of the Tableau Server / Tableau Cloud
// REST API: sign-in sessions shared per credential, version discovery, rate limiting, typed
// errors and tolerant XML decoding. It knows nothing of Kubernetes.
package tableau

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/redact"
)

// Defaults for Config fields left zero. They match the manager's flag defaults (DESIGN 3.6).
const (
	DefaultQPS     = 10
	DefaultBurst   = 20
	DefaultTimeout = 30 * time.Second
)

const (
	// maxResponseBytes bounds what one response may make the client hold in memory; a List
	// page of 1000 webhooks is well under 1 MiB.
	maxResponseBytes = 16 << 20
	// maxErrorText bounds Summary and Detail, which end up in conditions and events.
	maxErrorText = 1024
	// probeAPIVersion is the version serverinfo is first asked at. Servers answer 404 for
	// versions they do not know, and anything older than this is unsupported anyway.
	probeAPIVersion = MinAPIVersion
	// legacyProbeAPIVersion is the oldest version serverinfo exists at; asked only after the
	// probe got a 404, to tell an old server (UnsupportedVersion) from a wrong URL.
	legacyProbeAPIVersion = "2.4"
)

// Observer receives one call per HTTP request and per sign-in, for metrics (DESIGN 3.5).
// Implementations must be safe for concurrent use and must not block.
type Observer interface {
	// ObserveRequest reports one HTTP request. operation is one of "ServerInfo", "SignIn",
	// "SignOut", "ListWebhooks", "GetWebhook", "CreateWebhook", "UpdateWebhook",
	// "TestWebhook", "DeleteWebhook"; statusCode is 0 when no HTTP response arrived (network
	// error, timeout).
	ObserveRequest(operation string, statusCode int, duration time.Duration)
	// ObserveSignIn reports a sign-in: "success", "failure" (credentials refused) or "error"
	// (anything else: network, server error, unreadable response).
	ObserveSignIn(result string)
}

// Config configures a Client.
type Config struct {
	// ServerURL is http(s)://host[:port][/prefix] without the trailing /api.
	ServerURL string
	// Site is the site's contentUrl; "" is the Default site.
	Site string
	// APIVersion pins the REST API version, like "3.24"; "" discovers it via serverinfo.
	APIVersion string
	// Credentials sign in; exactly one kind must be set.
	Credentials Credentials
	// HTTPClient carries the transport (TLS settings); nil uses a default one. The client
	// uses a copy that does not follow redirects, so that X-Tableau-Auth, which Go does not
	// strip on cross-host redirects, never reaches another host.
	HTTPClient *http.Client
	// HTTPClientKey identifies HTTPClient's settings (for example a hash of the CA bundle
	// and insecureSkipVerify). Pool compares it, not the pointer, to decide whether a cached
	// client can be reused, so callers may build a fresh *http.Client on every Get.
	HTTPClientKey string
	// QPS and Burst size the client-side token bucket; <=0 means DefaultQPS / DefaultBurst.
	QPS   float64
	Burst int
	// Timeout bounds each HTTP call; <=0 means DefaultTimeout.
	Timeout time.Duration
	// Observer receives metrics hooks; may be nil.
	Observer Observer
	// Logger receives V(1) request logs; the zero value discards.
	Logger logr.Logger
}

// withDefaults fills the zero fields the way NewClient does, so Pool can compare configs.
func (cfg Config) withDefaults() Config {
	if cfg.QPS <= 0 {
		cfg.QPS = DefaultQPS
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	cfg.APIVersion = strings.TrimSpace(cfg.APIVersion)
	return cfg
}

// Client calls one site of one Tableau server with one credential. It holds at most one
// session, signs in lazily and again once when a token is refused, and is safe for
// concurrent use. Share it through a Pool: a personal access token holds one session, so two
// clients with the same token would sign each other out.
type Client struct {
	cfg     Config
	http    *http.Client
	limiter *rate.Limiter
	log     logr.Logger
	// logKV identifies the client in log lines written through a caller's logger.
	logKV []any
	obs   Observer

	// signInSem serialises sign-in and sign-out (a channel, not a mutex, so that waiting
	// honours the caller's context). Concurrent callers that find no usable token queue
	// here and all but the first find the fresh token when they get in: exactly one sign-in.
	signInSem chan struct{}

	mu sync.Mutex
	// signInAttempts counts finished sign-ins, and signInRefused is the last one's error when
	// Tableau refused the credentials: callers that queued behind a refused sign-in share it.
	signInAttempts int
	signInRefused  error
	base           string // scheme://host[/prefix]; moves when sign-in is redirected (Tableau Cloud pods)
	version        string
	token          secret
	session        Session
	closed         bool
}

// redactedText stands in for the client's own secrets (PAT secret, password, tokens)
// wherever they would otherwise be printed or echoed.
const redactedText = "<redacted>"

// secret is a session token. Its formatting methods keep it out of logs and %v dumps.
type secret string

func (secret) String() string               { return redactedText }
func (secret) GoString() string             { return redactedText }
func (secret) Format(f fmt.State, _ rune)   { _, _ = io.WriteString(f, redactedText) }
func (secret) MarshalLog() any              { return redactedText }
func (secret) MarshalText() ([]byte, error) { return []byte(redactedText), nil }

// NewClient validates cfg and returns a client. It makes no network call: the version is
// discovered and the session opened by the first call that needs them.
func NewClient(cfg Config) (*Client, error) {
	base, err := NormalizeServerURL(cfg.ServerURL)
	if err != nil {
		return nil, fmt.Errorf("tableau: %w", err)
	}
	if err := cfg.Credentials.validate(); err != nil {
		return nil, fmt.Errorf("tableau: %w", err)
	}
	cfg = cfg.withDefaults()
	if cfg.APIVersion != "" {
		if err := checkAPIVersion(cfg.APIVersion); err != nil {
			return nil, fmt.Errorf("tableau: apiVersion: %w", err)
		}
	}
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		copied := *cfg.HTTPClient
		hc = &copied
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	log := cfg.Logger
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	logKV := []any{"tableauServer", base, "tableauSite", cfg.Site, "tableauCredentials", cfg.Credentials.Identity()}
	c := &Client{
		cfg:       cfg,
		http:      hc,
		limiter:   rate.NewLimiter(rate.Limit(cfg.QPS), cfg.Burst),
		log:       log.WithValues(logKV...),
		logKV:     logKV,
		obs:       cfg.Observer,
		signInSem: make(chan struct{}, 1),
		base:      base,
		version:   cfg.APIVersion,
	}
	return c, nil
}

// NormalizeServerURL checks a Tableau server URL and returns it in one canonical form:
// scheme and host in lower case, no default port (:443 for https, :80 for http), no trailing
// slash. Two URLs that name the same server normalise to the same string, so that sessions
// and per-site caches keyed by it are shared rather than duplicated, e.g.
// https://Tableau.example.com:443/ and https://tableau.example.com. Credentials in the URL
// are refused (they belong in Credentials, where they are redacted), and so are a query, a
// fragment and a trailing /api, which the client adds itself.
func NormalizeServerURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("serverURL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("serverURL is not a valid URL")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", fmt.Errorf("serverURL scheme must be http or https, not %q", u.Scheme)
	case u.Host == "":
		return "", errors.New("serverURL has no host")
	case u.User != nil:
		return "", errors.New("serverURL must not contain credentials")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", errors.New("serverURL must not have a query or fragment")
	}
	path := strings.TrimRight(u.EscapedPath(), "/")
	if strings.HasSuffix(strings.ToLower(path), "/api") {
		return "", errors.New("serverURL must not end in /api: the client adds /api/<version>")
	}
	return scheme + "://" + normalizeHost(scheme, u) + path, nil
}

// defaultPorts are the ports a URL without one means.
var defaultPorts = map[string]int{"http": 80, "https": 443}

// normalizeHost lowercases u's host and drops its port when it is the scheme's default
// (or empty, as in "host:"). Only the port suffix is touched, so IPv6 literals keep their
// brackets and zones their escaping.
func normalizeHost(scheme string, u *url.URL) string {
	host := strings.ToLower(u.Host)
	port := u.Port()
	if port == "" {
		return strings.TrimSuffix(host, ":")
	}
	hostname := strings.TrimSuffix(host, ":"+port)
	n, err := strconv.Atoi(port)
	switch {
	case err != nil:
		return host
	case n == defaultPorts[scheme]:
		return hostname
	}
	return hostname + ":" + strconv.Itoa(n) // "0443" and "443" are one port
}

// String identifies the client without its token.
func (c *Client) String() string {
	c.mu.Lock()
	base := c.base
	c.mu.Unlock()
	return fmt.Sprintf("tableau.Client{server=%s site=%q credentials=%s}", base, c.cfg.Site, c.cfg.Credentials.Identity())
}

// Format makes every fmt verb print String: the default struct dump would print the token.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// Closed reports whether the client was closed, by its owner or by the Pool when no owner
// claims it any more (its owner's credentials or settings changed, the site was deleted,
// the manager is stopping). A closed client fails every call with ErrClientClosed; a holder
// that finds its client closed gets the current one from Pool.Get.
func (c *Client) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// APIVersion is the REST API version in use: the pinned one, or the discovered one ("" until
// the first discovery).
func (c *Client) APIVersion() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version
}

// request is one HTTP call.
type request struct {
	op     string
	method string
	url    string
	body   []byte
	token  secret
}

// response is a fully read HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// roundTrip makes one rate-limited, time-bounded HTTP call, observes and logs it. It returns
// an error only when no complete response arrived; status checking is the caller's.
func (c *Client) roundTrip(ctx context.Context, r request) (*response, error) {
	if err := c.limiter.Wait(ctx); err != nil {
		return nil, &Error{Operation: r.op, Err: fmt.Errorf("waiting for the client-side rate limit: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()

	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return nil, &Error{Operation: r.op, Err: err}
	}
	req.Header.Set("Accept", "application/xml")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/xml")
	}
	if r.token != "" {
		req.Header.Set("X-Tableau-Auth", string(r.token))
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		d := time.Since(start)
		c.observe(ctx, r, 0, d, err)
		return nil, &Error{Operation: r.op, Err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	d := time.Since(start)
	c.observe(ctx, r, resp.StatusCode, d, err)
	if err != nil {
		// A body cut off mid-way is a network failure, not an answer: report no response.
		return nil, &Error{Operation: r.op, Err: fmt.Errorf("reading HTTP %d response: %w", resp.StatusCode, err)}
	}
	if len(data) > maxResponseBytes {
		return nil, &Error{Operation: r.op, StatusCode: resp.StatusCode, Err: fmt.Errorf("response body larger than %d bytes", maxResponseBytes)}
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// observe feeds metrics and the V(1) log. Only the operation, method, path, status and
// duration are logged: never headers (X-Tableau-Auth) or bodies (sign-in secrets). A logger
// in ctx (a reconcile's, naming the resource) is preferred to the client's own.
func (c *Client) observe(ctx context.Context, r request, status int, d time.Duration, err error) {
	if c.obs != nil {
		c.obs.ObserveRequest(r.op, status, d)
	}
	log := c.log
	if l, lerr := logr.FromContext(ctx); lerr == nil {
		log = l.WithValues(c.logKV...)
	}
	if log := log.V(1); log.Enabled() {
		path := r.url
		if u, perr := url.Parse(r.url); perr == nil {
			path = u.EscapedPath()
		}
		kv := []any{"operation", r.op, "method", r.method, "path", path, "status", status, "duration", d}
		if err != nil {
			kv = append(kv, "error", err.Error())
		}
		log.Info("Tableau API request", kv...)
	}
}

func (c *Client) observeSignIn(result string) {
	if c.obs != nil {
		c.obs.ObserveSignIn(result)
	}
}

// expect turns a response whose status is not one of ok into an *Error.
func (c *Client) expect(ctx context.Context, op string, resp *response, usedToken secret, ok ...int) error {
	for _, s := range ok {
		if resp.status == s {
			return nil
		}
	}
	return c.apiError(ctx, op, resp, usedToken)
}

// apiError builds the typed error for a failed response. Whatever the server echoes is
// scrubbed, before it is cut to size, of the credentials' secrets, the tokens and the
// secrets the caller put in ctx (a Secret-sourced destination URL), so that it can reach a
// log, an Event or a condition. Redacting after truncating would let the part of a secret
// before the cut survive.
func (c *Client) apiError(ctx context.Context, op string, resp *response, usedToken secret) *Error {
	e := &Error{
		Operation:  op,
		StatusCode: resp.status,
		RetryAfter: parseRetryAfter(resp.header.Get("Retry-After"), time.Now()),
	}
	r := c.redactor(ctx, usedToken)
	if ae, ok := decodeError(resp.body); ok {
		e.Code = truncate(r.Redact(ae.Code), 16)
		e.Summary = truncate(r.Redact(ae.Summary), maxErrorText)
		e.Detail = truncate(r.Redact(ae.Detail), maxErrorText)
		if e.RetryAfter == 0 && resp.status == http.StatusTooManyRequests {
			// Tableau Cloud says when to come back in words, without the header.
			e.RetryAfter = parseRetryAfterText(ae.Detail, ae.Summary)
		}
		return e
	}
	e.Summary = http.StatusText(resp.status)
	if len(bytes.TrimSpace(resp.body)) > 0 {
		mt, _, _ := mime.ParseMediaType(resp.header.Get("Content-Type"))
		if mt == "" {
			mt = "unknown"
		}
		e.Detail = "response body is not a Tableau error (" + truncate(r.Redact(mt), 64) + ")"
	}
	return e
}

// responseError is the *Error for a response the client cannot use (unreadable body, a
// missing element). Decoder messages may quote the body, so the cause's text is redacted
// like apiError's; when redaction changed it, the cause is replaced by its redacted text,
// because keeping the original in the chain would let anyone who unwraps it print the secret.
func (c *Client) responseError(ctx context.Context, op string, resp *response, err error) *Error {
	if msg := c.redactor(ctx, "").Redact(err.Error()); msg != err.Error() {
		err = errors.New(msg)
	}
	return &Error{Operation: op, StatusCode: resp.status, Err: err}
}

// redactor removes every secret the client knows (the credentials' secret, the current
// token and usedToken, which a concurrent re-sign-in may already have replaced) and every
// secret the caller registered in ctx with redact.NewContext.
func (c *Client) redactor(ctx context.Context, usedToken secret) *redact.Redactor {
	c.mu.Lock()
	current := c.token
	c.mu.Unlock()
	secrets := append(c.cfg.Credentials.secrets(), string(current), string(usedToken))
	pairs := make([]redact.Pair, 0, len(secrets))
	for _, s := range secrets {
		pairs = append(pairs, redact.Pair{Secret: s, Display: redactedText})
	}
	return redact.FromContext(ctx).With(pairs...)
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// apiURL joins the base URL, the API version and path (already escaped).
func (c *Client) apiURL(base, version, path string) string {
	return base + "/api/" + url.PathEscape(version) + path
}

// checkOpen refuses calls after Close, so that a client the Pool dropped (rotated
// credentials) cannot sign in again and evict its replacement's session.
func (c *Client) checkOpen(op string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return &Error{Operation: op, Err: ErrClientClosed}
	}
	return nil
}
