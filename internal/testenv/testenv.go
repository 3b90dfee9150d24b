// Package testenv starts the local Kubernetes control plane (kube-apiserver and etcd built by
// `make controlplane` into bin/k8s) for envtest suites, with this project's CRDs installed.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Root is the repository's root directory.
func Root() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("testenv: cannot locate the source file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// AssetsDir is where the control plane binaries are: $KUBEBUILDER_ASSETS, else bin/k8s. It
// fails with the command to run when kube-apiserver, etcd or kubectl is missing.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(Root(), "bin", "k8s")
	}
	for _, name := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("control plane binary %s not found in %s: run `make controlplane` (or `make test`): %w", name, dir, err)
		}
	}
	return dir, nil
}

// New returns an envtest environment that installs the CRDs of config/crd/bases into a
// kube-apiserver and etcd from AssetsDir. Start it with Start and stop it with Stop.
func New() (*envtest.Environment, error) {
	dir, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	return &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(Root(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: dir,
	}, nil
}

// Start starts an environment of New for one test, which skips in -short mode and fails if it
// cannot start; the test's cleanup stops it. It returns the environment (for AddUser) and the
// configuration of its admin.
func Start(t testing.TB) (*envtest.Environment, *rest.Config) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs kube-apiserver and etcd; run `make test`")
	}
	env, err := New()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	return env, cfg
}

// Eventually calls check until it returns nil, failing the test with check's last error when
// timeout passes first. It polls instead of sleeping for a guessed duration.
func Eventually(t testing.TB, timeout time.Duration, check func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	interval := 10 * time.Millisecond
	for {
		err := check(ctx)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("still failing after %s: %v", timeout, errors.Join(err, ctx.Err()))
		case <-time.After(interval):
		}
		interval = min(2*interval, 500*time.Millisecond)
	}
}
