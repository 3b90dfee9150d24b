package main

import (
	"bytes"
	"context"
	"crypto/tls"
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

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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
	metricsAddr, probeAddr := freeAddr(t), freeAddr(t)
	m := startManager(t, "--leader-elect", "--leader-election-namespace=default",
		"--metrics-bind-address="+metricsAddr, "--health-probe-bind-address="+probeAddr, "--watch-namespaces=default,kube-system")

	for _, path := range []string{probeAddr + "/healthz", probeAddr + "/readyz", metricsAddr + "/metrics"} {
		testenv.Eventually(t, 30*time.Second, func(ctx context.Context) error {
			return get(ctx, "http://"+path)
		})
	}
	lease := &coordinationv1.Lease{}
	key := types.NamespacedName{Namespace: "default", Name: "tableau-webhook-operator.webhook-operator.dev"}
	testenv.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		if err := m.client.Get(ctx, key, lease); err != nil {
			return err
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			return fmt.Errorf("lease %s has no holder", key)
		}
		return nil
	})

	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.exited:
		if m.waitErr != nil {
			t.Fatalf("manager exited with %v after SIGTERM, want 0", m.waitErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("manager still running 30s after SIGTERM")
	}
	if err := m.client.Get(context.Background(), key, lease); err != nil {
		t.Fatal(err)
	}
	if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
		t.Errorf("lease still held by %q after a graceful shutdown", *h)
	}
}

// TestSecureMetrics runs the manager with --metrics-secure: /metrics answers over HTTPS only
// to a bearer token whose user the API server authorizes to get it.
func TestSecureMetrics(t *testing.T) {
	metricsAddr, probeAddr := freeAddr(t), freeAddr(t)
	m := startManager(t, "--metrics-secure", "--metrics-bind-address="+metricsAddr,
		"--health-probe-bind-address="+probeAddr, "--watch-namespaces=default")
	ctx := t.Context()
	cs, err := kubernetes.NewForConfig(m.admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for _, name := range []string{"scraper", "stranger"} {
		if _, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tokens[name] = tr.Status.Token
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "default", Name: "scraper"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The certificate is the manager's own, self-signed.
	httpsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a test of the filter, not of the certificate
	scrape := func(ctx context.Context, token string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+metricsAddr+"/metrics", nil)
		if err != nil {
			return 0, err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := httpsClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, err
		}
		if resp.StatusCode == http.StatusOK && !bytes.Contains(body, []byte("controller_runtime_")) {
			return 0, fmt.Errorf("200 without controller-runtime's metrics: %.200s", body)
		}
		return resp.StatusCode, nil
	}
	// Poll until the scraper is let in (the server listens once the manager has started, and
	// the API server's RBAC sees the binding a moment after its creation).
	testenv.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		code, err := scrape(ctx, tokens["scraper"])
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("scraper: %d, want 200", code)
		}
		return err
	})
	for _, c := range []struct {
		name, token string
		want        int
	}{{"no token", "", http.StatusUnauthorized}, {"made-up token", "not-a-token", http.StatusUnauthorized}, {"stranger", tokens["stranger"], http.StatusForbidden}} {
		if code, err := scrape(ctx, c.token); err != nil || code != c.want {
			t.Errorf("%s: %d %v, want %d", c.name, code, err, c.want)
		}
	}
	plain := "http://" + metricsAddr + "/metrics"
	if err := get(ctx, plain); err == nil {
		t.Errorf("GET %s answered 200 over plain HTTP", plain)
	}
}

// runningManager is the manager binary running against its own API server as a
// system:masters user.
type runningManager struct {
	admin   *rest.Config  // the API server's admin
	client  client.Client // a client of the manager's user
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited, waitErr then set
	waitErr error
}

// startManager starts an API server and the manager binary with args added to its
// --kubeconfig. The process is killed at the end of the test if still running, and its output
// is logged if the test failed.
func startManager(t *testing.T, args ...string) *runningManager {
	t.Helper()
	env, cfg := testenv.Start(t)
	bin := managerBinary(t)
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
	m := &runningManager{admin: cfg, client: c, exited: make(chan struct{})}
	var logs bytes.Buffer
	m.cmd = exec.Command(bin, append([]string{"--kubeconfig=" + kubeconfigFile}, args...)...)
	m.cmd.Stdout, m.cmd.Stderr = &logs, &logs
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.waitErr = m.cmd.Wait(); close(m.exited) }()
	t.Cleanup(func() {
		select {
		case <-m.exited:
		default:
			_ = m.cmd.Process.Kill()
			<-m.exited
		}
		if t.Failed() {
			t.Logf("manager output:\n%s", logs.String())
		}
	})
	return m
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
