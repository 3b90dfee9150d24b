// Package e2e runs the operator as users run it: the real manager binary against a local
// kube-apiserver and etcd, the Tableau simulator, the demo, and the shipped installer
// (dist/install.yaml) with its RBAC. The suites need the control plane of `make controlplane`
// and skip with -short.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
)

var (
	// binDir receives the binaries the suites run; TestMain removes it.
	binDir string

	buildOnce sync.Once
	built     localenv.Binaries
	buildErr  error
)

func TestMain(m *testing.M) {
	// envtest logs through controller-runtime's logger; the manager's own log is in its file.
	ctrllog.SetLogger(logr.Discard())
	dir, err := os.MkdirTemp("", "tableau-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	// podman's storage under dir (container_test.go) holds files only podman removes cleanly.
	if err := closeEngine(); err != nil {
		fmt.Fprintln(os.Stderr, "remove podman's containers and images:", err)
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// requireE2E skips in -short mode, where no control plane or build is expected.
func requireE2E(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: needs the local control plane and builds binaries (not with -short)")
	}
}

// repoRoot returns the repository's root directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := localenv.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// binaries builds the manager, the simulator and the demo from this checkout, once per run.
func binaries(t *testing.T) localenv.Binaries {
	t.Helper()
	root := repoRoot(t)
	buildOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		built, buildErr = localenv.BuildBinaries(ctx, root, binDir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// startEnv starts a control plane for one test; it is closed when the test ends, after the logs
// of the manager have been shown if the test failed.
func startEnv(t *testing.T, opts localenv.Options) *localenv.Env {
	t.Helper()
	opts.Root = repoRoot(t)
	env, err := localenv.Start(testContext(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Close(); err != nil {
			t.Errorf("close the environment: %v", err)
		}
	})
	return env
}

// showLogOnFailure logs the end of the manager's log when the test fails.
func showLogOnFailure(t *testing.T, mgr *localenv.Manager) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("end of the manager's log %s:\n%s", mgr.LogPath, mgr.LogTail(60))
		}
	})
}

// testContext ends a little before the test's deadline, so that a hung step fails the test
// with its own message.
func testContext(t *testing.T) context.Context { return localenv.TestContext(t, 10*time.Minute) }

// within returns a context that ends after d (or with the test).
func within(t *testing.T, d time.Duration) context.Context {
	return localenv.Within(t, d, 10*time.Minute)
}

var (
	installerOnce sync.Once
	installer     []byte
	installerErr  error
)

// installerYAML is what `make build-installer` writes to dist/install.yaml: `kustomize build
// config/default`. It runs the pinned kustomize (bin/kustomize, or $KUSTOMIZE) on the current
// config/ so that the test never checks a stale file; without kustomize it reads
// dist/install.yaml.
func installerYAML(t *testing.T) []byte {
	t.Helper()
	root := repoRoot(t)
	installerOnce.Do(func() {
		kustomize := os.Getenv("KUSTOMIZE")
		if kustomize == "" {
			kustomize = filepath.Join(root, "bin", "kustomize")
		}
		if _, err := os.Stat(kustomize); err == nil {
			cmd := exec.Command(kustomize, "build", filepath.Join(root, "config", "default")) //nolint:gosec // the pinned tool
			out, err := cmd.Output()
			if err != nil {
				installerErr = fmt.Errorf("%s build config/default: %w", kustomize, err)
				if ee, ok := err.(*exec.ExitError); ok {
					installerErr = fmt.Errorf("%w\n%s", installerErr, ee.Stderr)
				}
			}
			installer = out
			return
		}
		path := filepath.Join(root, "dist", "install.yaml")
		if installer, installerErr = os.ReadFile(path); installerErr != nil {
			installerErr = fmt.Errorf("no kustomize at %s and no %s: run `make kustomize` or `make build-installer`: %w", kustomize, path, installerErr)
		}
	})
	if installerErr != nil {
		t.Fatal(installerErr)
	}
	return installer
}
