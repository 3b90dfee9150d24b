package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
)

// The helper process is this test binary run again with these variables set.
const (
	helperProcessEnv = "TABLEAU_E2E_HELPER_PROCESS" // "localenv": be the helper
	helperRootEnv    = "TABLEAU_E2E_HELPER_ROOT"
	helperSimEnv     = "TABLEAU_E2E_HELPER_SIMULATOR"
	helperManagerEnv = "TABLEAU_E2E_HELPER_MANAGER"

	// helperReady is the line the helper prints once everything runs.
	helperReady = "localenv helper: everything started"
	// helperLifetime bounds the helper, should nobody kill it.
	helperLifetime = 5 * time.Minute

	// parentDeathBound is how long the processes of a killed program may outlive it: they get
	// SIGTERM from the kernel at once, and some shut down gracefully.
	parentDeathBound = 15 * time.Second
)

// TestLocalenvProcessesDieWithTheirParent is issue 10's item 6: every process that localenv
// starts dies with the program that started it, so that a demo or test killed with SIGKILL
// (which runs no cleanup) leaves nothing running. A helper process (this test binary again,
// running TestHelperProcess) starts a local control plane (kube-apiserver and etcd through
// envtest, kube-controller-manager), the Tableau simulator binary and the manager binary, and
// blocks. The test finds every process the helper started (its children, theirs, ..., from
// the parent field of /proc/PID/stat), SIGKILLs the helper, and checks that each of them has
// exited within parentDeathBound.
func TestLocalenvProcessesDieWithTheirParent(t *testing.T) {
	requireE2E(t)
	if runtime.GOOS != "linux" {
		t.Skip("parent-death signals (Pdeathsig, setpriv --pdeathsig) are Linux only: elsewhere a killed localenv may leave its processes running")
	}
	t.Parallel()
	bins := binaries(t)
	dir := t.TempDir()
	outPath := filepath.Join(dir, "helper.log")
	out, err := os.Create(outPath) //nolint:gosec // in the test's own directory
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = out.Close() }()

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v", "-test.timeout="+(helperLifetime+time.Minute).String()) //nolint:gosec // this test binary
	cmd.Env = append(os.Environ(),
		helperProcessEnv+"=localenv",
		helperRootEnv+"="+repoRoot(t),
		helperSimEnv+"="+bins.Simulator,
		helperManagerEnv+"="+bins.Manager,
		// Whatever the helper leaves behind (envtest's and localenv's directories) goes
		// where this test removes it.
		"TMPDIR="+dir,
	)
	// Files, not pipes: a process that inherited a pipe would keep Wait from returning.
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	ctx, cancel := context.WithTimeout(testContext(t), 3*time.Minute)
	defer cancel()
	err = localenv.Poll(ctx, func(context.Context) error {
		select {
		case <-exited:
			cancel()
			return fmt.Errorf("the helper exited before it was ready")
		default:
		}
		data, err := os.ReadFile(outPath) //nolint:gosec // our own file
		if err != nil {
			return err
		}
		if !slices.Contains(strings.Split(string(data), "\n"), helperReady) {
			return fmt.Errorf("the helper has not printed %q yet", helperReady)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v; its output:\n%s", err, fileTail(outPath, 40))
	}

	started, err := localenv.Descendants(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killSurvivors(t, started) })
	var names []string
	for _, p := range started {
		names = append(names, p.Comm)
	}
	t.Logf("the helper (pid %d) started %d processes: %s", cmd.Process.Pid, len(started), strings.Join(names, ", "))
	// The kernel keeps 15 bytes of a command name.
	for _, want := range []string{"kube-apiserver", "etcd", "kube-controller", "tableau-sim", "manager"} {
		if !slices.Contains(names, want) {
			t.Errorf("no %s among the helper's processes: the test proves nothing about it", want)
		}
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-exited // reaped: its children now belong to another parent
	exitedAfter := map[int]time.Duration{}
	allExited := func(context.Context) error {
		var running []string
		for _, p := range started {
			if _, done := exitedAfter[p.PID]; done {
				continue
			}
			if p.Running() {
				running = append(running, fmt.Sprintf("%s, %s", p, procStatus(p.PID)))
				continue
			}
			exitedAfter[p.PID] = time.Since(killed)
		}
		if len(running) > 0 {
			return fmt.Errorf("still running: %s", strings.Join(running, "; "))
		}
		return nil
	}
	ctx, cancel = context.WithDeadline(testContext(t), killed.Add(parentDeathBound))
	defer cancel()
	if err := localenv.Poll(ctx, allExited); err != nil {
		t.Errorf("%s after the helper's SIGKILL, processes it started still run: %v", parentDeathBound, err)
		// For the report: how long they do live, up to a minute more, before killSurvivors.
		ctx, cancel := context.WithTimeout(testContext(t), time.Minute)
		defer cancel()
		_ = localenv.Poll(ctx, allExited)
	}
	for _, p := range started {
		if d, ok := exitedAfter[p.PID]; ok {
			t.Logf("%s exited %s after the helper's SIGKILL", p, d.Round(10*time.Millisecond))
		}
	}
}

// procStatus summarises /proc/PID/status: the state and the number of threads.
func procStatus(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	var fields []string
	for _, line := range strings.Split(string(data), "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && (name == "State" || name == "Threads") {
			fields = append(fields, name+" "+strings.TrimSpace(value))
		}
	}
	return strings.Join(fields, ", ")
}

// killSurvivors SIGKILLs the processes of the list that still run (same PID and start time),
// so that a failed run of the test leaves nothing behind either.
func killSurvivors(t *testing.T, procs []localenv.ProcessStat) {
	for _, p := range procs {
		if p.Running() {
			t.Logf("killing %s, which outlived its parent", p)
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
}

// TestHelperProcess is not a test: it is the helper process of
// TestLocalenvProcessesDieWithTheirParent, and returns at once in any other run. It starts a
// local environment, the simulator and the manager, says so on stdout, and blocks until it is
// killed (or helperLifetime passes).
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperProcessEnv) != "localenv" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), helperLifetime)
	defer cancel()
	env, err := localenv.Start(ctx, localenv.Options{Root: os.Getenv(helperRootEnv)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Close() }()
	if _, err := env.StartSimulator(ctx, localenv.SimulatorOptions{Binary: os.Getenv(helperSimEnv), Sites: []string{"marketing"}, TLS: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.StartManager(ctx, localenv.ManagerOptions{Binary: os.Getenv(helperManagerEnv)}); err != nil {
		t.Fatal(err)
	}
	fmt.Println(helperReady)
	<-ctx.Done()
}
