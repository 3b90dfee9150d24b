package tableautest

import (
	"net/http"
	"time"

	"github.com/go-logr/logr"
)

// Default credentials accepted when no WithPAT, WithUser or WithNonAdminPAT option is given,
// so that a bare NewServer() (and `go run ./hack/tableau-sim`) can be signed in to.
const (
	DefaultPATName   = "sim-pat"
	DefaultPATSecret = "sim-secret"
)

// Defaults of the options below.
const (
	DefaultAPIVersion     = "3.24"
	DefaultProductVersion = "2024.2.0"
	// DefaultPlatform is serverinfo's platform element (the simulator's choice: Tableau does
	// not document its values).
	DefaultPlatform = "linux"
	// DefaultTokenTTL is Tableau Server's default session idle limit (240 minutes).
	DefaultTokenTTL = 240 * time.Minute
)

// Option configures a Server.
type Option func(*config)

// credentialConfig is one WithPAT, WithNonAdminPAT or WithUser option, kept in the order
// given so that the last option naming a user sets its site role.
type credentialConfig struct {
	name, secret string
	role         string // the site role of the credential's user
	password     bool   // a username/password credential rather than a PAT
}

type config struct {
	sites          []string
	credentials    []credentialConfig
	apiVersion     string
	productVersion string
	tokenTTL       time.Duration
	latency        time.Duration
	jitter         time.Duration
	pageSize       int
	delivery       *http.Client
	retryBackoff   time.Duration
	disableAfter   int
	now            func() time.Time
	log            logr.Logger
}

// WithSite adds a site with the given contentUrl ("" is the Default site). Repeatable; without
// it the server has only the Default site.
func WithSite(contentURL string) Option {
	return func(c *config) { c.sites = append(c.sites, contentURL) }
}

// WithPAT accepts a personal access token for a site-administrator user
// (SiteRoleSiteAdministratorCreator) named like the PAT. Repeatable. Like Tableau, each PAT
// holds one session at a time: signing in again ends the previous session.
func WithPAT(name, secret string) Option {
	return func(c *config) {
		c.credentials = append(c.credentials, credentialConfig{name, secret, SiteRoleSiteAdministratorCreator, false})
	}
}

// WithNonAdminPAT accepts a PAT whose user (named like the PAT) has SiteRoleExplorer, not a
// site administrator's role: sign-in succeeds, every webhook call answers 403 (403004), which
// is what an operator misconfigured with a plain user's token meets. It is the same state
// SetSiteRole(name, SiteRoleExplorer) puts a WithPAT user in, and SetSiteRole undoes it.
func WithNonAdminPAT(name, secret string) Option {
	return func(c *config) {
		c.credentials = append(c.credentials, credentialConfig{name, secret, SiteRoleExplorer, false})
	}
}

// WithUser accepts a username/password sign-in for a site-administrator user
// (SiteRoleSiteAdministratorCreator). Password sessions are not exclusive. A PAT and a
// password with the same name belong to one user (see Users); the option given last sets its
// site role.
func WithUser(name, password string) Option {
	return func(c *config) {
		c.credentials = append(c.credentials, credentialConfig{name, password, SiteRoleSiteAdministratorCreator, true})
	}
}

// WithAPIVersion sets the restApiVersion reported by serverinfo (default "3.24").
func WithAPIVersion(v string) Option { return func(c *config) { c.apiVersion = v } }

// WithProductVersion sets the productVersion reported by serverinfo (default "2024.2.0").
func WithProductVersion(v string) Option { return func(c *config) { c.productVersion = v } }

// WithTokenTTL sets the session idle limit (default 240 minutes, Tableau Server's default).
// Every authenticated request restarts it, as Tableau's idle limit does.
func WithTokenTTL(d time.Duration) Option { return func(c *config) { c.tokenTTL = d } }

// WithLatency delays every API request (not /_sim/) by fixed plus a random part below jitter.
func WithLatency(fixed, jitter time.Duration) Option {
	return func(c *config) { c.latency, c.jitter = fixed, jitter }
}

// WithPageSize makes List Webhooks paginate, which Tableau does not do: pages of n webhooks
// (unless the request's pageSize says otherwise), each with a <pagination> element before
// <webhooks>. It exists to exercise a client's paging path (REFERENCE §6 advises accepting
// <pagination>); such pages do not validate against Tableau's schema, whose <webhooks> is not
// a paginated response. Without it (the default), List returns every webhook in one
// <webhooks> element without <pagination> and ignores pageSize and pageNumber.
func WithPageSize(n int) Option { return func(c *config) { c.pageSize = n } }

// WithDeliveryClient sets the client used to deliver events and test requests to webhook
// destinations, e.g. one that trusts an httptest TLS receiver's certificate.
func WithDeliveryClient(client *http.Client) Option { return func(c *config) { c.delivery = client } }

// WithRetryBackoff sets the wait before the first delivery retry; it doubles for each further
// retry (Tableau retries "with diminishing frequency"). Default 0, so tests do not wait.
func WithRetryBackoff(d time.Duration) Option { return func(c *config) { c.retryBackoff = d } }

// WithDisableAfter sets after how many consecutive exhausted deliveries (initial attempt and
// 3 retries all failing) a webhook is disabled. Default 1.
func WithDisableAfter(n int) Option { return func(c *config) { c.disableAfter = n } }

// WithClock replaces the clock used for token expiry and timestamps, so that tests can move
// time forward instead of sleeping.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithLogger logs every API request (operation, status, duration) at V(1). Tokens and secrets
// are never logged.
func WithLogger(log logr.Logger) Option { return func(c *config) { c.log = log } }
