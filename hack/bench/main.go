// Command bench is `make bench`: it measures the performance targets of DESIGN.md section 6
// with the real manager binary, a local kube-apiserver and etcd, and the Tableau simulator
// (hack/tableau-sim in a subprocess, 20 ms of latency per request), and prints one table:
// scenario, measured figure, target, and the floor or comparison it is judged against. The
// same figures go to bin/bench/results.json.
//
//	make bench                 # N = 1000, RSS also at 10 x N
//	BENCH_N=200 make bench     # a quicker look
//	go run ./hack/bench --help
//
// Steps, in the order they run, with the table's scenario names:
//
//   - 1. Convergence: N TableauWebhooks created at once (32 concurrent client calls) on one
//     site, until all are Ready. Wall time against the floor N x latency / concurrency plus
//     the time the API server needs for the same Kubernetes writes made alone (measured with
//     the manager stopped, two steps later); Tableau requests per webhook from the
//     simulator's statistics; Kubernetes writes per webhook from apiserver_request_total.
//   - 3. Spec change to Tableau updated, on the idle system: p50 and p99; then 4. the
//     manager's RSS at N after a GC window.
//   - The API server's write time alone (no manager running): the floor of scenario 1.
//   - 2. Steady state: a manager with a short --resync-period observes 5 periods: Tableau
//     Lists per site per period, Tableau writes, Kubernetes writes.
//   - 6. Tableau Cloud latency (150 ms per call): N TableauWebhooks on a second simulator
//     until all are Ready, then the plain loop of scenario 5 at that latency; the operator
//     must be 5 times faster.
//   - 4. At 10 x N: scenario 1's webhooks deleted, then 10 x N created at once from empty on
//     a fresh manager: wall time against its floor (measured the same way), writes per
//     webhook, RSS sampled every second, after a GC window and at its peak; then idle CPU
//     over 5 resync periods of a manager restarted with --resync-period=1m.
//   - 5. Plain client loop: N creations one after another with internal/tableau's client
//     against a fresh simulator, as a script would do them.
//
// It draws bin/bench/ready.svg (Ready over time of the operator and the plain loop at both
// latencies) and bin/bench/rss.svg (the manager's memory over the 10 x N run) with gonum/plot.
//
// The machine is noted in the output: on a small shared machine the figures are noisy.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
)

// config is the bench's settings, from flags and BENCH_* variables.
type config struct {
	n                int
	rssN             int
	latency          time.Duration
	concurrency      int
	createWorkers    int
	tableauQPS       float64
	tableauBurst     int
	steadyResync     time.Duration
	steadyPeriods    int
	specChanges      int
	gcWindow         time.Duration
	out              string
	keep             bool
	strict           bool
	convergeDeadline time.Duration
	managerEnv       stringList
	rssSoak          time.Duration
	slowLatency      time.Duration
	idleResync       time.Duration
	idlePeriods      int
}

// stringList is a repeatable string flag.
type stringList []string

// String renders the values for flag defaults.
func (l *stringList) String() string { return strings.Join(*l, ",") }

// Set appends one occurrence of the flag.
func (l *stringList) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("%q is not NAME=value", v)
	}
	*l = append(*l, v)
	return nil
}

func main() {
	// envtest logs through controller-runtime's logger: nothing the bench's output needs.
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout))
}

func run(ctx context.Context, args []string, out io.Writer) int {
	cfg, err := parseConfig(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	b := &bench{cfg: cfg, out: out, report: newReport(cfg)}
	runErr := b.run(ctx)
	b.report.finish(runErr)
	b.report.printTable(out)
	if err := b.report.writeJSON(cfg.out); err != nil {
		fmt.Fprintf(os.Stderr, "bench: write %s: %v\n", cfg.out, err)
		return 1
	}
	fmt.Fprintf(out, "\nResults written to %s\n", cfg.out)
	plots, err := b.drawPlots(filepath.Dir(cfg.out))
	for _, p := range plots {
		fmt.Fprintf(out, "Plot written to %s\n", p)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: draw the plots: %v\n", err)
		return 1
	}
	if runErr != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", runErr)
		return 1
	}
	if cfg.strict && b.report.missed() > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d targets missed (BENCH_STRICT=1)\n", b.report.missed())
		return 1
	}
	return 0
}

func parseConfig(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&c.n, "n", envInt("BENCH_N", 1000), "TableauWebhooks in the convergence, spec-change and steady-state scenarios (env BENCH_N)")
	fs.IntVar(&c.rssN, "rss-n", envInt("BENCH_RSS_N", -1), "TableauWebhooks for the large RSS measurement; default 10 x n; 0 skips it (env BENCH_RSS_N)")
	fs.DurationVar(&c.latency, "latency", 20*time.Millisecond, "simulator latency per Tableau request")
	fs.IntVar(&c.concurrency, "max-concurrent-reconciles", 10, "the manager's --max-concurrent-reconciles")
	fs.IntVar(&c.createWorkers, "create-workers", 32, "concurrent client calls creating the TableauWebhooks")
	fs.Float64Var(&c.tableauQPS, "tableau-qps", 1000, "the manager's --tableau-qps (high, so that the floor, not the client-side limiter, is measured)")
	fs.IntVar(&c.tableauBurst, "tableau-burst", 100, "the manager's --tableau-burst")
	fs.DurationVar(&c.steadyResync, "steady-resync-period", 10*time.Second, "the manager's --resync-period in the steady-state scenario")
	fs.IntVar(&c.steadyPeriods, "steady-periods", 5, "resync periods observed in the steady-state scenario")
	fs.IntVar(&c.specChanges, "spec-changes", envInt("BENCH_SPEC_CHANGES", 100), "spec changes timed in the spec-change scenario (at least 50 for a p99)")
	fs.DurationVar(&c.gcWindow, "gc-window", 30*time.Second, "idle time before reading the manager's RSS")
	fs.StringVar(&c.out, "out", "", "JSON results file (default ROOT/bin/bench/results.json)")
	fs.BoolVar(&c.keep, "keep", os.Getenv("BENCH_KEEP") != "", "keep the environment's directory (kubeconfig, logs) (env BENCH_KEEP)")
	fs.BoolVar(&c.strict, "strict", os.Getenv("BENCH_STRICT") != "", "exit 1 when a target is missed (env BENCH_STRICT)")
	fs.DurationVar(&c.convergeDeadline, "converge-timeout", 0, "give up waiting for convergence after this (default: scaled with n)")
	fs.DurationVar(&c.rssSoak, "rss-soak", 0, "after the large RSS measurement, stay idle this long sampling RSS (13m outlasts the events recorder's cache)")
	fs.DurationVar(&c.slowLatency, "slow-latency", 150*time.Millisecond, "simulator latency of the second latency point (scenario 6; 0 skips it)")
	fs.DurationVar(&c.idleResync, "idle-resync-period", time.Minute, "the manager's --resync-period while its idle CPU is measured at rss-n")
	fs.IntVar(&c.idlePeriods, "idle-periods", 5, "resync periods over which the idle CPU at rss-n is measured (0 skips it)")
	fs.Var(&c.managerEnv, "manager-env", "NAME=value in the managers' environment, e.g. GOMEMLIMIT=120MiB or GODEBUG=gctrace=1 (repeatable)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.n < 1 {
		return c, fmt.Errorf("-n must be at least 1")
	}
	if c.rssN < 0 {
		c.rssN = 10 * c.n
	}
	if c.out == "" {
		root, err := localenv.FindRoot()
		if err != nil {
			return c, err
		}
		c.out = filepath.Join(root, "bin", "bench", "results.json")
	}
	return c, nil
}

func envInt(name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: ignoring %s=%q: %v\n", name, v, err)
		return def
	}
	return n
}

// convergeTimeout bounds the wait for n TableauWebhooks to be Ready: generous, because a
// shared machine can be many times slower than an idle one.
func (c config) convergeTimeout(n int) time.Duration {
	if c.convergeDeadline > 0 {
		return c.convergeDeadline
	}
	return 2*time.Minute + time.Duration(n)*100*time.Millisecond
}

// bench holds what the scenarios share.
type bench struct {
	cfg    config
	out    io.Writer
	report *report

	root string
	bins localenv.Binaries
	env  *localenv.Env
	sim  *localenv.Simulator
	site localenv.SiteFixture

	mgr        *localenv.Manager        // the manager running now
	tracker    *localenv.WebhookTracker // follows the bench namespace
	trackerCtx context.Context
	fast       client.Client // no client-side rate limit

	// Results of scenario 1 that later scenarios compare with.
	convergeWall  time.Duration
	createTime    time.Duration
	writesByKey   localenv.APIRequests // the manager's Kubernetes writes during convergence
	managerArgs   []string
	managerNumber int

	// What the plots draw: Ready (or created) over time per run, and the memory of the
	// manager over the large run.
	curves     []curve
	rssSamples []rssSample
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.out, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (b *bench) run(ctx context.Context) error {
	start := time.Now()
	var err error
	if b.root, err = localenv.FindRoot(); err != nil {
		return err
	}
	b.logf("Building the manager and the simulator...")
	if b.bins, err = localenv.BuildBinaries(ctx, b.root, filepath.Join(b.root, "bin", "bench", "bin")); err != nil {
		return err
	}
	b.logf("Starting kube-apiserver and etcd...")
	b.env, err = localenv.Start(ctx, localenv.Options{Root: b.root, KeepDir: b.cfg.keep})
	if err != nil {
		return err
	}
	// The tracker's watch ends before the API server stops, or the API server waits for it.
	var stopTracker context.CancelFunc
	b.trackerCtx, stopTracker = context.WithCancel(ctx)
	defer func() {
		stopTracker()
		if b.cfg.keep {
			b.logf("Kept %s (kubeconfig, logs)", b.env.Dir)
		}
		if cerr := b.env.Close(); cerr != nil {
			b.logf("closing the environment: %v", cerr)
		}
	}()
	b.report.Settings.EnvDir = b.env.Dir
	b.sim, err = b.env.StartSimulator(ctx, localenv.SimulatorOptions{
		Binary: b.bins.Simulator, Sites: []string{"bench"}, TLS: true, Latency: b.cfg.latency,
	})
	if err != nil {
		return err
	}
	var objs []client.Object
	b.site, objs = b.sim.SiteObjects("bench", "bench", "bench")
	if err := b.env.Apply(ctx, objs); err != nil {
		return err
	}
	b.managerArgs = []string{
		fmt.Sprintf("--max-concurrent-reconciles=%d", b.cfg.concurrency),
		fmt.Sprintf("--tableau-qps=%g", b.cfg.tableauQPS),
		fmt.Sprintf("--tableau-burst=%d", b.cfg.tableauBurst),
	}
	b.report.Settings.ManagerArgs = strings.Join(b.managerArgs, " ")
	if len(b.cfg.managerEnv) > 0 {
		b.report.Settings.ManagerArgs += " (environment: " + strings.Join(b.cfg.managerEnv, " ") + ")"
	}

	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"convergence", b.convergence},
		{"spec change and RSS at N", b.specChangeAndRSS},
		{"API server writes alone", b.apiServerAlone},
		{"steady state", b.steadyState},
		{"latency of Tableau Cloud", b.slowLatency},
		{"10 x N from empty", b.largeRun},
		{"plain client loop", b.plainLoop},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := time.Now()
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		b.logf("%s done in %s", s.name, time.Since(t).Round(time.Second))
	}
	b.logf("All scenarios done in %s", time.Since(start).Round(time.Second))
	return nil
}

// startManager starts a manager with the bench's flags plus extra ones.
func (b *bench) startManager(ctx context.Context, extra ...string) (*localenv.Manager, error) {
	b.managerNumber++
	m, err := b.env.StartManager(ctx, localenv.ManagerOptions{
		Binary: b.bins.Manager,
		Args:   append(append([]string{}, b.managerArgs...), extra...),
		Env:    b.cfg.managerEnv,
		Name:   fmt.Sprintf("manager-%d", b.managerNumber),
		Pprof:  true,
	})
	if err != nil {
		return nil, err
	}
	b.logf("Manager %d running (pid %d, log %s)", b.managerNumber, m.Pid(), m.LogPath)
	return m, nil
}

// machine describes where the figures were taken.
func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version()}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(rest); len(f) == 2 {
					if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
						m.MemoryGiB = float64(kb) / (1 << 20)
					}
				}
			}
		}
	}
	m.LoadAverageStart = loadAverage()
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
				break
			}
		}
	}
	return m
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
