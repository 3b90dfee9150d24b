package metricsauth

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/testenv"
)

// env is one API server for the package's tests, with two ServiceAccounts: "scraper", bound to
// a ClusterRole that may get /metrics, and "stranger", bound to nothing.
type env struct {
	cfg       *rest.Config
	clientset *kubernetes.Clientset
	scraper   string // a token of the scraper ServiceAccount
	stranger  string // a token of the stranger ServiceAccount
}

func startEnv(t *testing.T) *env {
	t.Helper()
	_, cfg := testenv.Start(t)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	e := &env{cfg: cfg, clientset: cs}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.scraper = e.serviceAccountToken(t, "scraper")
	e.stranger = e.serviceAccountToken(t, "stranger")
	e.bind(t, "scraper")
	return e
}

// serviceAccountToken creates a ServiceAccount in default and returns a token of it from the
// TokenRequest API.
func (e *env) serviceAccountToken(t *testing.T, name string) string {
	t.Helper()
	ctx := t.Context()
	sa := e.clientset.CoreV1().ServiceAccounts("default")
	if _, err := sa.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := sa.CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// bind binds the metrics-reader ClusterRole to ServiceAccount default/name.
func (e *env) bind(t *testing.T, name string) {
	t.Helper()
	if _, err := e.clientset.RbacV1().ClusterRoleBindings().Create(t.Context(), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader-" + name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "default", Name: name}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// serve returns a server whose handler is guarded by the filter made from cfg. The handler
// answers "metrics" and fails the request if it sees the Authorization header.
func serve(t *testing.T, cfg *rest.Config) *httptest.Server {
	t.Helper()
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	filter, err := Filter(cfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	h, err := filter(testr.New(t), http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Authorization") != "" {
			http.Error(w, "the credential reached the handler", http.StatusTeapot)
			return
		}
		_, _ = io.WriteString(w, "metrics")
	}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// call makes a request with the given Authorization header (none if empty) and returns its
// status code and body.
func call(t *testing.T, method, url, authorization string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(body))
}

func TestFilter(t *testing.T) {
	e := startEnv(t)
	srv := serve(t, e.cfg)
	for _, c := range []struct {
		name, method, path, authorization string
		want                              int
	}{
		{"no credential", http.MethodGet, "/metrics", "", http.StatusUnauthorized},
		{"basic credential", http.MethodGet, "/metrics", "Basic c2NyYXBlcjpzZWNyZXQ=", http.StatusUnauthorized},
		{"empty bearer token", http.MethodGet, "/metrics", "Bearer ", http.StatusUnauthorized},
		{"made-up token", http.MethodGet, "/metrics", "Bearer not-a-token", http.StatusUnauthorized},
		{"token of an account without the role", http.MethodGet, "/metrics", "Bearer " + e.stranger, http.StatusForbidden},
		{"another path", http.MethodGet, "/debug/pprof/", "Bearer " + e.scraper, http.StatusForbidden},
		{"another verb", http.MethodPost, "/metrics", "Bearer " + e.scraper, http.StatusForbidden},
		{"token of the scraper", http.MethodGet, "/metrics", "Bearer " + e.scraper, http.StatusOK},
		{"scheme in another case", http.MethodGet, "/metrics", "bearer " + e.scraper, http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := call(t, c.method, srv.URL+c.path, c.authorization)
			if code != c.want {
				t.Fatalf("%s %s: %d %q, want %d", c.method, c.path, code, body, c.want)
			}
			if code == http.StatusOK && body != "metrics" {
				t.Errorf("body %q, want the handler's", body)
			}
			if strings.Contains(body, e.stranger) || strings.Contains(body, e.scraper) {
				t.Errorf("the answer repeats a token: %q", body)
			}
		})
	}
}

// TestFilterCaches shows that answers are cached: a scraper whose binding is deleted is still
// allowed, and one bound after being denied is still denied, until their answers expire.
func TestFilterCaches(t *testing.T) {
	e := startEnv(t)
	srv := serve(t, e.cfg)
	if code, body := call(t, http.MethodGet, srv.URL+"/metrics", "Bearer "+e.scraper); code != http.StatusOK {
		t.Fatalf("scraper: %d %q", code, body)
	}
	if code, body := call(t, http.MethodGet, srv.URL+"/metrics", "Bearer "+e.stranger); code != http.StatusForbidden {
		t.Fatalf("stranger: %d %q", code, body)
	}
	ctx := t.Context()
	if err := e.clientset.RbacV1().ClusterRoleBindings().Delete(ctx, "metrics-reader-scraper", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.bind(t, "stranger")
	// A filter without cached answers sees the new bindings (once the API server's RBAC
	// authorizer has: it answers from informers, so poll, with a new filter each time).
	testenv.Eventually(t, 30*time.Second, func(context.Context) error {
		fresh := serve(t, e.cfg)
		if code, _ := call(t, http.MethodGet, fresh.URL+"/metrics", "Bearer "+e.scraper); code != http.StatusForbidden {
			return fmt.Errorf("unbound scraper: %d, want 403", code)
		}
		if code, _ := call(t, http.MethodGet, fresh.URL+"/metrics", "Bearer "+e.stranger); code != http.StatusOK {
			return fmt.Errorf("bound stranger: %d, want 200", code)
		}
		return nil
	})
	// The first filter still answers from its cache.
	if code, body := call(t, http.MethodGet, srv.URL+"/metrics", "Bearer "+e.scraper); code != http.StatusOK {
		t.Errorf("scraper, allowed answer cached: %d %q, want 200", code, body)
	}
	if code, body := call(t, http.MethodGet, srv.URL+"/metrics", "Bearer "+e.stranger); code != http.StatusForbidden {
		t.Errorf("stranger, denied answer cached: %d %q, want 403", code, body)
	}
}

// TestFilterAPIServerDown shows that a review the API server cannot answer is a 500, not a
// pass, and is not cached.
func TestFilterAPIServerDown(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	srv := serve(t, &rest.Config{Host: down.URL})
	for range 2 {
		if code, body := call(t, http.MethodGet, srv.URL+"/metrics", "Bearer some-token"); code != http.StatusInternalServerError {
			t.Fatalf("API server down: %d %q, want 500", code, body)
		}
	}
}
