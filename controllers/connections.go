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
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

	mu     sync.Mutex
	bySite map[types.NamespacedName]*siteEntry
	byLUID map[string]*webhookCache // by siteIdentity: normalised server URL + site LUID
}

type siteEntry struct {
	mu   sync.Mutex // serialises connects of one site: one sign-in at a time
	conn *connection
	// refused remembers a sign-in that Tableau refused (AuthenticationFailed,
	// UnsupportedVersion) for the settings it was made with, so that every event that
	// enqueues the site (each TableauWebhook applied to it, say) does not sign in again with
	// credentials known to fail: a stream of failed sign-ins can lock the account. A change
	// of the settings (spec, Secret) or the resync period passing tries again.
	refused *refusal
}

type refusal struct {
	settings string
	at       time.Time
	err      error
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
	settings, err := c.settings(ctx, site)
	if err != nil {
		return nil, err
	}
	e := c.entry(client.ObjectKeyFromObject(site))
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn != nil && e.conn.settings == settings && !e.conn.client.Closed() {
		return e.conn, nil
	}
	if r := e.refused; r != nil && r.settings == settings && time.Since(r.at) < c.opts.ResyncPeriod*9/10 {
		return nil, r.err
	}
	e.refused = nil
	conn, err := c.connectLocked(ctx, site, e, settings)
	if se, ok := asSiteError(err); ok && !se.transient &&
		(se.reason == tableauv1.ReasonAuthenticationFailed || se.reason == tableauv1.ReasonUnsupportedVersion) {
		e.refused = &refusal{settings: settings, at: time.Now(), err: err}
	}
	return conn, err
}

// forget drops the site's connection so that the next use signs in again.
func (c *connections) forget(key types.NamespacedName) {
	e := c.entry(key)
	e.mu.Lock()
	e.conn = nil
	e.mu.Unlock()
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
	c.mu.Unlock()
	c.pool.Release(ctx, key.String())
}

// close signs every session out; called once when the manager stops.
func (c *connections) close(ctx context.Context) {
	c.pool.Close(ctx)
}

// settings fingerprints what a connection depends on without reading Secret data.
func (c *connections) settings(ctx context.Context, site *tableauv1.TableauSite) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00", site.UID, site.Generation)
	for _, name := range siteSecretNames(site) {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		if err := c.cache.Get(ctx, types.NamespacedName{Namespace: site.Namespace, Name: name}, m); err != nil {
			return "", secretError(site.Namespace, name, err)
		}
		fmt.Fprintf(h, "%s=%s\x00", name, m.ResourceVersion)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
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
		return nil, &siteError{reason: tableauv1.ReasonCredentialsInUse, message: err.Error(), err: err}
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
		client:   cl,
		session:  session,
		info:     info,
		webhooks: c.webhookCache(identity),
		identity: identity,
		settings: settings,
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
		return &siteError{reason: tableauv1.ReasonAuthenticationFailed, message: msg, err: err}
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
func (c *connections) webhookCache(identity string) *webhookCache {
	c.mu.Lock()
	defer c.mu.Unlock()
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
