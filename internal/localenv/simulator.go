package localenv

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// SimulatorOptions configure StartSimulator and StartInProcessSimulator.
type SimulatorOptions struct {
	// Binary is the hack/tableau-sim executable, for StartSimulator. Default: Root/bin/tableau-sim.
	Binary string

	// Sites are the contentUrls of the sites to serve. Default: only the Default site ("").
	Sites []string

	// PATName and PATSecret are a site administrator's personal access token. Default:
	// tableautest.DefaultPATName and DefaultPATSecret.
	PATName, PATSecret string

	// Username and Password, if set, allow password sign-in as a site administrator.
	Username, Password string

	// TLS serves HTTPS with a self-signed certificate, written to Simulator.CAFile for a
	// TableauSite's CA bundle. Without it the simulator serves plain HTTP, which makes the
	// operator record a Warning event (credentials in clear).
	TLS bool

	// Latency is added to every API request.
	Latency time.Duration

	// DeliveryCAFile is a PEM file of CA certificates the simulator trusts when it delivers
	// events to https destinations (a Receiver's CAFile).
	DeliveryCAFile string

	// ExtraArgs are more tableau-sim flags (StartSimulator only), e.g. "--page-size=100".
	ExtraArgs []string

	// Name names the log file (NAME.log). Default: "tableau-sim".
	Name string
}

// Simulator is a running Tableau simulator, in a subprocess or in-process. Its admin API
// methods (Webhooks, Stats, Trigger, ...) work with either.
type Simulator struct {
	// URL is the server URL for a TableauSite's spec.serverURL, e.g. https://127.0.0.1:40125.
	URL string
	// CAFile is the PEM file of its certificate when it serves HTTPS, "" otherwise; CAPEM holds
	// the same bytes.
	CAFile string
	CAPEM  []byte
	// PATName and PATSecret sign in as a site administrator; Username and Password too, if set.
	PATName, PATSecret string
	Username, Password string
	// Sites are the contentUrls it serves.
	Sites []string
	// LogPath is the subprocess's log file ("" in-process).
	LogPath string
	// Server is the in-process simulator, nil for a subprocess. Its Go API gives what the admin
	// API gives, and more (fault injection with exact counts, a clock).
	Server *tableautest.Server

	proc   *process
	client *http.Client
}

// StartSimulator runs the hack/tableau-sim binary on a free loopback port and waits until it
// listens. Env.Close stops it.
func (e *Env) StartSimulator(ctx context.Context, opts SimulatorOptions) (*Simulator, error) {
	opts = opts.withDefaults()
	bin := opts.Binary
	if bin == "" {
		bin = filepath.Join(e.Root, "bin", "tableau-sim")
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("simulator binary: %w (build it with `go build -o bin/tableau-sim ./hack/tableau-sim`)", err)
	}
	name := opts.Name
	if name == "" {
		name = "tableau-sim"
	}
	s := &Simulator{
		PATName: opts.PATName, PATSecret: opts.PATSecret,
		Username: opts.Username, Password: opts.Password,
		Sites: opts.Sites, LogPath: filepath.Join(e.Dir, name+".log"),
	}
	args := []string{"--listen=127.0.0.1:0", "--pat-name=" + opts.PATName, "--pat-secret=" + opts.PATSecret}
	for _, site := range opts.Sites {
		args = append(args, "--site="+site)
	}
	if opts.Username != "" {
		args = append(args, "--username="+opts.Username, "--password="+opts.Password)
	}
	if opts.TLS {
		s.CAFile = filepath.Join(e.Dir, name+"-ca.crt")
		args = append(args, "--tls", "--tls-cert-out="+s.CAFile)
	}
	if opts.Latency > 0 {
		args = append(args, "--latency="+opts.Latency.String())
	}
	if opts.DeliveryCAFile != "" {
		args = append(args, "--delivery-ca="+opts.DeliveryCAFile)
	}
	args = append(args, opts.ExtraArgs...)
	s.proc = &process{name: name, path: bin, args: args, logPath: s.LogPath}

	lines := newLineWatcher("tableau-sim listening on ")
	if err := s.proc.start(lines); err != nil {
		return nil, err
	}
	e.addCleanup(s.Stop)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	select {
	case s.URL = <-lines.found:
	case <-ctx.Done():
		_ = s.proc.kill()
		return nil, fmt.Errorf("tableau-sim did not print its URL: %w; end of %s:\n%s", ctx.Err(), s.LogPath, s.proc.logTail(20))
	case <-s.procDone():
		return nil, fmt.Errorf("tableau-sim exited at start; end of %s:\n%s", s.LogPath, s.proc.logTail(20))
	}
	if opts.TLS {
		pemBytes, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read the simulator's certificate: %w", err)
		}
		s.CAPEM = pemBytes
	}
	var err error
	if s.client, err = httpClientTrusting(s.CAPEM); err != nil {
		return nil, err
	}
	return s, nil
}

// StartInProcessSimulator serves tableautest in this process on a free loopback port; Env.Close
// closes it. Use it when assertions want the Go API (Server); use StartSimulator to keep the
// simulator's CPU out of the measurement of this process.
func (e *Env) StartInProcessSimulator(opts SimulatorOptions) (*Simulator, error) {
	opts = opts.withDefaults()
	simOpts := []tableautest.Option{tableautest.WithPAT(opts.PATName, opts.PATSecret)}
	for _, site := range opts.Sites {
		simOpts = append(simOpts, tableautest.WithSite(site))
	}
	if opts.Username != "" {
		simOpts = append(simOpts, tableautest.WithUser(opts.Username, opts.Password))
	}
	if opts.Latency > 0 {
		simOpts = append(simOpts, tableautest.WithLatency(opts.Latency, 0))
	}
	if opts.DeliveryCAFile != "" {
		pemBytes, err := os.ReadFile(opts.DeliveryCAFile)
		if err != nil {
			return nil, fmt.Errorf("read the delivery CA: %w", err)
		}
		hc, err := httpClientTrusting(pemBytes)
		if err != nil {
			return nil, err
		}
		hc.Timeout = 10 * time.Second
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		simOpts = append(simOpts, tableautest.WithDeliveryClient(hc))
	}
	var srv *tableautest.Server
	if opts.TLS {
		srv = tableautest.NewTLSServer(simOpts...)
	} else {
		srv = tableautest.NewServer(simOpts...)
	}
	e.addCleanup(func() error { srv.Close(); return nil })
	s := &Simulator{
		URL:     srv.URL,
		PATName: opts.PATName, PATSecret: opts.PATSecret,
		Username: opts.Username, Password: opts.Password,
		Sites: opts.Sites, Server: srv, client: srv.Client(),
	}
	if opts.TLS {
		s.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		name := opts.Name
		if name == "" {
			name = "tableau-sim"
		}
		s.CAFile = filepath.Join(e.Dir, name+"-ca.crt")
		if err := os.WriteFile(s.CAFile, s.CAPEM, 0o600); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (o SimulatorOptions) withDefaults() SimulatorOptions {
	if o.PATName == "" {
		o.PATName, o.PATSecret = tableautest.DefaultPATName, tableautest.DefaultPATSecret
	}
	if len(o.Sites) == 0 {
		o.Sites = []string{""}
	}
	return o
}

func (s *Simulator) procDone() <-chan struct{} {
	_, done := s.proc.current()
	return done
}

// Stop stops a subprocess simulator with SIGTERM or closes an in-process one.
func (s *Simulator) Stop() error {
	if s.Server != nil {
		s.Server.Close()
		return nil
	}
	return s.proc.stop(DefaultStopTimeout)
}

// SimWebhook is a webhook as the simulator's admin API reports it.
type SimWebhook struct {
	ID                 string    `json:"id"`
	Name               string    `json:"name"`
	Event              string    `json:"event"`
	URL                string    `json:"url"`
	Enabled            bool      `json:"enabled"`
	StatusChangeReason string    `json:"statusChangeReason"`
	OwnerID            string    `json:"ownerId"`
	OwnerName          string    `json:"ownerName"`
	CreatedAt          time.Time `json:"createdAt"`
	UpdatedAt          time.Time `json:"updatedAt"`
}

// SimStats counts the simulator's API requests by operation (tableautest.OpCreateWebhook, ...)
// and HTTP status.
type SimStats struct {
	ByOperation map[string]map[string]int `json:"byOperation"`
	Total       int                       `json:"total"`
	Writes      int                       `json:"writes"`
}

// Count returns the requests of one operation, any status.
func (st SimStats) Count(op string) int {
	n := 0
	for _, c := range st.ByOperation[op] {
		n += c
	}
	return n
}

// SimDelivery is the outcome of delivering an event to one webhook.
type SimDelivery struct {
	WebhookID   string `json:"webhookId"`
	WebhookName string `json:"webhookName"`
	URL         string `json:"url"`
	Attempts    int    `json:"attempts"`
	LastStatus  int    `json:"lastStatus"`
	Error       string `json:"error,omitempty"`
	Disabled    bool   `json:"disabled"`
}

// Webhooks lists the webhooks of a site (by contentUrl).
func (s *Simulator) Webhooks(ctx context.Context, site string) ([]SimWebhook, error) {
	var out struct {
		Webhooks []SimWebhook `json:"webhooks"`
	}
	err := s.admin(ctx, http.MethodGet, "/_sim/webhooks?site="+url.QueryEscape(site), nil, &out)
	return out.Webhooks, err
}

// Stats returns the request counts.
func (s *Simulator) Stats(ctx context.Context) (SimStats, error) {
	var out SimStats
	err := s.admin(ctx, http.MethodGet, "/_sim/stats", nil, &out)
	return out, err
}

// ResetStats zeroes the request counts.
func (s *Simulator) ResetStats(ctx context.Context) error {
	return s.admin(ctx, http.MethodPost, "/_sim/reset-stats", nil, nil)
}

// Trigger fires an event (an API event name such as "DatasourceRefreshFailed") on a site and
// returns once every matching webhook's delivery has finished.
func (s *Simulator) Trigger(ctx context.Context, site, event, resourceName string) ([]SimDelivery, error) {
	body := map[string]string{"site": site, "event": event, "resourceName": resourceName}
	var out struct {
		Deliveries []SimDelivery `json:"deliveries"`
	}
	err := s.admin(ctx, http.MethodPost, "/_sim/trigger", body, &out)
	return out.Deliveries, err
}

// SetFaults replaces the fault injection in force (see tableautest.AdminAPIUsage for the keys,
// e.g. {"errorRate":0.2,"statuses":[500,503,429]}); nil stops it.
func (s *Simulator) SetFaults(ctx context.Context, faults map[string]any) error {
	if faults == nil {
		return s.admin(ctx, http.MethodDelete, "/_sim/faults", nil, nil)
	}
	return s.admin(ctx, http.MethodPost, "/_sim/faults", faults, nil)
}

// AdminURL returns the URL of an admin API path such as "/_sim/webhooks?site=marketing".
func (s *Simulator) AdminURL(path string) string { return s.URL + path }

// HTTPClient returns a client that trusts the simulator's certificate.
func (s *Simulator) HTTPClient() *http.Client { return s.client }

// admin calls the admin API with an optional JSON body and decodes a JSON answer into out.
func (s *Simulator) admin(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("simulator %s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("simulator %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("simulator %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("simulator %s %s: decode %q: %w", method, path, data, err)
	}
	return nil
}

// httpClientTrusting returns an HTTP client that trusts the given PEM certificates (as well as
// the system's), or a plain client for nil.
func httpClientTrusting(caPEM []byte) (*http.Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if len(caPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("no PEM certificate to trust")
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: transport, Timeout: 30 * time.Second}, nil
}

// lineWatcher is an io.Writer that reports the rest of the first line starting with prefix.
type lineWatcher struct {
	prefix string
	found  chan string
	buf    []byte
	done   bool
}

func newLineWatcher(prefix string) *lineWatcher {
	return &lineWatcher{prefix: prefix, found: make(chan string, 1)}
}

// Write scans complete lines; it never fails, so the program's output is never blocked.
func (w *lineWatcher) Write(p []byte) (int, error) {
	if w.done {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := strings.TrimSpace(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
		if rest, ok := strings.CutPrefix(line, w.prefix); ok {
			w.found <- strings.TrimSpace(rest)
			w.done, w.buf = true, nil
			return len(p), nil
		}
	}
}
