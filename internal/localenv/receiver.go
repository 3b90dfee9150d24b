package localenv

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
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ReceivedRequest is one request a Receiver got: a webhook delivery or a Test Webhook call.
type ReceivedRequest struct {
	Time   time.Time
	Method string
	// Path is the request's path with its query, e.g. "/tableau/workbooks".
	Path   string
	Header http.Header
	Body   []byte
}

// Receiver is a local HTTPS server that stands in for webhook destinations (Tableau only calls
// https URLs): it answers 200 "ok" to everything and records what it got.
type Receiver struct {
	// URL is its base URL, e.g. https://127.0.0.1:40126; any path under it is accepted.
	URL string
	// CAFile is the PEM file of its self-signed certificate, for the simulator's --delivery-ca;
	// CAPEM holds the same bytes.
	CAFile string
	CAPEM  []byte

	srv      *http.Server
	onceStop sync.Once

	mu       sync.Mutex
	requests []ReceivedRequest
	changed  chan struct{} // closed and replaced on every request
	onReq    func(ReceivedRequest)
}

// StartReceiver serves a Receiver on a free loopback port; Env.Close stops it. onRequest, if
// not nil, is called (on the serving goroutine) with each request as it arrives.
func (e *Env) StartReceiver(onRequest func(ReceivedRequest)) (*Receiver, error) {
	r, err := NewReceiver(e.Dir, onRequest)
	if err != nil {
		return nil, err
	}
	e.addCleanup(r.Close)
	return r, nil
}

// NewReceiver starts a Receiver without an Env, writing its certificate to dir.
func NewReceiver(dir string, onRequest func(ReceivedRequest)) (*Receiver, error) {
	cert, certPEM, err := SelfSignedCertificate("localenv receiver")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Receiver{
		URL:     "https://" + ln.Addr().String(),
		CAPEM:   certPEM,
		CAFile:  filepath.Join(dir, fmt.Sprintf("receiver-%d-ca.crt", ln.Addr().(*net.TCPAddr).Port)),
		changed: make(chan struct{}),
		onReq:   onRequest,
	}
	if err := os.WriteFile(r.CAFile, certPEM, 0o600); err != nil {
		_ = ln.Close()
		return nil, err
	}
	r.srv = &http.Server{
		Handler:           http.HandlerFunc(r.serve),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		// Clients that do not trust the certificate (curl without --cacert) would otherwise
		// print TLS handshake errors in the middle of the demo's output.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() { _ = r.srv.Serve(tls.NewListener(ln, r.srv.TLSConfig)) }()
	return r, nil
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	got := ReceivedRequest{Time: time.Now(), Method: req.Method, Path: req.URL.RequestURI(), Header: req.Header.Clone(), Body: body}
	r.mu.Lock()
	r.requests = append(r.requests, got)
	close(r.changed)
	r.changed = make(chan struct{})
	onReq := r.onReq
	r.mu.Unlock()
	if onReq != nil {
		onReq(got)
	}
	_, _ = io.WriteString(w, "ok")
}

// Requests returns every request received so far, oldest first.
func (r *Receiver) Requests() []ReceivedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ReceivedRequest(nil), r.requests...)
}

// WaitFor returns the first request (received before or after the call) for which match is
// true, waiting until ctx ends.
func (r *Receiver) WaitFor(ctx context.Context, match func(ReceivedRequest) bool) (ReceivedRequest, error) {
	for {
		r.mu.Lock()
		for _, req := range r.requests {
			if match(req) {
				r.mu.Unlock()
				return req, nil
			}
		}
		changed := r.changed
		r.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ReceivedRequest{}, fmt.Errorf("no matching request at %s: %w", r.URL, ctx.Err())
		}
	}
}

// Close stops the server.
func (r *Receiver) Close() error {
	var err error
	r.onceStop.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err = r.srv.Shutdown(ctx); errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	})
	return err
}

// SelfSignedCertificate makes an ECDSA certificate for localhost, 127.0.0.1 and ::1 that is its
// own CA (valid for a day), and returns it with its PEM encoding for clients to trust.
func SelfSignedCertificate(commonName string) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM, nil
}
