package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/testenv"
)

func TestParseNamespaces(t *testing.T) {
	for in, want := range map[string][]string{
		"":                       nil,
		" , ,":                   nil,
		"analytics":              {"analytics"},
		"analytics, bi-platform": {"analytics", "bi-platform"},
		"a,b,a,":                 {"a", "b"},
	} {
		if got := parseNamespaces(in); !slices.Equal(got, want) {
			t.Errorf("parseNamespaces(%q) = %q, want %q", in, got, want)
		}
	}
}

// manager builds the manager binary once, as `make build` does.
var manager = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "manager-test-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "manager")
	cmd := exec.Command("go", "build", "-o", bin, "main.go")
	cmd.Dir = testenv.Root()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func managerBinary(t *testing.T) string {
	t.Helper()
	bin, err := manager()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := manager(); err == nil {
		_ = os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

// TestFlags checks that the manager has the flags of DESIGN.md 3.6 and refuses bad values.
func TestFlags(t *testing.T) {
	bin := managerBinary(t)
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	for _, flag := range []string{
		"metrics-bind-address", "metrics-secure", "health-probe-bind-address", "leader-elect",
		"leader-election-namespace", "leader-elect-lease-duration", "leader-elect-renew-deadline", "leader-elect-retry-period", "watch-namespaces", "resync-period", "tableau-qps", "tableau-burst",
		"max-concurrent-reconciles", "tableau-timeout", "zap-devel", "zap-encoder", "zap-log-level",
		"zap-stacktrace-level", "zap-time-encoding", "kubeconfig",
	} {
		if !bytes.Contains(out, []byte("  -"+flag+" ")) && !bytes.Contains(out, []byte("  -"+flag+"\n")) {
			t.Errorf("--help does not list --%s:\n%s", flag, out)
		}
	}
	for _, want := range []string{`(default ":8080")`, `(default ":8081")`, "(default 10m0s)", "(default 30s)", "(default 4)", "(default 20)", "(default 10)"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("--help does not show %s", want)
		}
	}

	cmd := exec.Command(bin, "--resync-period=1ms", "--tableau-burst=0")
	out, err = cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 {
		t.Errorf("bad flags: exit %v, want 2\n%s", err, out)
	}
	for _, want := range []string{"--resync-period must be at least", "--tableau-burst must be at least 1"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("bad flags: output lacks %q:\n%s", want, out)
		}
	}
}

// TestManagerRuns runs the manager binary against a real API server: it serves its probes and
// metrics, takes the leader Lease, and on SIGTERM exits 0 and releases the Lease.
func TestManagerRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("needs kube-apiserver and etcd; run `make test`")
	}
	bin := managerBinary(t)
	env, err := testenv.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.AddUser(envtest.User{Name: "manager", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfigFile := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfigFile, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(user.Config(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}

	metricsAddr, probeAddr := freeAddr(t), freeAddr(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--kubeconfig="+kubeconfigFile, "--leader-elect", "--leader-election-namespace=default",
		"--metrics-bind-address="+metricsAddr, "--health-probe-bind-address="+probeAddr, "--watch-namespaces=default,kube-system")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("manager output:\n%s", logs.String())
		}
	}()

	for _, path := range []string{probeAddr + "/healthz", probeAddr + "/readyz", metricsAddr + "/metrics"} {
		testenv.Eventually(t, 30*time.Second, func(ctx context.Context) error {
			return get(ctx, "http://"+path)
		})
	}
	lease := &coordinationv1.Lease{}
	key := types.NamespacedName{Namespace: "default", Name: "tableau-webhook-operator.webhook-operator.dev"}
	testenv.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		if err := c.Get(ctx, key, lease); err != nil {
			return err
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			return fmt.Errorf("lease %s has no holder", key)
		}
		return nil
	})

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		stopped = true
		if waitErr != nil {
			t.Fatalf("manager exited with %v after SIGTERM, want 0", waitErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("manager still running 30s after SIGTERM")
	}
	if err := c.Get(context.Background(), key, lease); err != nil {
		t.Fatal(err)
	}
	if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
		t.Errorf("lease still held by %q after a graceful shutdown", *h)
	}
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// get succeeds when url answers 200.
func get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
