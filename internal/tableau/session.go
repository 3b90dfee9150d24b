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
	"strings"
)

// maxSignInRedirects bounds how often sign-in follows Tableau Cloud's 301 to a pod.
const maxSignInRedirects = 3

// ServerInfo is what serverinfo reports.
type ServerInfo struct {
	// ProductVersion is the Tableau release, e.g. "2025.1.2".
	ProductVersion string
	// Build is the build number, e.g. "20251.25.0312.1012".
	Build string
	// RESTAPIVersion is the newest REST API version the server speaks, e.g. "3.25".
	RESTAPIVersion string
}

// Session describes a signed-in session. It never holds the token.
type Session struct {
	// SiteID is the site's LUID, which webhook paths use.
	SiteID string
	// SiteContentURL is the site's contentUrl as Tableau reports it.
	SiteContentURL string
	// UserID is the LUID of the signed-in user (the PAT's owner).
	UserID string
	// APIVersion is the REST API version the session uses.
	APIVersion string
}

// ServerInfo asks the server for its versions. It needs no session. Before the version is
// known it is also the discovery call: it adopts the server's REST API version and fails
// with ErrUnsupportedVersion (returning the info it got, for status reporting) when the
// server is older than MinAPIVersion.
func (c *Client) ServerInfo(ctx context.Context) (ServerInfo, error) {
	if err := c.checkOpen("ServerInfo"); err != nil {
		return ServerInfo{}, err
	}
	c.mu.Lock()
	v, base := c.version, c.base
	c.mu.Unlock()
	if v != "" {
		return c.getServerInfo(ctx, base, v)
	}
	return c.discoverVersion(ctx)
}

func (c *Client) getServerInfo(ctx context.Context, base, version string) (ServerInfo, error) {
	const op = "ServerInfo"
	resp, err := c.roundTrip(ctx, request{op: op, method: http.MethodGet, url: c.apiURL(base, version, "/serverinfo")})
	if err != nil {
		return ServerInfo{}, err
	}
	if err := c.expect(ctx, op, resp, "", http.StatusOK); err != nil {
		return ServerInfo{}, err
	}
	info, err := decodeServerInfo(resp.body)
	if err != nil {
		return ServerInfo{}, c.responseError(ctx, op, resp, err)
	}
	return info, nil
}

// discoverVersion asks serverinfo at the lowest supported version and adopts the server's
// version. A server older than that answers 404; the question is then asked again at 2.4,
// where every server answers, so that an old server is reported as UnsupportedVersion with
// its real version rather than as "not found".
func (c *Client) discoverVersion(ctx context.Context) (ServerInfo, error) {
	c.mu.Lock()
	base := c.base
	c.mu.Unlock()
	info, err := c.getServerInfo(ctx, base, probeAPIVersion)
	if IsNotFound(err) {
		if old, oldErr := c.getServerInfo(ctx, base, legacyProbeAPIVersion); oldErr == nil {
			if verr := checkAPIVersion(old.RESTAPIVersion); errors.Is(verr, ErrUnsupportedVersion) {
				return old, fmt.Errorf("tableau ServerInfo: Tableau %s: %w", old.ProductVersion, verr)
			}
		}
		return ServerInfo{}, err
	}
	if err != nil {
		return ServerInfo{}, err
	}
	if err := checkAPIVersion(info.RESTAPIVersion); err != nil {
		return info, fmt.Errorf("tableau ServerInfo: Tableau %s: %w", info.ProductVersion, err)
	}
	c.mu.Lock()
	if c.version == "" {
		c.version = info.RESTAPIVersion
	}
	c.mu.Unlock()
	c.log.V(1).Info("Discovered Tableau REST API version", "productVersion", info.ProductVersion, "restAPIVersion", info.RESTAPIVersion)
	return info, nil
}

// SignIn makes sure a session exists and returns it; it signs in only when there is none.
func (c *Client) SignIn(ctx context.Context) (Session, error) {
	s, _, err := c.ensureSession(ctx, "")
	return s, err
}

// ensureSession returns a session whose token is not stale (stale "" accepts any token).
// Sign-in is single-flight: callers that saw the same stale token queue on signInSem, and
// whoever enters after the first finds a different token and reuses it, so N callers that
// hit one expired token cause one sign-in, and a PAT's single session is never contested by
// this process.
func (c *Client) ensureSession(ctx context.Context, stale secret) (Session, secret, error) {
	if s, t, ok, err := c.currentSession(stale); err != nil || ok {
		return s, t, err
	}
	c.mu.Lock()
	attempts := c.signInAttempts
	c.mu.Unlock()
	select {
	case c.signInSem <- struct{}{}:
	case <-ctx.Done():
		return Session{}, "", &Error{Operation: "SignIn", Err: ctx.Err()}
	}
	defer func() { <-c.signInSem }()
	if s, t, ok, err := c.currentSession(stale); err != nil || ok {
		return s, t, err
	}
	// A sign-in that Tableau refused while this caller queued is its answer too: N callers
	// that hit one revoked token cause one refused sign-in, not N.
	c.mu.Lock()
	if c.signInAttempts != attempts && c.signInRefused != nil {
		err := c.signInRefused
		c.mu.Unlock()
		return Session{}, "", err
	}
	c.mu.Unlock()

	c.mu.Lock()
	version := c.version
	c.mu.Unlock()
	if version == "" {
		if _, err := c.discoverVersion(ctx); err != nil {
			return Session{}, "", err
		}
	}
	res, err := c.signIn(ctx)
	c.mu.Lock()
	c.signInAttempts++
	c.signInRefused = nil
	if err != nil && (IsUnauthorized(err) || IsForbidden(err)) {
		// The old token was refused and so are the credentials: keep neither, so that the
		// next call signs in (once the caller lets it) instead of sending a dead token.
		c.token, c.signInRefused = "", err
	}
	c.mu.Unlock()
	if err != nil {
		return Session{}, "", err
	}
	c.mu.Lock()
	res.session.APIVersion = c.version
	c.token, c.session = res.token, res.session
	c.mu.Unlock()
	c.log.V(1).Info("Signed in to Tableau", "siteID", res.session.SiteID, "userID", res.session.UserID, "apiVersion", res.session.APIVersion)
	return res.session, res.token, nil
}

// currentSession reports the current session if its token is usable.
func (c *Client) currentSession(stale secret) (Session, secret, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return Session{}, "", false, &Error{Operation: "SignIn", Err: ErrClientClosed}
	}
	if c.token != "" && c.token != stale {
		return c.session, c.token, true, nil
	}
	return Session{}, "", false, nil
}

// signIn posts the credentials, following Tableau Cloud's redirect to a pod by re-POSTing to
// Location (TSC does the same) and moving the client's base URL there.
func (c *Client) signIn(ctx context.Context) (signInResult, error) {
	const op = "SignIn"
	body, err := encodeSignIn(c.cfg.Credentials, c.cfg.Site)
	if err != nil {
		c.observeSignIn("error")
		return signInResult{}, &Error{Operation: op, Err: err}
	}
	c.mu.Lock()
	base, version := c.base, c.version
	c.mu.Unlock()
	target := c.apiURL(base, version, "/auth/signin")

	for redirects := 0; ; redirects++ {
		resp, err := c.roundTrip(ctx, request{op: op, method: http.MethodPost, url: target, body: body})
		if err != nil {
			c.observeSignIn("error")
			return signInResult{}, err
		}
		if isRedirect(resp.status) && redirects < maxSignInRedirects {
			next, nextBase, err := redirectTarget(target, resp.header.Get("Location"))
			if err != nil {
				c.observeSignIn("error")
				return signInResult{}, c.responseError(ctx, op, resp, err)
			}
			c.log.V(1).Info("Tableau redirected sign-in", "to", nextBase)
			target, base = next, nextBase
			continue
		}
		if err := c.expect(ctx, op, resp, "", http.StatusOK); err != nil {
			if resp.status == http.StatusUnauthorized {
				c.observeSignIn("failure")
			} else {
				c.observeSignIn("error")
			}
			return signInResult{}, err
		}
		res, err := decodeSignIn(resp.body)
		if err != nil {
			c.observeSignIn("error")
			return signInResult{}, c.responseError(ctx, op, resp, err)
		}
		c.mu.Lock()
		c.base = base
		c.mu.Unlock()
		c.observeSignIn("success")
		return res, nil
	}
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// redirectTarget resolves a sign-in redirect. It refuses to move from https to http, which
// would send the credentials in clear, and derives the new base URL from the part of the
// path before /api/.
func redirectTarget(current, location string) (target, base string, err error) {
	if location == "" {
		return "", "", errors.New("sign-in redirect without a Location")
	}
	cur, err := url.Parse(current)
	if err != nil {
		return "", "", err
	}
	loc, err := cur.Parse(location)
	if err != nil {
		return "", "", errors.New("sign-in redirect to an invalid Location")
	}
	scheme := strings.ToLower(loc.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", "", fmt.Errorf("sign-in redirect to unsupported scheme %q", loc.Scheme)
	case strings.EqualFold(cur.Scheme, "https") && scheme == "http":
		return "", "", errors.New("refusing sign-in redirect from https to http")
	case loc.User != nil:
		return "", "", errors.New("refusing sign-in redirect to a URL with credentials")
	}
	path := loc.EscapedPath()
	i := strings.Index(path, "/api/")
	if i < 0 {
		return "", "", errors.New("sign-in redirect to a path outside /api/")
	}
	loc.Scheme = scheme
	return loc.String(), scheme + "://" + strings.ToLower(loc.Host) + path[:i], nil
}

// SignOut ends the session, if any. The local session is forgotten even when the call
// fails, and a 401 counts as success: the token was no longer valid anyway.
func (c *Client) SignOut(ctx context.Context) error {
	const op = "SignOut"
	select {
	case c.signInSem <- struct{}{}:
	case <-ctx.Done():
		return &Error{Operation: op, Err: ctx.Err()}
	}
	defer func() { <-c.signInSem }()

	c.mu.Lock()
	tok, base, version := c.token, c.base, c.session.APIVersion
	c.token, c.session = "", Session{}
	c.mu.Unlock()
	if tok == "" {
		return nil
	}
	if version == "" {
		version = c.APIVersion()
	}
	resp, err := c.roundTrip(ctx, request{op: op, method: http.MethodPost, url: c.apiURL(base, version, "/auth/signout"), token: tok})
	if err != nil {
		return err
	}
	if resp.status == http.StatusUnauthorized {
		return nil
	}
	if err := c.expect(ctx, op, resp, tok, http.StatusNoContent, http.StatusOK); err != nil {
		return err
	}
	c.log.V(1).Info("Signed out of Tableau")
	return nil
}

// Close signs out and makes every later call fail with ErrClientClosed. The Pool closes the
// clients it drops; a caller still holding one then gets a transient error and, on retry,
// a fresh client from the Pool instead of a stale client that would sign in again.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.SignOut(ctx)
}
