package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Machine is where the figures were taken.
type Machine struct {
	CPUs             int     `json:"cpus"`
	CPUModel         string  `json:"cpuModel,omitempty"`
	MemoryGiB        float64 `json:"memoryGiB"`
	GOOS             string  `json:"goos"`
	GOARCH           string  `json:"goarch"`
	GoVersion        string  `json:"goVersion"`
	LoadAverageStart string  `json:"loadAverageStart"`
	LoadAverageEnd   string  `json:"loadAverageEnd"`
	Note             string  `json:"note"`
}

// Settings are the bench's parameters.
type Settings struct {
	N                       int     `json:"n"`
	RSSN                    int     `json:"rssN"`
	SimulatorLatency        string  `json:"simulatorLatency"`
	MaxConcurrentReconciles int     `json:"maxConcurrentReconciles"`
	CreateWorkers           int     `json:"createWorkers"`
	TableauQPS              float64 `json:"tableauQPS"`
	TableauBurst            int     `json:"tableauBurst"`
	SteadyResyncPeriod      string  `json:"steadyResyncPeriod"`
	SteadyPeriods           int     `json:"steadyPeriods"`
	SpecChanges             int     `json:"specChanges"`
	GCWindow                string  `json:"gcWindow"`
	ManagerArgs             string  `json:"managerArgs"`
	EnvDir                  string  `json:"envDir,omitempty"`
}

// Result is one row of the table.
type Result struct {
	// Scenario is the DESIGN.md section 6 item, e.g. "1. Convergence".
	Scenario string `json:"scenario"`
	// Metric names what was measured.
	Metric string `json:"metric"`
	// Value is the measured figure in Unit.
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Target is the target as text ("<= 1.01"), empty for figures reported for comparison only.
	Target string `json:"target,omitempty"`
	// Met says whether the target was met; nil without a target.
	Met *bool `json:"met,omitempty"`
	// Comparison is the floor or what the figure is compared with.
	Comparison string `json:"comparison,omitempty"`
	// Details holds the raw figures behind the row.
	Details map[string]any `json:"details,omitempty"`

	// first puts the row first within its scenario (the headline figure measured last).
	first bool
}

type report struct {
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	Duration   string    `json:"duration"`
	Machine    Machine   `json:"machine"`
	Settings   Settings  `json:"settings"`
	Results    []Result  `json:"results"`
	Error      string    `json:"error,omitempty"`
}

func newReport(c config) *report {
	m := machine()
	m.Note = fmt.Sprintf("%d CPUs shared with other builds and tests: kube-apiserver, etcd, the simulator, the manager and the bench all run on them, so figures are noisy", m.CPUs)
	return &report{
		StartedAt: time.Now(),
		Machine:   m,
		Settings: Settings{
			N: c.n, RSSN: c.rssN, SimulatorLatency: c.latency.String(), MaxConcurrentReconciles: c.concurrency,
			CreateWorkers: c.createWorkers, TableauQPS: c.tableauQPS, TableauBurst: c.tableauBurst,
			SteadyResyncPeriod: c.steadyResync.String(), SteadyPeriods: c.steadyPeriods, SpecChanges: c.specChanges,
			GCWindow: c.gcWindow.String(),
		},
	}
}

func (r *report) add(res Result) { r.Results = append(r.Results, res) }

func (r *report) finish(err error) {
	// Rows in scenario order: some figures are completed by later steps.
	sort.SliceStable(r.Results, func(i, j int) bool {
		a, b := scenarioNumber(r.Results[i].Scenario), scenarioNumber(r.Results[j].Scenario)
		if a != b {
			return a < b
		}
		return r.Results[i].first && !r.Results[j].first
	})
	r.FinishedAt = time.Now()
	r.Duration = r.FinishedAt.Sub(r.StartedAt).Round(time.Second).String()
	r.Machine.LoadAverageEnd = loadAverage()
	if err != nil {
		r.Error = err.Error()
	}
}

// scenarioNumber reads the "3" of "3. Spec change".
func scenarioNumber(s string) int {
	num, _, _ := strings.Cut(s, ".")
	n, err := strconv.Atoi(num)
	if err != nil {
		return 1 << 30
	}
	return n
}

func (r *report) missed() int {
	n := 0
	for _, res := range r.Results {
		if res.Met != nil && !*res.Met {
			n++
		}
	}
	return n
}

func met(ok bool) *bool { return &ok }

// formatValue prints a figure with its unit at a sensible precision.
func formatValue(v float64, unit string) string {
	var s string
	switch {
	case v == float64(int64(v)) && v < 1e9:
		s = fmt.Sprintf("%d", int64(v))
	case v >= 100:
		s = fmt.Sprintf("%.0f", v)
	case v >= 10:
		s = fmt.Sprintf("%.1f", v)
	default:
		s = fmt.Sprintf("%.3f", v)
	}
	if unit == "" {
		return s
	}
	return s + " " + unit
}

func (r *report) printTable(out io.Writer) {
	m := r.Machine
	fmt.Fprintf(out, "\nMachine: %d CPUs (%s), %.0f GiB, %s/%s, %s; load average %s at start, %s at end.\n",
		m.CPUs, m.CPUModel, m.MemoryGiB, m.GOOS, m.GOARCH, m.GoVersion, m.LoadAverageStart, m.LoadAverageEnd)
	fmt.Fprintf(out, "Note: %s.\n", m.Note)
	s := r.Settings
	fmt.Fprintf(out, "Settings: N=%d, simulator latency %s, manager %s, %d concurrent creates, steady state %d x %s, %d spec changes, GC window %s.\n\n",
		s.N, s.SimulatorLatency, s.ManagerArgs, s.CreateWorkers, s.SteadyPeriods, s.SteadyResyncPeriod, s.SpecChanges, s.GCWindow)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tMETRIC\tMEASURED\tTARGET\tRESULT\tFLOOR / COMPARISON")
	for _, res := range r.Results {
		verdict := "-"
		if res.Met != nil {
			verdict = "met"
			if !*res.Met {
				verdict = "MISSED"
			}
		}
		target := res.Target
		if target == "" {
			target = "(reported)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", res.Scenario, res.Metric, formatValue(res.Value, res.Unit), target, verdict, res.Comparison)
	}
	_ = tw.Flush()
	if r.Error != "" {
		fmt.Fprintf(out, "\nThe bench stopped early: %s\n", r.Error)
	}
	if n := r.missed(); n > 0 {
		fmt.Fprintf(out, "\n%d target(s) missed.\n", n)
	}
}

func (r *report) writeJSON(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o600)
}

// seconds formats a duration in seconds for the comparison column.
func seconds(d time.Duration) string {
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// joinNonEmpty joins the non-empty parts with "; ".
func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}
