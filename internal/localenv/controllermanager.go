package localenv

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// controllerManagerControllers are the kube-controller-manager controllers the local control
// plane runs: what makes `kubectl delete namespace` finish (the namespace controller) and
// ownerReferences collect their dependents (the garbage collector). Nothing here needs nodes,
// pods or ServiceAccount tokens, so the others stay off.
var controllerManagerControllers = []string{"namespace-controller", "garbage-collector-controller"}

// ControllerManager is the running kube-controller-manager of an Env.
type ControllerManager struct {
	// LogPath receives its stdout and stderr.
	LogPath string
	// HealthURL is its /healthz endpoint (HTTPS, self-signed).
	HealthURL string

	proc *process
}

// startControllerManager runs kube-controller-manager from the assets directory with its own
// kubeconfig (the admin's credentials), on a free loopback port, and waits until /healthz
// answers.
func (e *Env) startControllerManager(ctx context.Context) (*ControllerManager, error) {
	bin := filepath.Join(e.AssetsDir, "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("kube-controller-manager not found in %s: run `make controlplane` (it builds it since the local control plane deletes namespaces): %w", e.AssetsDir, err)
	}
	kubeconfig := filepath.Join(e.Dir, "kube-controller-manager.kubeconfig")
	if err := WriteKubeconfig(kubeconfig, e.Config); err != nil {
		return nil, err
	}
	certDir := filepath.Join(e.Dir, "kube-controller-manager-certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	cm := &ControllerManager{LogPath: filepath.Join(e.Dir, "kube-controller-manager.log")}
	cm.proc = &process{name: "kube-controller-manager", path: bin, logPath: cm.LogPath}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var ports []int
		if ports, err = FreePorts(1); err != nil {
			return nil, err
		}
		cm.HealthURL = fmt.Sprintf("https://127.0.0.1:%d/healthz", ports[0])
		cm.proc.args = []string{
			"--kubeconfig=" + kubeconfig,
			"--authentication-kubeconfig=" + kubeconfig,
			"--authorization-kubeconfig=" + kubeconfig,
			"--controllers=" + strings.Join(controllerManagerControllers, ","),
			"--leader-elect=false",
			"--use-service-account-credentials=false",
			"--bind-address=127.0.0.1",
			fmt.Sprintf("--secure-port=%d", ports[0]),
			"--cert-dir=" + certDir,
			"--v=1",
		}
		if err = cm.proc.start(nil); err != nil {
			return nil, err
		}
		if err = cm.waitHealthy(ctx, time.Minute); err == nil {
			e.addCleanup(func() error { return cm.proc.stop(DefaultStopTimeout) })
			return cm, nil
		}
		_ = cm.proc.kill()
		if !strings.Contains(cm.proc.logTail(20), "address already in use") {
			break
		}
	}
	return nil, err
}

// waitHealthy polls /healthz until it answers 200, failing early if the process exits.
func (cm *ControllerManager) waitHealthy(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Its serving certificate is self-signed, and /healthz is readable without credentials.
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a local health probe of a process this package started
	}}
	var exitErr error
	err := Poll(ctx, func(ctx context.Context) error {
		if exited, werr := cm.proc.exited(); exited {
			exitErr = fmt.Errorf("kube-controller-manager exited (%v); end of %s:\n%s", werr, cm.LogPath, cm.proc.logTail(20))
			cancel() // nothing more to wait for
			return exitErr
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, cm.HealthURL, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %s", cm.HealthURL, resp.Status)
		}
		return nil
	})
	if exitErr != nil {
		return exitErr
	}
	if err != nil {
		return fmt.Errorf("kube-controller-manager is not healthy: %w", err)
	}
	return nil
}
