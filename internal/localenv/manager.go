package localenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ManagerOptions configure StartManager.
type ManagerOptions struct {
	// Binary is the manager executable (`go build -o bin/manager .`). Default: Root/bin/manager.
	Binary string

	// Kubeconfig is the kubeconfig the manager uses. Default: the admin's.
	Kubeconfig string

	// Args are extra flags (e.g. --leader-elect, --resync-period=30s). --kubeconfig,
	// --metrics-bind-address and --health-probe-bind-address are set by StartManager.
	Args []string

	// Env holds extra environment variables ("NAME=value").
	Env []string

	// Name names the log file (NAME.log in the environment's directory). Default: "manager",
	// then "manager-2", ... for further managers.
	Name string

	// ReadyTimeout bounds the wait for /readyz. Default: one minute.
	ReadyTimeout time.Duration

	// Pprof serves Go's profiles on a free loopback port too (--pprof-bind-address, PprofURL).
	Pprof bool
}

// Manager is a running manager binary.
type Manager struct {
	// LogPath is the file that receives its stdout and stderr (across restarts).
	LogPath string
	// MetricsURL is its Prometheus endpoint, e.g. http://127.0.0.1:40123/metrics.
	MetricsURL string
	// HealthURL is its probe server, e.g. http://127.0.0.1:40124 (/healthz, /readyz).
	HealthURL string
	// PprofURL is its profiling endpoint, e.g. http://127.0.0.1:40125/debug/pprof, when
	// ManagerOptions.Pprof asked for one.
	PprofURL string
	// Args are the flags it runs with.
	Args []string

	proc         *process
	readyTimeout time.Duration
}

// StartManager runs the manager binary with a kubeconfig and probe and metrics servers on free
// loopback ports, and waits until /readyz answers. Env.Close stops it with SIGTERM.
func (e *Env) StartManager(ctx context.Context, opts ManagerOptions) (*Manager, error) {
	bin := opts.Binary
	if bin == "" {
		bin = filepath.Join(e.Root, "bin", "manager")
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("manager binary: %w (build it with `go build -o bin/manager .`)", err)
	}
	kubeconfig := opts.Kubeconfig
	if kubeconfig == "" {
		kubeconfig = e.Kubeconfig
	}
	name := opts.Name
	if name == "" {
		name = "manager"
		if n := e.managers.Add(1); n > 1 {
			name = fmt.Sprintf("manager-%d", n)
		}
	}
	readyTimeout := opts.ReadyTimeout
	if readyTimeout == 0 {
		readyTimeout = time.Minute
	}
	m := &Manager{
		LogPath:      filepath.Join(e.Dir, name+".log"),
		readyTimeout: readyTimeout,
	}
	m.proc = &process{name: name, path: bin, env: opts.Env, logPath: m.LogPath}

	// A free port can be taken by someone else between our probe and the manager's bind; then
	// the manager exits at once, and a second choice of ports almost surely works.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var ports []int
		if ports, err = FreePorts(3); err != nil {
			return nil, err
		}
		metricsAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
		healthAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])
		m.MetricsURL = "http://" + metricsAddr + "/metrics"
		m.HealthURL = "http://" + healthAddr
		m.Args = []string{
			"--kubeconfig=" + kubeconfig,
			"--metrics-bind-address=" + metricsAddr,
			"--health-probe-bind-address=" + healthAddr,
		}
		if opts.Pprof {
			pprofAddr := fmt.Sprintf("127.0.0.1:%d", ports[2])
			m.PprofURL = "http://" + pprofAddr + "/debug/pprof"
			m.Args = append(m.Args, "--pprof-bind-address="+pprofAddr)
		}
		m.Args = append(m.Args, opts.Args...)
		m.proc.args = m.Args
		if err = m.proc.start(nil); err != nil {
			return nil, err
		}
		if err = m.WaitReady(ctx); err == nil {
			e.addCleanup(func() error { return m.Stop() })
			return m, nil
		}
		_ = m.proc.kill()
		if !strings.Contains(m.proc.logTail(20), "address already in use") {
			break
		}
	}
	return nil, err
}

// WaitReady waits until /readyz answers 200, failing early (with the end of the log) if the
// manager exits.
func (m *Manager) WaitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, m.readyTimeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		if exited, err := m.proc.exited(); exited {
			return fmt.Errorf("manager exited (%v) before it was ready; end of %s:\n%s", err, m.LogPath, m.proc.logTail(30))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.HealthURL+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("manager not ready at %s/readyz: %w; end of %s:\n%s", m.HealthURL, ctx.Err(), m.LogPath, m.proc.logTail(30))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Pid returns the process id of the running manager, or 0.
func (m *Manager) Pid() int { return m.proc.pid() }

// Running reports whether the manager process is alive.
func (m *Manager) Running() bool {
	exited, _ := m.proc.exited()
	return !exited
}

// Stop sends SIGTERM and waits for a graceful exit (reconciles finish, Tableau sessions are
// signed out, the leader Lease is released), sending SIGKILL after DefaultStopTimeout. It
// reports a non-zero exit status.
func (m *Manager) Stop() error { return m.proc.stop(DefaultStopTimeout) }

// Kill sends SIGKILL, as a crash or an OOM kill would, and waits for the exit.
func (m *Manager) Kill() error { return m.proc.kill() }

// Restart stops the manager (SIGTERM) if it runs, starts it again with the same flags and
// ports, and waits until it is ready.
func (m *Manager) Restart(ctx context.Context) error {
	if err := m.Stop(); err != nil {
		return err
	}
	return m.Start(ctx)
}

// Start starts a stopped or killed manager again with the same flags and waits until it is
// ready.
func (m *Manager) Start(ctx context.Context) error {
	if err := m.proc.start(nil); err != nil {
		return err
	}
	return m.WaitReady(ctx)
}

// Wait waits until the manager exits (or ctx ends) and returns its exit error.
func (m *Manager) Wait(ctx context.Context) error { return m.proc.waitExit(ctx) }

// Log returns everything the manager has written so far.
func (m *Manager) Log() (string, error) {
	data, err := os.ReadFile(m.LogPath)
	return string(data), err
}

// LogTail returns the last n lines of the manager's log.
func (m *Manager) LogTail(n int) string { return m.proc.logTail(n) }

// FreePorts returns n distinct free TCP ports on the loopback interface. They are free when
// returned; a program meant to bind one should do so soon.
func FreePorts(n int) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
