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
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Pool shares one Client, and so one Tableau session, per credential (DESIGN 2.1, 3.1).
//
// Clients are keyed by server and by a fingerprint of the credential itself (name and
// secret), never by its name alone: PAT names are chosen per Tableau user, so two teams may
// each hold a token of the same name, and each gets its own session. The same PAT (same
// name and secret) holds one session, so on one server it may serve only one site with one
// set of connection settings: a second site, or another owner wanting other settings, gets
// ErrCredentialsInUse instead of the two evicting each other's session forever. Username/
// password sign-ins may hold several sessions, so they are keyed per site as well.
//
// Owners (opaque strings such as a TableauSite's "namespace/name") claim clients. An owner
// that calls Get again with a changed config (a rotated secret, another site, other
// settings) moves its claim; a client is signed out and closed when its last owner leaves
// it. A client is never reconfigured or swapped inside its entry, so a *Client is one
// generation of a session: its holder learns that it was superseded from Client.Closed or
// IsClientClosed and gets the current one from Get. Pool is safe for concurrent use.
type Pool struct {
	mu      sync.Mutex
	closed  bool
	entries map[string]*poolEntry // by session key
	owners  map[string]*poolEntry // owner -> the entry it claims
}

// poolEntry is one session: a client and the owners that claim it. Its key holds a
// credential fingerprint, so the key is never logged; identity names it in messages.
type poolEntry struct {
	key      string
	server   string
	site     string
	identity string
	secretFP string // the credential's fingerprint, also part of key; never logged
	settings string
	client   *Client
	owners   map[string]struct{}
}

// NewPool returns an empty pool.
func NewPool() *Pool {
	return &Pool{entries: map[string]*poolEntry{}, owners: map[string]*poolEntry{}}
}

// Get returns the shared Client for cfg's server, site and credentials on behalf of owner,
// creating it if needed (no network call). Owners with the same credentials (name and
// secret), site and settings share one client.
//
// It fails with ErrCredentialsInUse when the PAT is already used for another site of the
// server, or by another owner with different connection settings (API version, rate limits,
// timeout, HTTPClientKey). A PAT of the same name with another secret is another credential
// and gets its own client, leaving the first owner's untouched.
//
// When owner's own config changed (its secret rotated, or it moved to another site or other
// settings) its claim moves to the client for the new config, and the old client is signed
// out and closed, before Get returns, if no other owner claims it. Other owners keep the old
// client until they call Get with the new config themselves.
func (p *Pool) Get(ctx context.Context, owner string, cfg Config) (*Client, error) {
	server, err := NormalizeServerURL(cfg.ServerURL)
	if err != nil {
		return nil, fmt.Errorf("tableau: %w", err)
	}
	if err := cfg.Credentials.validate(); err != nil {
		return nil, fmt.Errorf("tableau: %w", err)
	}
	client, dropped, err := p.get(owner, server, cfg)
	// Sign out outside the lock: it is a network call and must not stall every other Get.
	// Old sessions end before the caller can sign in with the new client, so a rotated PAT
	// never has two sessions racing.
	closeClients(ctx, dropped)
	return client, err
}

// sessionKey is what decides which configs share a session: the server, the credential's
// fingerprint, and for username/password (which may hold several sessions) the site.
func sessionKey(server, fingerprint string, cfg Config) string {
	key := server + "\x00" + fingerprint
	if !cfg.Credentials.isPAT() {
		key += "\x00" + cfg.Site
	}
	return key
}

func (p *Pool) get(owner, server string, cfg Config) (*Client, []*Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, nil, ErrPoolClosed
	}
	identity := cfg.Credentials.Identity()
	fp := cfg.Credentials.fingerprint()
	key := sessionKey(server, fp, cfg)
	settings := settingsKey(cfg)

	var dropped []*Client
	// The owner's previous claim goes whenever it now wants something else, even if this
	// Get fails: it no longer uses that client.
	if prev := p.owners[owner]; prev != nil && (prev.key != key || prev.site != cfg.Site || prev.settings != settings) {
		if prev.secretFP != fp && prev.identity == identity {
			prev.client.log.V(1).Info("Credentials changed; leaving the shared Tableau session", "owner", owner, "remainingOwners", len(prev.owners)-1)
		}
		dropped = append(dropped, p.unclaim(owner, prev)...)
	}

	if e := p.entries[key]; e != nil {
		// An entry that does not match cfg has other owners (the owner's own claim on it was
		// dropped above, and an entry nobody claims is removed), so it is never reconfigured
		// under them: the caller is refused instead.
		switch {
		case e.site != cfg.Site:
			return nil, dropped, &CredentialsInUseError{Owners: otherOwners(e.owners, owner),
				msg: fmt.Sprintf("%s on %s already serves site %q (for %s); a personal access token holds one session, so use a separate token per site",
					identity, server, e.site, ownerList(e.owners, owner))}
		case e.settings != settings:
			return nil, dropped, &CredentialsInUseError{Owners: otherOwners(e.owners, owner),
				msg: fmt.Sprintf("%s on %s is already used by %s with different connection settings", identity, server, ownerList(e.owners, owner))}
		}
		e.owners[owner] = struct{}{}
		p.owners[owner] = e
		return e.client, dropped, nil
	}

	c, err := NewClient(cfg)
	if err != nil {
		return nil, dropped, err
	}
	e := &poolEntry{key: key, server: server, site: cfg.Site, identity: identity, secretFP: fp, settings: settings, client: c, owners: map[string]struct{}{owner: {}}}
	p.entries[key] = e
	p.owners[owner] = e
	return c, dropped, nil
}

// unclaim drops owner's claim on e and returns e's client if nobody claims it any more.
func (p *Pool) unclaim(owner string, e *poolEntry) []*Client {
	delete(e.owners, owner)
	delete(p.owners, owner)
	if len(e.owners) == 0 && p.entries[e.key] == e {
		delete(p.entries, e.key)
		return []*Client{e.client}
	}
	return nil
}

// Size reports the sessions (clients) the pool holds and the claims on them.
func (p *Pool) Size() (sessions, owners int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.entries), len(p.owners)
}

// Release drops owner's claim; the client is signed out when no owner remains.
func (p *Pool) Release(ctx context.Context, owner string) {
	p.mu.Lock()
	var dropped []*Client
	if e := p.owners[owner]; e != nil {
		dropped = p.unclaim(owner, e)
	}
	p.mu.Unlock()
	closeClients(ctx, dropped)
}

// Close signs every session out, concurrently, and refuses later Gets (manager shutdown).
func (p *Pool) Close(ctx context.Context) {
	p.mu.Lock()
	p.closed = true
	clients := make([]*Client, 0, len(p.entries))
	for _, e := range p.entries {
		clients = append(clients, e.client)
	}
	p.entries = map[string]*poolEntry{}
	p.owners = map[string]*poolEntry{}
	p.mu.Unlock()

	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { closeClients(ctx, []*Client{c}) })
	}
	wg.Wait()
}

// closeClients signs clients out; a failure is only logged, because the session expires on
// its own and the caller has nothing better to do.
func closeClients(ctx context.Context, clients []*Client) {
	for _, c := range clients {
		if err := c.Close(ctx); err != nil {
			c.log.Error(err, "Signing out of Tableau failed; the session will expire on its own")
		}
	}
}

// settingsKey is what, besides server, site and credentials, makes two configs need
// different clients. HTTPClient is compared through HTTPClientKey, not by pointer.
func settingsKey(cfg Config) string {
	cfg = cfg.withDefaults()
	return fmt.Sprintf("v=%s qps=%g burst=%d timeout=%s http=%s", cfg.APIVersion, cfg.QPS, cfg.Burst, cfg.Timeout, cfg.HTTPClientKey)
}

// CredentialsInUseError is Pool.Get's refusal to share a personal access token (see
// ErrCredentialsInUse, which it wraps). Owners lets a caller say who holds it to whom it may.
type CredentialsInUseError struct {
	// Owners are the owners that hold the token, sorted.
	Owners []string
	msg    string
}

func (e *CredentialsInUseError) Error() string { return ErrCredentialsInUse.Error() + ": " + e.msg }
func (e *CredentialsInUseError) Unwrap() error { return ErrCredentialsInUse }

// otherOwners lists the owners other than self, sorted.
func otherOwners(owners map[string]struct{}, self string) []string {
	names := make([]string, 0, len(owners))
	for o := range owners {
		if o != self {
			names = append(names, o)
		}
	}
	sort.Strings(names)
	return names
}

// ownerList names the owners other than self, for error messages users act on.
func ownerList(owners map[string]struct{}, self string) string {
	return strings.Join(otherOwners(owners, self), ", ")
}
