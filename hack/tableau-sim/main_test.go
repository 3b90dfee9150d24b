package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinary builds the program and runs it as scripts do: wait for the URL line, call it,
// stop it with SIGTERM.
func TestBinary(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build the binary with")
	}
	bin := filepath.Join(t.TempDir(), "tableau-sim")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--site", "marketing", "--pat-name", "op", "--pat-secret", "s3cr3t")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }() // only if the test fails before SIGTERM

	url := readURL(t, stdout)
	if !strings.HasPrefix(url, "http://127.0.0.1:") || strings.HasSuffix(url, ":0") {
		t.Fatalf("URL line gave %q", url)
	}
	resp, err := http.Get(url + "/api/3.24/serverinfo")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<restApiVersion>3.24</restApiVersion>") {
		t.Fatalf("serverinfo = %d %s", resp.StatusCode, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not exit within 10s of SIGTERM")
	}
}

// readURL reads the "tableau-sim listening on URL" line.
func readURL(t *testing.T, r io.Reader) string {
	t.Helper()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		url, found := strings.CutPrefix(line, "tableau-sim listening on ")
		if !ok || !found {
			t.Fatalf("first stdout line = %q", line)
		}
		return url
	case <-time.After(30 * time.Second):
		t.Fatal("no URL line within 30s")
	}
	return ""
}

func TestHelp(t *testing.T) {
	var out strings.Builder
	if code := run(t.Context(), []string{"--help"}, io.Discard, &out); code != 0 {
		t.Fatalf("--help exit code %d", code)
	}
	help := out.String()
	var o options
	newFlagSet(&o, io.Discard).VisitAll(func(f *flag.Flag) {
		if !strings.Contains(help, "-"+f.Name) {
			t.Errorf("--help does not document -%s", f.Name)
		}
	})
	for _, want := range []string{"/_sim/trigger", "/_sim/stats", "/_sim/faults", "/_sim/webhooks/{id}/edit",
		"/_sim/expire-tokens", "/_sim/foreign-signin", "/_sim/reset-stats", "/_sim/sites",
		"/_sim/pats", "/_sim/pats/revoke", "/_sim/pats/restore", "/_sim/users", "/_sim/users/delete",
		"/_sim/users/restore", "/_sim/users/site-role", "/_sim/sites/delete", "/_sim/sites/restore",
		"/_sim/sites/rename", `"expired"`, "404/404000", `"retryAfterInDetail":true`, "Please retry after 29 minutes."} {
		if !strings.Contains(help, want) {
			t.Errorf("--help does not document %s", want)
		}
	}
	if code := run(t.Context(), []string{"--no-such-flag"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("unknown flag exit code %d, want 2", code)
	}
}

// TestTLS runs the program in-process with --tls and trusts the certificate it wrote.
func TestTLS(t *testing.T) {
	certFile := filepath.Join(t.TempDir(), "sim.pem")
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"--listen", "127.0.0.1:0", "--tls", "--tls-cert-out", certFile}, pw, io.Discard)
		_ = pw.Close()
	}()
	url := readURL(t, pr)
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("URL = %q", url)
	}
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("no certificate in --tls-cert-out")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, host := range []string{url, strings.Replace(url, "127.0.0.1", "localhost", 1)} {
		resp, err := client.Get(host + "/api/3.24/serverInfo")
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", host, resp.StatusCode)
		}
	}
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit code %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop after cancel")
	}
}
