// Command tableau-sim serves the in-memory Tableau Server simulator of package tableautest on a
// port, for demos, manual testing and end-to-end suites:
//
//	go run ./hack/tableau-sim --listen 127.0.0.1:8080 --site marketing --pat-name op --pat-secret s3cr3t
//
// It prints "tableau-sim listening on URL" on stdout once the port is bound, so that scripts can
// wait for that line, and shuts down gracefully on SIGINT or SIGTERM. --help documents the
// flags and the /_sim/ admin API.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// stringList is a repeatable string flag.
type stringList []string

// String renders the values for flag defaults.
func (l *stringList) String() string { return strings.Join(*l, ",") }

// Set appends one occurrence of the flag.
func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// options are the parsed flags.
type options struct {
	listen                 string
	sites                  stringList
	patName, patSecret     string
	viewerPAT, viewerToken string
	username, password     string
	apiVersion, product    string
	tokenTTL               time.Duration
	latency, jitter        time.Duration
	pageSize               int
	disableAfter           int
	retryBackoff           time.Duration
	tls                    bool
	tlsCertOut             string
	tlsHosts               stringList
	deliveryCA             string
	deliveryInsecure       bool
	verbosity              int
}

// newFlagSet defines the flags on their own FlagSet: the default one also carries flags that
// net/http/httptest registers, which are not this program's.
func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tableau-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address to listen on; port 0 picks a free port (printed on stdout)")
	fs.Var(&o.sites, "site", `site contentUrl to serve (repeatable; "" is the Default site). Default: only the Default site`)
	fs.StringVar(&o.patName, "pat-name", tableautest.DefaultPATName, "personal access token name of a site administrator (empty: none)")
	fs.StringVar(&o.patSecret, "pat-secret", tableautest.DefaultPATSecret, "secret of --pat-name")
	fs.StringVar(&o.viewerPAT, "non-admin-pat-name", "", "optional PAT of a non-administrator (site role Explorer): signs in, gets 403 on webhook calls; POST /_sim/users/site-role changes it")
	fs.StringVar(&o.viewerToken, "non-admin-pat-secret", "", "secret of --non-admin-pat-name")
	fs.StringVar(&o.username, "username", "", "optional username of a site administrator for password sign-in")
	fs.StringVar(&o.password, "password", "", "password of --username")
	fs.StringVar(&o.apiVersion, "api-version", tableautest.DefaultAPIVersion, "restApiVersion reported by serverinfo")
	fs.StringVar(&o.product, "product-version", tableautest.DefaultProductVersion, "productVersion reported by serverinfo")
	fs.DurationVar(&o.tokenTTL, "token-ttl", tableautest.DefaultTokenTTL, "session idle limit")
	fs.DurationVar(&o.latency, "latency", 0, "fixed delay added to every API request")
	fs.DurationVar(&o.jitter, "jitter", 0, "random extra delay below this added to every API request")
	fs.IntVar(&o.pageSize, "page-size", 0, "page List Webhooks with <pagination>, n per page, which Tableau does not do (a test of client paging; such pages fail Tableau's schema). 0: every webhook in one <webhooks> without <pagination>, as Tableau answers")
	fs.IntVar(&o.disableAfter, "disable-after", 1, "disable a webhook after this many exhausted deliveries in a row")
	fs.DurationVar(&o.retryBackoff, "retry-backoff", 0, "wait before the first delivery retry (doubles for each retry)")
	fs.BoolVar(&o.tls, "tls", false, "serve HTTPS with a self-signed certificate generated at start")
	fs.StringVar(&o.tlsCertOut, "tls-cert-out", "", "with --tls, write the certificate (PEM) to this file so clients can trust it")
	fs.Var(&o.tlsHosts, "tls-host", "extra DNS name or IP for the certificate (repeatable; localhost, 127.0.0.1, ::1 and the hostname are always in it)")
	fs.StringVar(&o.deliveryCA, "delivery-ca", "", "PEM file of CA certificates to trust when delivering to https webhook destinations (added to the system pool)")
	fs.BoolVar(&o.deliveryInsecure, "delivery-insecure", false, "skip certificate verification when delivering to webhook destinations")
	fs.IntVar(&o.verbosity, "v", 0, "log verbosity on stderr; 1 logs every API request")
	fs.Usage = func() {
		out := fs.Output()
		_, _ = fmt.Fprintf(out, `Usage: tableau-sim [flags]

Serves an in-memory Tableau Server: GET /api/{v}/serverinfo, POST /api/{v}/auth/signin and
/auth/signout, and the webhook endpoints under /api/{v}/sites/{site-id}/webhooks, in XML and
JSON, as the operator, tableauserverclient and JSON clients call them. It prints
"tableau-sim listening on URL" on stdout when ready and stops on SIGINT or SIGTERM.

The admin API below can also make credentials and sites stop working while the operator's
Secret stays the same, and undo it: revoke or expire a PAT, delete a user, take away a user's
site-administrator role, delete or rename a site. A PAT's user is named like the PAT (so
--pat-name's user is "sim-pat" by default) and --username's user like the username.

Flags:
`)
		fs.PrintDefaults()
		_, _ = fmt.Fprintf(out, "\n%s", tableautest.AdminAPIUsage)
		_, _ = fmt.Fprintf(out, `
Example:
  tableau-sim --listen 127.0.0.1:0 --site marketing --pat-name op --pat-secret s3cr3t
  curl -s localhost:PORT/_sim/sites
  curl -s -XPOST localhost:PORT/_sim/trigger -d '{"site":"marketing","event":"WorkbookCreated","resourceName":"Sales"}'
  curl -s -XPOST localhost:PORT/_sim/pats/revoke -d '{"patName":"op","state":"expired"}'      # then /_sim/pats/restore
  curl -s -XPOST localhost:PORT/_sim/users/site-role -d '{"userName":"op","siteRole":"Explorer"}'
  curl -s -XPOST localhost:PORT/_sim/sites/delete -d '{"site":"marketing"}'                    # then /_sim/sites/restore
`)
	}
	return fs
}

// run is the program; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	fs := newFlagSet(&o, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		_, _ = fmt.Fprintf(stderr, "tableau-sim: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return 2
	}
	if err := serve(ctx, o, stdout, stderr); err != nil {
		_, _ = fmt.Fprintf(stderr, "tableau-sim: %v\n", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, o options, stdout, stderr io.Writer) error {
	delivery, err := deliveryClient(o)
	if err != nil {
		return err
	}
	opts := []tableautest.Option{
		tableautest.WithAPIVersion(o.apiVersion),
		tableautest.WithProductVersion(o.product),
		tableautest.WithTokenTTL(o.tokenTTL),
		tableautest.WithLatency(o.latency, o.jitter),
		tableautest.WithPageSize(o.pageSize),
		tableautest.WithDisableAfter(o.disableAfter),
		tableautest.WithRetryBackoff(o.retryBackoff),
		tableautest.WithDeliveryClient(delivery),
		tableautest.WithLogger(funcr.New(func(prefix, args string) {
			_, _ = fmt.Fprintln(stderr, prefix, args)
		}, funcr.Options{Verbosity: o.verbosity})),
	}
	for _, s := range o.sites {
		opts = append(opts, tableautest.WithSite(s))
	}
	if o.patName != "" {
		opts = append(opts, tableautest.WithPAT(o.patName, o.patSecret))
	}
	if o.viewerPAT != "" {
		opts = append(opts, tableautest.WithNonAdminPAT(o.viewerPAT, o.viewerToken))
	}
	if o.username != "" {
		opts = append(opts, tableautest.WithUser(o.username, o.password))
	}
	sim := tableautest.New(opts...)
	defer sim.Close()

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	if o.tls {
		cert, err := selfSignedCert(ln.Addr(), o.tlsHosts)
		if err != nil {
			_ = ln.Close()
			return err
		}
		if o.tlsCertOut != "" {
			pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
			if err := os.WriteFile(o.tlsCertOut, pemBytes, 0o644); err != nil {
				_ = ln.Close()
				return err
			}
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	}

	for _, st := range sim.Sites() {
		_, _ = fmt.Fprintf(stderr, "site %q (%s): id %s\n", st.ContentURL, st.Name, st.ID)
	}
	_, _ = fmt.Fprintf(stdout, "tableau-sim listening on %s://%s\n", scheme, dialAddr(ln.Addr()))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// End hanging fault-injected requests first, or Shutdown would wait for them.
	sim.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// dialAddr turns a bound address into one a client can connect to: an unspecified IP
// (0.0.0.0, ::) becomes loopback.
func dialAddr(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	ip := tcp.IP
	switch {
	case ip == nil || ip.Equal(net.IPv4zero):
		ip = net.IPv4(127, 0, 0, 1)
	case ip.Equal(net.IPv6unspecified):
		ip = net.IPv6loopback
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}

// selfSignedCert makes a certificate for the listening address, loopback, the hostname and the
// extra hosts. It is its own CA, so a client can trust it directly (--tls-cert-out).
func selfSignedCert(addr net.Addr, extra []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "tableau-sim", Organization: []string{"tableau-webhook-operator simulator"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	hosts := append([]string(nil), extra...)
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	if tcp, ok := addr.(*net.TCPAddr); ok && !tcp.IP.IsUnspecified() && !tcp.IP.IsLoopback() {
		hosts = append(hosts, tcp.IP.String())
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// deliveryClient is the client for deliveries and Test Webhook: webhook destinations must be
// https, and a local receiver usually has a private CA or a self-signed certificate.
func deliveryClient(o options) (*http.Client, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.deliveryInsecure} //nolint:gosec // opt-in flag for local receivers
	if o.deliveryCA != "" {
		pemBytes, err := os.ReadFile(o.deliveryCA)
		if err != nil {
			return nil, err
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("--delivery-ca %s: no PEM certificates found", o.deliveryCA)
		}
		tlsCfg.RootCAs = pool
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsCfg
	return &http.Client{
		Transport: transport,
		Timeout:   10 * time.Second,
		// Report a redirect as the destination's answer rather than follow it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}
