package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// fetchProfile saves one of the manager's profiles (path under /debug/pprof, e.g.
// "heap?gc=1") to bin/bench/name and returns where it went.
func (b *bench) fetchProfile(ctx context.Context, path, name string) (string, error) {
	if b.mgr == nil || b.mgr.PprofURL == "" {
		return "", fmt.Errorf("the manager serves no profiles")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.mgr.PprofURL+"/"+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", req.URL, resp.Status)
	}
	out := filepath.Join(filepath.Dir(b.cfg.out), name)
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return "", err
	}
	return out, f.Close()
}

// consumer is one line of a profile's summary: a function and its share of one sample type.
type consumer struct {
	Function string  `json:"function"`
	Flat     int64   `json:"flat"`
	Cum      int64   `json:"cum"`
	Percent  float64 `json:"percent"` // of the total, flat or cum as the summary sorts
}

// topConsumers reads a saved profile and returns the n functions with the most of sampleType
// (e.g. "inuse_space", "cpu") as the innermost frame (go tool pprof -top), or with cum in
// their own frames and below (-top -cum) among the functions named with one of prefixes, and
// the profile's total.
func topConsumers(path, sampleType string, n int, byCum bool, prefixes ...string) ([]consumer, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = f.Close() }()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, 0, err
	}
	index := -1
	for i, st := range p.SampleType {
		if st.Type == sampleType {
			index = i
		}
	}
	if index < 0 {
		return nil, 0, fmt.Errorf("%s has no %s samples", path, sampleType)
	}
	flat, cum := map[string]int64{}, map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		v := s.Value[index]
		total += v
		seen := map[string]bool{}
		for i, loc := range s.Location {
			for j, line := range loc.Line {
				if line.Function == nil {
					continue
				}
				name := line.Function.Name
				if i == 0 && j == 0 {
					flat[name] += v
				}
				if !seen[name] {
					seen[name] = true
					cum[name] += v
				}
			}
		}
	}
	key := func(c consumer) int64 {
		if byCum {
			return c.Cum
		}
		return c.Flat
	}
	out := make([]consumer, 0, len(cum))
	for name, v := range cum {
		c := consumer{Function: name, Flat: flat[name], Cum: v}
		if key(c) == 0 || (len(prefixes) > 0 && !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(name, p) })) {
			continue
		}
		c.Percent = 100 * float64(key(c)) / float64(max(total, 1))
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if key(out[i]) != key(out[j]) {
			return key(out[i]) > key(out[j])
		}
		return out[i].Function < out[j].Function
	})
	if len(out) > n {
		out = out[:n]
	}
	return out, total, nil
}

// heapProfile saves the manager's heap profile at n webhooks (after a GC) and reports its
// largest allocation sites: what the live heap is made of.
func (b *bench) heapProfile(ctx context.Context, n int) error {
	path, err := b.fetchProfile(ctx, "heap?gc=1", fmt.Sprintf("heap-%d.pb.gz", n))
	if err != nil {
		return err
	}
	top, total, err := topConsumers(path, "inuse_space", 12, false)
	if err != nil {
		return err
	}
	b.report.add(Result{
		Scenario: "4. Manager memory", Metric: fmt.Sprintf("live Go heap at N=%d (heap profile)", n), Value: float64(total) / (1 << 20), Unit: "MiB",
		Comparison: "largest allocation sites: " + summarize(top, false, func(v int64) string { return fmt.Sprintf("%.1f MiB", float64(v)/(1<<20)) }) +
			"; go tool pprof " + path,
		Details: map[string]any{"profile": path, "inuseBytes": total, "top": top},
	})
	return nil
}

// cpuSummary reports a CPU profile's largest consumers in a Result's comparison text.
func cpuSummary(path string) (string, []consumer) {
	// The manager's own functions, and the collector's background work, with what they call.
	top, _, err := topConsumers(path, "cpu", 8, true, "github.com/tableau-webhook-operator/", "runtime.gcBgMarkWorker", "sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue.(*priorityqueue[")
	if err != nil {
		return "profile: " + err.Error(), nil
	}
	return "CPU with what it calls: " + summarize(top, true, func(v int64) string { return time.Duration(v).Round(10 * time.Millisecond).String() }) +
		"; go tool pprof " + path, top
}

// summarize lists consumers as "function value (percent)", packages shortened, with their
// flat or cum values as topConsumers sorted them.
func summarize(top []consumer, byCum bool, value func(int64) string) string {
	parts := make([]string, 0, len(top))
	for _, c := range top {
		name := c.Function
		head, _, _ := strings.Cut(name, "[")
		if i := strings.LastIndex(head, "/"); i >= 0 {
			name = name[i+1:]
		}
		v := c.Flat
		if byCum {
			v = c.Cum
		}
		parts = append(parts, fmt.Sprintf("%s %s (%.0f%%)", name, value(v), c.Percent))
	}
	return strings.Join(parts, ", ")
}
