package tableautest

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// Operation names used by Count, CountStatus and Stats.
const (
	OpServerInfo    = "ServerInfo"
	OpSignIn        = "SignIn"
	OpSignOut       = "SignOut"
	OpListWebhooks  = "ListWebhooks"
	OpGetWebhook    = "GetWebhook"
	OpCreateWebhook = "CreateWebhook"
	OpUpdateWebhook = "UpdateWebhook"
	OpTestWebhook   = "TestWebhook"
	OpDeleteWebhook = "DeleteWebhook"
	// OpUnknown counts API requests that match no endpoint (unknown path or wrong method).
	OpUnknown = "Unknown"
)

// maxBodyBytes bounds request bodies; webhook and sign-in bodies are a few hundred bytes.
const maxBodyBytes = 1 << 20

// Server is an in-memory Tableau Server: the REST API's sign-in, serverinfo and webhook
// endpoints in XML and JSON, event delivery, fault injection and inspection. It is safe for
// concurrent use.
type Server struct {
	// URL is the base URL of a server started by NewServer or NewTLSServer, e.g.
	// "http://127.0.0.1:34567", without a trailing slash. Empty for New.
	URL string

	cfg config
	ts  *httptest.Server

	// ctx is cancelled by Close so that hanging requests, latency and deliveries end promptly.
	ctx       context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once

	mu          sync.Mutex
	sites       []*site // live and deleted (site.deleted), in the order configured
	deletions   int     // counts DeleteSite calls, to restore the latest deletion first
	users       []*user // in the order their first credential was configured
	pats        map[string]*credential
	passwords   map[string]*credential // username → password credential
	sessions    map[string]*session
	patSessions map[string]string // PAT name → its one live token
	stats       map[string]map[int]int
	faults      faultState

	admin *http.ServeMux // the /_sim/ API

	hanging atomic.Int32 // requests currently held by Faults.TimeoutRate, for tests
}

// New returns a simulator that is not listening anywhere: serve its Handler yourself (as
// hack/tableau-sim does). Call Close when done so that hanging requests end.
func New(opts ...Option) *Server {
	cfg := config{
		apiVersion:     DefaultAPIVersion,
		productVersion: DefaultProductVersion,
		tokenTTL:       DefaultTokenTTL,
		disableAfter:   1,
		now:            time.Now,
		log:            logr.Discard(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	if len(cfg.sites) == 0 {
		cfg.sites = []string{""}
	}
	if len(cfg.credentials) == 0 {
		cfg.credentials = []credentialConfig{{DefaultPATName, DefaultPATSecret, SiteRoleSiteAdministratorCreator, false}}
	}
	if cfg.delivery == nil {
		cfg.delivery = &http.Client{
			Timeout: 10 * time.Second,
			// Report a redirect as the destination's answer rather than follow it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.disableAfter < 1 {
		cfg.disableAfter = 1
	}
	s := &Server{
		cfg:         cfg,
		pats:        map[string]*credential{},
		passwords:   map[string]*credential{},
		sessions:    map[string]*session{},
		patSessions: map[string]string{},
		stats:       map[string]map[int]int{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.admin = s.adminMux()
	s.faults.reset(Faults{})
	seen := map[string]bool{}
	for _, c := range cfg.sites {
		if seen[strings.ToLower(c)] {
			continue
		}
		seen[strings.ToLower(c)] = true
		name := c
		if c == "" {
			name = "Default"
		}
		s.sites = append(s.sites, &site{id: newLUID(), contentURL: c, name: name, webhooks: map[string]*webhookState{}})
	}
	for _, c := range cfg.credentials {
		u := s.userByName(c.name)
		if u == nil {
			u = &user{id: newLUID(), name: c.name}
			s.users = append(s.users, u)
		}
		u.siteRole = c.role
		cred := &credential{secret: c.secret, user: u, state: PATActive}
		if c.password {
			s.passwords[c.name] = cred
		} else {
			s.pats[c.name] = cred
		}
	}
	return s
}

// NewServer starts a simulator on a plain-HTTP loopback port, like httptest.NewServer.
func NewServer(opts ...Option) *Server {
	return start(New(opts...), false)
}

// NewTLSServer starts a simulator over HTTPS with httptest's certificate; use Client or
// Certificate to trust it.
func NewTLSServer(opts ...Option) *Server {
	return start(New(opts...), true)
}

func start(s *Server, tls bool) *Server {
	s.ts = httptest.NewUnstartedServer(s.Handler())
	s.ts.Config.BaseContext = func(net.Listener) context.Context { return s.ctx }
	if tls {
		s.ts.StartTLS()
	} else {
		s.ts.Start()
	}
	s.URL = s.ts.URL
	return s
}

// Close ends hanging requests and deliveries, then (for NewServer and NewTLSServer) shuts the
// listener down and waits for outstanding requests, like httptest.Server.Close.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		if s.ts != nil {
			s.ts.Close()
		}
	})
}

// Client returns an HTTP client configured for the server (trusting its certificate for
// NewTLSServer). Nil for New.
func (s *Server) Client() *http.Client {
	if s.ts == nil {
		return nil
	}
	return s.ts.Client()
}

// Certificate returns the certificate of a NewTLSServer, nil otherwise.
func (s *Server) Certificate() *x509.Certificate {
	if s.ts == nil {
		return nil
	}
	return s.ts.Certificate()
}

// Handler returns the whole simulator as an http.Handler: the REST API under /api/ and the
// admin API under /_sim/ (see AdminAPIUsage).
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_sim" || strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.serveAdmin(w, r)
		return
	}
	s.serveAPI(w, r)
}

// exchange is one API request being served.
type exchange struct {
	w       *recorder
	r       *http.Request
	body    []byte
	out     format // response format
	version string // API version from the path
	rt      route
}

// recorder remembers the status written, for statistics and logs.
type recorder struct {
	http.ResponseWriter
	status  int
	aborted bool
}

// WriteHeader remembers the first status written.
func (rec *recorder) WriteHeader(status int) {
	if rec.status == 0 {
		rec.status = status
	}
	rec.ResponseWriter.WriteHeader(status)
}

// Write records the implicit 200 of a body written without WriteHeader.
func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.ResponseWriter.Write(b)
}

// abort closes the connection without a response: what a client sees when a proxy or the
// server dies mid-request. net/http recovers http.ErrAbortHandler silently.
func (x *exchange) abort() {
	x.w.aborted = true
	panic(http.ErrAbortHandler)
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	x := &exchange{
		w:   &recorder{ResponseWriter: w},
		r:   r,
		out: responseFormat(r.Header.Values("Accept"), r.Header.Get("Content-Type")),
	}
	x.version, x.rt = parseRoute(r.Method, r.URL.Path)
	defer func() {
		status := x.w.status
		if x.w.aborted {
			status = 0
		}
		s.record(x.rt.op, status)
		s.cfg.log.V(1).Info("tableau API request", "operation", x.rt.op, "method", r.Method,
			"path", r.URL.Path, "status", status, "duration", time.Since(start))
	}()

	// Read the whole body first: net/http notices a client hanging up only once the body has
	// been consumed, and the fault "hang until the client gives up" depends on noticing it.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		s.fail(x, errBadRequest("Could not read the request body: %v", err))
		return
	}
	x.body = body

	if !s.delay(r.Context(), s.cfg.latency, s.cfg.jitter) {
		x.abort()
	}
	if s.injectFault(x) {
		return
	}
	s.dispatch(x)
}

// route is what a path and method resolve to.
type route struct {
	op       string
	known    bool     // the path names an endpoint (even if the method is wrong)
	allowed  []string // methods of that endpoint
	minMajor int      // the endpoint's first API version
	minMinor int
	siteID   string
	hookID   string
	apiPath  string // path after /api, for 404003 details
}

// parseRoute maps a path to an endpoint. Literal segments match case-insensitively because
// Tableau's clients disagree on "serverinfo" vs "serverInfo".
func parseRoute(method, path string) (version string, rt route) {
	rt.op = OpUnknown
	rest, ok := strings.CutPrefix(path, "/api/")
	if !ok {
		rt.apiPath = path
		return "", rt
	}
	rt.apiPath = "/" + rest
	segs := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	version, segs = segs[0], segs[1:]
	is := func(i int, lit string) bool { return strings.EqualFold(segs[i], lit) }
	var ops map[string]string
	switch {
	case len(segs) == 1 && is(0, "serverinfo"):
		ops = map[string]string{http.MethodGet: OpServerInfo}
		rt.minMajor, rt.minMinor = 2, 4
	case len(segs) == 2 && is(0, "auth") && is(1, "signin"):
		ops = map[string]string{http.MethodPost: OpSignIn}
	case len(segs) == 2 && is(0, "auth") && is(1, "signout"):
		ops = map[string]string{http.MethodPost: OpSignOut}
	case len(segs) == 3 && is(0, "sites") && is(2, "webhooks"):
		ops = map[string]string{http.MethodGet: OpListWebhooks, http.MethodPost: OpCreateWebhook}
		rt.minMajor, rt.minMinor = 3, 6
	case len(segs) == 4 && is(0, "sites") && is(2, "webhooks"):
		ops = map[string]string{http.MethodGet: OpGetWebhook, http.MethodPut: OpUpdateWebhook, http.MethodDelete: OpDeleteWebhook}
		rt.minMajor, rt.minMinor = 3, 6
		if method == http.MethodPut {
			rt.minMinor = 8 // Update Webhook appeared in 3.8
		}
	case len(segs) == 5 && is(0, "sites") && is(2, "webhooks") && is(4, "test"):
		ops = map[string]string{http.MethodGet: OpTestWebhook}
		rt.minMajor, rt.minMinor = 3, 6
	default:
		return version, rt
	}
	rt.known = true
	if len(segs) >= 3 {
		rt.siteID = segs[1]
	}
	if len(segs) >= 4 {
		rt.hookID = segs[3]
	}
	for m := range ops {
		rt.allowed = append(rt.allowed, m)
	}
	if op, ok := ops[method]; ok {
		rt.op = op
	}
	return version, rt
}

// parseVersion parses "3.24"; anything else (e.g. "exp", "3", "3.x") is not a version.
func parseVersion(v string) (major, minor int, ok bool) {
	a, b, found := strings.Cut(v, ".")
	if !found {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(a)
	minor, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || major < 0 || minor < 0 || strings.ContainsAny(v, "+- ") {
		return 0, 0, false
	}
	return major, minor, true
}

// dispatch serves a request that faults let through.
func (s *Server) dispatch(x *exchange) {
	rt := x.rt
	major, minor, ok := parseVersion(x.version)
	// Every endpoint exists from 2.4 on (serverinfo's own floor); later endpoints from their
	// own version, as Tableau answers 404003 for a version that lacks the resource.
	if !rt.known || !ok || major < 2 || (major == 2 && minor < 4) ||
		major < rt.minMajor || (major == rt.minMajor && minor < rt.minMinor) {
		s.fail(x, errUnknownResource(rt.apiPath))
		return
	}
	if rt.op == OpUnknown {
		x.w.Header().Set("Allow", strings.Join(sortedStrings(rt.allowed), ", "))
		s.fail(x, errMethodNotAllowed(x.r.Method))
		return
	}
	switch rt.op {
	case OpServerInfo:
		s.handleServerInfo(x)
	case OpSignIn:
		s.handleSignIn(x)
	case OpSignOut:
		s.handleSignOut(x)
	default:
		s.handleWebhooks(x)
	}
}

// respond writes a successful body (or none, for nil).
func (s *Server) respond(x *exchange, status int, body []byte) {
	if body != nil {
		x.w.Header().Set("Content-Type", contentType(x.out))
	}
	x.w.WriteHeader(status)
	if body != nil {
		_, _ = x.w.Write(body)
	}
}

// respondEncoded writes what an encoder produced; encoders fail only on programming errors.
func (s *Server) respondEncoded(x *exchange, status int, body []byte, err error) {
	if err != nil {
		s.fail(x, &apiError{http.StatusInternalServerError, CodeInternal, "Internal Server Error", err.Error()})
		return
	}
	s.respond(x, status, body)
}

// fail writes a Tableau error body in the response format.
func (s *Server) fail(x *exchange, e *apiError) {
	body, err := encodeError(x.out, s.cfg.apiVersion, e)
	if err != nil {
		http.Error(x.w, e.Error(), e.status)
		return
	}
	x.w.Header().Set("Content-Type", contentType(x.out))
	x.w.WriteHeader(e.status)
	_, _ = x.w.Write(body)
}

func contentType(f format) string {
	if f == formatJSON {
		return "application/json;charset=UTF-8"
	}
	return "application/xml;charset=UTF-8"
}

func (s *Server) handleServerInfo(x *exchange) {
	body, err := encodeServerInfo(x.out, serverInfoOut{
		APIVersion:    s.cfg.apiVersion,
		Product:       s.cfg.productVersion,
		Build:         buildNumber(s.cfg.productVersion),
		PrepConductor: prepConductorVersion(s.cfg.productVersion),
		Platform:      DefaultPlatform,
	})
	s.respondEncoded(x, http.StatusOK, body, err)
}

// defaultBuild is a real build number of DefaultProductVersion (the one tableau-mcp's
// serverinfo sample pairs with 2024.2.0).
const defaultBuild = "20242.24.0711.1636"

// buildNumber derives a build number for a product version in the shape Tableau's schema
// requires of productVersion's build attribute, [0-9]{5}.[0-9]{2}.[0-9]{4}.[0-9]{4}: year and
// release, two-digit year, then a fixed date and time ("2025.1.3" → "20251.25.0101.0000").
// A product version that does not fit (not YEAR.RELEASE with one digit of release) gets a
// build of zeros, still schema-valid; clients must treat the build as opaque anyway.
func buildNumber(product string) string {
	if product == DefaultProductVersion {
		return defaultBuild
	}
	parts := strings.SplitN(product, ".", 3)
	if len(parts) >= 2 {
		year, err1 := strconv.Atoi(parts[0])
		release, err2 := strconv.Atoi(parts[1])
		if err1 == nil && err2 == nil && year >= 1000 && year <= 9999 && release >= 0 && release <= 9 {
			return fmt.Sprintf("%04d%d.%02d.0101.0000", year, release, year%100)
		}
	}
	return "00000.00.0000.0000"
}

// prepConductorVersion is the product's YEAR.RELEASE.0, as a 2025.1.11 server was seen to
// report prepConductorVersion 2025.1.0.
func prepConductorVersion(product string) string {
	parts := strings.SplitN(product, ".", 3)
	if len(parts) < 2 {
		return product
	}
	return parts[0] + "." + parts[1] + ".0"
}

// delay waits fixed plus a random part below jitter. It returns false if the client or the
// server gave up first.
func (s *Server) delay(ctx context.Context, fixed, jitter time.Duration) bool {
	d := fixed
	if jitter > 0 {
		d += s.faults.randDuration(jitter)
	}
	if d <= 0 {
		return true
	}
	return s.sleep(ctx, d)
}

// sleep waits d unless ctx or the server is done first; it reports whether d elapsed.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.ctx.Done():
		return false
	}
}

// newLUID returns a random UUID-shaped id like Tableau's LUIDs.
func newLUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
