package controllers

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/go-logr/logr"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// Secret keys read from credential Secrets.
const (
	keyTokenName   = "tokenName"
	keyTokenSecret = "tokenSecret"
	keyUsername    = "username"
	keyPassword    = "password"
	defaultCAKey   = "ca.crt"
)

// connection is a signed-in link to the Tableau site of one TableauSite.
type connection struct {
	client   *tableau.Client
	session  tableau.Session
	info     tableau.ServerInfo
	webhooks *webhookCache
	// identity names the Tableau site (siteIdentity): name conflicts are decided per identity.
	identity string
	// connectedAt is when it signed in.
	connectedAt time.Time
	// settings identifies what the connection was made from: the site's generation and the
	// resourceVersions of its Secrets. A change of any makes a new connection.
	settings string
}

// siteError is why a TableauSite cannot be used, with the Ready reason it maps to.
type siteError struct {
	reason    string
	message   string
	transient bool
	err       error
}

func (e *siteError) Error() string { return e.message }
func (e *siteError) Unwrap() error { return e.err }

// asSiteError returns the siteError in err's chain, if there is one.
func asSiteError(err error) (*siteError, bool) {
	var se *siteError
	ok := errors.As(err, &se)
	return se, ok
}

// connections resolves TableauSites to connections, one per site, shared by both reconcilers.
// Credential Secrets are watched by metadata only: their data is read from the API server
// only when their resourceVersion changes, so a reconcile normally costs no Secret reads.
type connections struct {
	cache    client.Reader // the manager's cached client (Secret metadata)
	secrets  *secretValues
	pool     *tableau.Pool
	opts     Options
	observer tableau.Observer
	log      logr.Logger
	notify   func(types.NamespacedName)
	// notifySite enqueues a TableauSite, when a TableauWebhook's call finds it refused.
	notifySite func(types.NamespacedName)

	mu     sync.Mutex
	bySite map[types.NamespacedName]*siteEntry
	byLUID map[string]*webhookCache // by siteIdentity: normalised server URL + site LUID
}

type siteEntry struct {
	mu   sync.Mutex // serialises connects of one site: one sign-in at a time
	conn *connection
	// refused remembers that Tableau refused the site for the settings it was reached with:
	// a sign-in refused (AuthenticationFailed), a version refused (UnsupportedVersion), or
	// calls refused to a session that signed in (InsufficientPermissions after a 403,
	// SiteNotFoundInTableau after a 404 for the site, AuthenticationFailed after a 401 that a
	// new sign-in did not cure). Until its backoff passes, every use of the site gets the
	// same error without a request, so that N TableauWebhooks cause no N sign-ins (a stream
	// of failed sign-ins can lock the account). A change of the settings (spec, Secret) tries
	// again at once.
	refused *refusal
	// failures counts the refusals in a row, for the backoff; a successful sign-in or List
	// resets it.
	failures int
	// cacheIdentity is the siteIdentity of the observation cache the site last used, guarded
	// by connections.mu (not mu), so that release can tell which caches are still in use.
	cacheIdentity string
}

type refusal struct {
	settings string
	at       time.Time
	backoff  time.Duration
	err      *siteError
	// callsRefused: the session works but Tableau refused calls (403, the site gone); only
	// the TableauSite reconciler's probe tries again.
	callsRefused bool
}

// Refused sites are tried again after refusalBackoffBase, doubling with each refusal in a row,
// up to the resync period.
const refusalBackoffBase = 10 * time.Second

func (c *connections) refusalBackoff(failures int) time.Duration {
	d := refusalBackoffBase
	for i := 1; i < failures && d < c.opts.ResyncPeriod; i++ {
		d *= 2
	}
	return min(d, c.opts.ResyncPeriod)
}

func newConnections(cache client.Reader, secrets *secretValues, opts Options, observer tableau.Observer, log logr.Logger, notify func(types.NamespacedName)) *connections {
	return &connections{
		cache:    cache,
		secrets:  secrets,
		pool:     tableau.NewPool(),
		opts:     opts,
		observer: observer,
		log:      log,
		notify:   notify,
		bySite:   map[types.NamespacedName]*siteEntry{},
		byLUID:   map[string]*webhookCache{},
	}
}

// lookup returns the site's entry, or nil: uses that do not connect must not create entries,
// which would outlive a deleted site.
func (c *connections) lookup(key types.NamespacedName) *siteEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bySite[key]
}

func (c *connections) entry(key types.NamespacedName) *siteEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.bySite[key]
	if !ok {
		e = &siteEntry{}
		c.bySite[key] = e
	}
	return e
}

// current returns the site's connection if one was made from the site's present settings.
func (c *connections) current(ctx context.Context, site *tableauv1.TableauSite) (*connection, error) {
	conn, _, err := c.use(ctx, site, false)
	return conn, err
}

// A site whose calls Tableau refused is tried again only by a prober: the TableauSite
// reconciler (a fresh List), or a TableauWebhook being deleted (its Delete), once the backoff
// has passed; one at a time, since the entry's lock is held meanwhile.

// probe is current for the TableauSite reconciler, which alone tries again a site whose
// session Tableau still accepts but whose calls it refused (403, the site gone): once the
// backoff has passed it returns the connection with probe true, and the caller's fresh List
// decides (clearRefusal on success, refuse again on failure). TableauWebhooks meanwhile keep
// getting the refusal, so that the site's Ready does not flap and N webhooks make no N calls.
func (c *connections) probe(ctx context.Context, site *tableauv1.TableauSite) (conn *connection, probe bool, err error) {
	return c.use(ctx, site, true)
}

func (c *connections) use(ctx context.Context, site *tableauv1.TableauSite, prober bool) (*connection, bool, error) {
	settings, err := c.settings(ctx, site)
	if err != nil {
		return nil, false, err
	}
	e := c.entry(client.ObjectKeyFromObject(site))
	e.mu.Lock()
	defer e.mu.Unlock()
	probe := false
	if r := e.refused; r != nil {
		switch {
		case r.settings != settings:
			// New settings (spec, Secret): tried at once, with the backoff afresh.
			e.failures, e.refused = 0, nil
		case time.Since(r.at) < r.backoff:
			return nil, false, r.err
		case r.callsRefused && !prober:
			return nil, false, r.err
		case r.callsRefused:
			// The prober's next call decides; the refusal stays until it succeeds
			// (clearRefusal), also if a new sign-in is needed first.
			probe = true
		default:
			// A refused sign-in: the next sign-in is the attempt.
			e.refused = nil
		}
	}
	if e.conn != nil && e.conn.settings == settings && !e.conn.client.Closed() {
		return e.conn, probe, nil
	}
	conn, err := c.connectLocked(ctx, site, e, settings)
	if se, ok := asSiteError(err); ok && !se.transient &&
		(se.reason == tableauv1.ReasonAuthenticationFailed || se.reason == tableauv1.ReasonUnsupportedVersion) {
		c.refuseLocked(e, settings, se, false)
	} else if err == nil && !probe {
		e.failures = 0
	}
	if err == nil && !c.stillExists(ctx, site) {
		// The site was deleted (and released) while this reconcile worked from a cached copy:
		// do not claim its session again, or nothing would ever release it.
		e.conn = nil
		go c.release(context.WithoutCancel(ctx), client.ObjectKeyFromObject(site))
		return nil, false, &siteError{reason: tableauv1.ReasonServerUnreachable, transient: true,
			message: "the TableauSite was deleted meanwhile"}
	}
	return conn, probe, err
}

// stillUsing reports whether conn is still the site's connection, open and not refused.
func (c *connections) stillUsing(key types.NamespacedName, conn *connection) bool {
	e := c.lookup(key)
	if e == nil {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.conn == conn && e.refused == nil && !conn.client.Closed()
}

// stillExists reports whether the site is still in the manager's cache.
func (c *connections) stillExists(ctx context.Context, site *tableauv1.TableauSite) bool {
	err := c.cache.Get(ctx, client.ObjectKeyFromObject(site), &tableauv1.TableauSite{})
	return !apierrors.IsNotFound(err)
}

// refuseLocked records a refusal of the site for settings; callsRefused when Tableau accepted
// the session but refused its calls. Called with e.mu held.
func (c *connections) refuseLocked(e *siteEntry, settings string, se *siteError, callsRefused bool) {
	e.failures++
	e.refused = &refusal{settings: settings, at: time.Now(), backoff: c.refusalBackoff(e.failures), err: se, callsRefused: callsRefused}
}

// clearRefusal records that a probe of a site whose calls were refused succeeded. The count of
// refusals in a row decays rather than resets, so that a refusal that keeps coming back is
// not tried every 10 s forever.
func (c *connections) clearRefusal(site *tableauv1.TableauSite) {
	if e := c.lookup(client.ObjectKeyFromObject(site)); e != nil {
		e.mu.Lock()
		e.refused, e.failures = nil, max(e.failures-1, 0)
		e.mu.Unlock()
	}
}

// refuse records that Tableau refused a call made through the site's connection for a reason
// that is the site's, not one webhook's (siteRefusal): the session is dropped if Tableau
// refused it, every user of the site gets the error until the backoff passes, and the
// TableauSite is reconciled at once so that its Ready says why.
func (c *connections) refuse(site *tableauv1.TableauSite, conn *connection, se *siteError) {
	key := client.ObjectKeyFromObject(site)
	if e := c.lookup(key); e != nil {
		e.mu.Lock()
		if e.conn == conn {
			callsRefused := se.reason != tableauv1.ReasonAuthenticationFailed
			if !callsRefused {
				e.conn = nil // the session itself was refused: sign in afresh after the backoff
			}
			c.refuseLocked(e, conn.settings, se, callsRefused)
		}
		e.mu.Unlock()
	}
	if c.notifySite != nil {
		c.notifySite(key)
	}
}

// succeeded records that the site answered (a sign-in or a List): the backoff starts afresh.
func (c *connections) succeeded(site *tableauv1.TableauSite) {
	e := c.lookup(client.ObjectKeyFromObject(site))
	if e == nil {
		return
	}
	e.mu.Lock()
	e.failures = 0
	e.mu.Unlock()
}

// retryIn is how long until a refused site is tried again (0 when it is not refused).
func (c *connections) retryIn(site *tableauv1.TableauSite) time.Duration {
	e := c.lookup(client.ObjectKeyFromObject(site))
	if e == nil {
		return 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.refused; r != nil {
		return max(r.backoff-time.Since(r.at), 0)
	}
	return 0
}

// siteRefusal maps a failed call to the site's problem, if it is the site's and not one
// webhook's: a 401 that the client's new sign-in did not cure (the token revoked or expired,
// its user deleted, the site deleted or renamed: Tableau does not say which), a 403 (the user
// is not, or no longer, a site administrator: Tableau's rule for every webhook method), a 404
// for the site itself (it was deleted).
func siteRefusal(site *tableauv1.TableauSite, err error) (*siteError, bool) {
	where := fmt.Sprintf("site %q", site.Spec.Site)
	switch {
	case tableau.IsUnauthorized(err):
		return &siteError{reason: tableauv1.ReasonAuthenticationFailed, err: err,
			message: fmt.Sprintf("Tableau refused the session and a new sign-in to %s: the token may be revoked or expired, its user deleted or removed from the site, or the site deleted or renamed (%v)", where, err)}, true
	case tableau.IsForbidden(err):
		return &siteError{reason: tableauv1.ReasonInsufficientPermissions, err: err,
			message: fmt.Sprintf("Tableau refused a webhook call on %s with 403: the token's user is not, or no longer, a site administrator, which Tableau requires for webhooks (%v)", where, err)}, true
	case tableau.IsSiteNotFound(err):
		return &siteError{reason: tableauv1.ReasonSiteNotFoundInTableau, err: err,
			message: fmt.Sprintf("Tableau no longer knows %s: it was deleted (%v)", where, err)}, true
	}
	return nil, false
}

// forDeletion returns the site's connection for cleaning up in Tableau. It is current's, but
// when the site's Secrets are gone (a namespace deletion removed them before the credentials
// finalizer could be added) it falls back to the connection still held, if there is one: the
// session signed in with them still works.
//
// A deletion is a prober of a site whose calls were refused (see use): after the backoff its
// Delete is the attempt, so that deletions do not wait for a site reconcile that a site being
// deleted never makes. probe says so: the caller clears the refusal when the Delete succeeds.
func (c *connections) forDeletion(ctx context.Context, site *tableauv1.TableauSite) (conn *connection, probe bool, err error) {
	conn, probe, err = c.use(ctx, site, true)
	if se, ok := asSiteError(err); ok && se.reason == tableauv1.ReasonCredentialsNotFound {
		if e := c.lookup(client.ObjectKeyFromObject(site)); e != nil {
			e.mu.Lock()
			held := e.conn
			e.mu.Unlock()
			if held != nil && !held.client.Closed() {
				return held, false, nil
			}
		}
	}
	return conn, probe, err
}

// forget drops the site's connection so that the next use signs in again.
func (c *connections) forget(key types.NamespacedName) {
	if e := c.lookup(key); e != nil {
		e.mu.Lock()
		e.conn = nil
		e.mu.Unlock()
	}
}

// forgetIfUnusable drops the site's connection when Tableau refused its session even after
// the client's own re-sign-in (revoked token, changed password), or when its client was
// closed (the session pool replaced it), so that the next use connects afresh instead of
// failing every call.
func (c *connections) forgetIfUnusable(site *tableauv1.TableauSite, err error) {
	if tableau.IsUnauthorized(err) || tableau.IsClientClosed(err) {
		c.forget(client.ObjectKeyFromObject(site))
	}
}

// release drops the site's connection and its claim on the session (the site is deleted).
func (c *connections) release(ctx context.Context, key types.NamespacedName) {
	c.mu.Lock()
	delete(c.bySite, key)
	// An observation cache that no remaining site's connection uses goes too: a Tableau site
	// that comes back gets a fresh one from its first List.
	used := map[string]bool{}
	for _, e := range c.bySite {
		used[e.cacheIdentity] = true
	}
	for id := range c.byLUID {
		if !used[id] {
			delete(c.byLUID, id)
		}
	}
	c.mu.Unlock()
	c.pool.Release(ctx, key.String())
}

// dropOwner forgets, in every observation cache, that a deleted TableauWebhook owned a webhook.
func (c *connections) dropOwner(owner types.NamespacedName) {
	c.mu.Lock()
	caches := make([]*webhookCache, 0, len(c.byLUID))
	for _, wc := range c.byLUID {
		caches = append(caches, wc)
	}
	c.mu.Unlock()
	for _, wc := range caches {
		wc.dropOwner(owner)
	}
}

// footprint counts what the connections hold, for the tests that check deleted objects leave
// nothing behind.
func (c *connections) footprint() map[string]int {
	c.mu.Lock()
	caches := make([]*webhookCache, 0, len(c.byLUID))
	for _, wc := range c.byLUID {
		caches = append(caches, wc)
	}
	out := map[string]int{"sites": len(c.bySite), "observationCaches": len(c.byLUID)}
	c.mu.Unlock()
	for _, wc := range caches {
		wc.mu.Lock()
		out["cacheOwners"] += len(wc.owners)
		wc.mu.Unlock()
	}
	entries, owners := c.pool.Size()
	out["sessions"], out["sessionOwners"] = entries, owners
	return out
}

// close signs every session out; called once when the manager stops.
func (c *connections) close(ctx context.Context) {
	c.pool.Close(ctx)
}

// settings fingerprints what a connection depends on without reading Secret data.
//
// A Secret is identified by a digest of its data, not by its resourceVersion: a change of its
// metadata alone (the credentials-in-use finalizer coming and going, a label) must not sign
// in again. secretValues reads the data from the API server only when the resourceVersion
// changed, so a reconcile normally reads nothing.
func (c *connections) settings(ctx context.Context, site *tableauv1.TableauSite) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00", site.UID, site.Generation)
	for _, name := range siteSecretNames(site) {
		digest, err := c.secrets.digest(ctx, types.NamespacedName{Namespace: site.Namespace, Name: name})
		if err != nil {
			return "", secretError(site.Namespace, name, err)
		}
		fmt.Fprintf(h, "%s=%s\x00", name, digest)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// dataDigest identifies a Secret's data without holding it.
func dataDigest(data map[string][]byte) string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%d:%s=%d:", len(k), k, len(data[k]))
		h.Write(data[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func secretError(namespace, name string, err error) error {
	if apierrors.IsNotFound(err) {
		return &siteError{reason: tableauv1.ReasonCredentialsNotFound, message: fmt.Sprintf("Secret %s/%s not found", namespace, name), err: err}
	}
	return &siteError{reason: tableauv1.ReasonCredentialsNotFound, message: fmt.Sprintf("reading Secret %s/%s: %v", namespace, name, err), transient: true, err: err}
}

// siteSecretNames lists the Secrets a TableauSite reads, in a stable order.
func siteSecretNames(site *tableauv1.TableauSite) []string {
	var names []string
	if pat := site.Spec.Credentials.PersonalAccessToken; pat != nil {
		names = append(names, pat.SecretRef.Name)
	}
	if pw := site.Spec.Credentials.Password; pw != nil {
		names = append(names, pw.SecretRef.Name)
	}
	if t := site.Spec.TLS; t != nil && t.CABundleSecretRef != nil && t.CABundleSecretRef.Name != "" {
		names = append(names, t.CABundleSecretRef.Name)
	}
	return names
}

// connectLocked makes a new connection: reads the Secrets, shares or makes the session for
// the credential, reads server info and signs in. Called with e.mu held.
func (c *connections) connectLocked(ctx context.Context, site *tableauv1.TableauSite, e *siteEntry, settings string) (*connection, error) {
	key := client.ObjectKeyFromObject(site)
	e.conn = nil
	creds, err := c.readCredentials(ctx, site)
	if err != nil {
		return nil, err
	}
	httpClient, tlsKey, err := c.httpClient(ctx, site)
	if err != nil {
		return nil, err
	}
	cl, err := c.pool.Get(ctx, key.String(), tableau.Config{
		ServerURL:     site.Spec.ServerURL,
		Site:          site.Spec.Site,
		APIVersion:    site.Spec.APIVersion,
		Credentials:   creds,
		HTTPClient:    httpClient,
		HTTPClientKey: tlsKey,
		QPS:           c.opts.TableauQPS,
		Burst:         c.opts.TableauBurst,
		Timeout:       c.opts.TableauTimeout,
		Observer:      c.observer,
		Logger:        c.log.WithValues("tableauSite", key.String()),
	})
	switch {
	case tableau.IsCredentialsInUse(err):
		// The pool's message names the other TableauSites, which may be other tenants': it
		// goes to the log, and the condition names only those of this namespace.
		c.log.V(1).Info("Personal access token refused to a second TableauSite", "tableauSite", key.String(), "reason", err.Error())
		holders := "another TableauSite"
		var inUse *tableau.CredentialsInUseError
		if errors.As(err, &inUse) {
			var same []string
			for _, o := range inUse.Owners {
				if ns, _, _ := strings.Cut(o, "/"); ns == site.Namespace {
					same = append(same, "TableauSite "+o)
				}
			}
			if len(same) > 0 && len(same) == len(inUse.Owners) {
				holders = strings.Join(same, ", ")
			}
		}
		return nil, &siteError{reason: tableauv1.ReasonCredentialsInUse, err: err,
			message: fmt.Sprintf("the personal access token %q is already used by %s for another site of this server, or with other connection settings (apiVersion, tls); a token holds one Tableau session, so give each site its own token, or use the same site and settings", creds.PATName, holders)}
	case tableau.IsUnsupportedVersion(err):
		// A pinned spec.apiVersion below the minimum (the CRD pattern admits "3.8") is the
		// UnsupportedVersion of DESIGN 2.1, not a malformed spec.
		return nil, &siteError{reason: tableauv1.ReasonUnsupportedVersion, message: err.Error(), err: err}
	case err != nil:
		return nil, &siteError{reason: tableauv1.ReasonInvalidSpec, message: err.Error(), err: err}
	}
	info, err := cl.ServerInfo(ctx)
	if err != nil {
		return nil, classifyConnectError("read server info", err)
	}
	session, err := cl.SignIn(ctx)
	if err != nil {
		return nil, classifyConnectError("sign in", err)
	}
	identity := siteIdentity(site.Spec.ServerURL, session.SiteID)
	conn := &connection{
		client:      cl,
		session:     session,
		info:        info,
		webhooks:    c.webhookCache(key, identity),
		identity:    identity,
		settings:    settings,
		connectedAt: time.Now(),
	}
	e.conn = conn
	return conn, nil
}

func classifyConnectError(what string, err error) error {
	msg := fmt.Sprintf("%s: %v", what, err)
	switch {
	case tableau.IsUnsupportedVersion(err):
		return &siteError{reason: tableauv1.ReasonUnsupportedVersion, message: msg, err: err}
	case tableau.IsUnauthorized(err), tableau.IsForbidden(err):
		return &siteError{reason: tableauv1.ReasonAuthenticationFailed, err: err,
			message: msg + " (the token or password may be wrong, revoked or expired, its user deleted or removed from the site, or the site deleted or renamed: Tableau does not say which)"}
	case tableau.IsRejected(err) || tableau.IsNotFound(err):
		// A 404 or 400 on serverinfo or sign-in most likely means that serverURL does not
		// point at a Tableau REST API, or that the site does not exist. A fix may come from
		// either side, so it is retried with backoff (at most every 5 minutes).
		return &siteError{reason: tableauv1.ReasonServerUnreachable, message: msg, transient: true, err: err}
	default:
		return &siteError{reason: tableauv1.ReasonServerUnreachable, message: msg, transient: true, err: err}
	}
}

// webhookCache returns the observation cache of one Tableau site (by siteIdentity), shared
// by every TableauSite that connects to it.
func (c *connections) webhookCache(site types.NamespacedName, identity string) *webhookCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.bySite[site]; e != nil {
		e.cacheIdentity = identity
	}
	wc, ok := c.byLUID[identity]
	if !ok {
		wc = newWebhookCache(c.notify)
		c.byLUID[identity] = wc
	}
	return wc
}

func (c *connections) readSecret(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	data, err := c.secrets.get(ctx, types.NamespacedName{Namespace: namespace, Name: name})
	if err != nil {
		return nil, secretError(namespace, name, err)
	}
	return data, nil
}

func (c *connections) readCredentials(ctx context.Context, site *tableauv1.TableauSite) (tableau.Credentials, error) {
	var (
		ref  string
		keys [2]string
	)
	if pat := site.Spec.Credentials.PersonalAccessToken; pat != nil {
		ref, keys = pat.SecretRef.Name, [2]string{keyTokenName, keyTokenSecret}
	} else if pw := site.Spec.Credentials.Password; pw != nil {
		ref, keys = pw.SecretRef.Name, [2]string{keyUsername, keyPassword}
	} else {
		return tableau.Credentials{}, &siteError{reason: tableauv1.ReasonInvalidSpec, message: "spec.credentials sets neither personalAccessToken nor password"}
	}
	s, err := c.readSecret(ctx, site.Namespace, ref)
	if err != nil {
		return tableau.Credentials{}, err
	}
	var vals [2]string
	for i, k := range keys {
		v := string(s[k])
		if v == "" {
			return tableau.Credentials{}, &siteError{reason: tableauv1.ReasonCredentialsNotFound,
				message: fmt.Sprintf("Secret %s/%s has no key %q (it needs %q and %q)", site.Namespace, ref, k, keys[0], keys[1])}
		}
		vals[i] = v
	}
	if site.Spec.Credentials.PersonalAccessToken != nil {
		return tableau.Credentials{PATName: vals[0], PATSecret: vals[1]}, nil
	}
	return tableau.Credentials{Username: vals[0], Password: vals[1]}, nil
}

// httpClient builds the HTTP client for the site's TLS settings, and a key that is equal
// for equal settings (so that the session pool can tell whether a client must change).
func (c *connections) httpClient(ctx context.Context, site *tableauv1.TableauSite) (*http.Client, string, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	t := site.Spec.TLS
	if t == nil {
		t = &tableauv1.TableauTLS{}
	}
	key := "tls"
	if t.InsecureSkipVerify {
		cfg.InsecureSkipVerify = true //nolint:gosec // an explicit, reported opt-in of the TableauSite
		key += " insecure"
	}
	if ref := t.CABundleSecretRef; ref != nil {
		s, err := c.readSecret(ctx, site.Namespace, ref.Name)
		if err != nil {
			return nil, "", err
		}
		k := ref.Key
		if k == "" {
			k = defaultCAKey
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(s[k]) {
			return nil, "", &siteError{reason: tableauv1.ReasonInvalidSpec,
				message: fmt.Sprintf("key %q of Secret %s/%s holds no PEM certificate", k, site.Namespace, ref.Name)}
		}
		cfg.RootCAs = pool
		sum := sha256.Sum256(s[k])
		key += " ca=" + hex.EncodeToString(sum[:])
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	// Reconciles run concurrently against one host: keep enough idle connections for them.
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: tr}, key, nil
}
