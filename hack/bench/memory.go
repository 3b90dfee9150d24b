package main

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
)

// recordRSS waits the GC window and reports the running manager's memory.
func (b *bench) recordRSS(ctx context.Context, n int, metric string) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(b.cfg.gcWindow):
	}
	mem, err := b.mgr.Memory()
	if err != nil {
		return err
	}
	samples, err := b.mgr.Metrics(ctx)
	if err != nil {
		return err
	}
	heap := samples.Sum("go_memstats_heap_inuse_bytes", nil)
	rss := mem.RSS
	exe := int64(0)
	if fi, err := os.Stat(b.bins.Manager); err == nil {
		exe = fi.Size()
	}
	gc, gcDetails := gcSettings(samples)
	runtimeText, runtimeDetails := runtimeMemory(samples)
	res := Result{
		Scenario: "4. Manager memory", Metric: fmt.Sprintf("%s=%d", metric, n), Value: mib(rss), Unit: "MiB",
		Comparison: joinNonEmpty(
			fmt.Sprintf("anonymous %.0f MiB + file-backed %.0f MiB (pages of the %.0f MiB executable); peak RSS %.0f MiB; Go heap in use %.0f MiB; %s; after a %s idle window",
				mib(mem.AnonRSS), mib(mem.FileRSS), mib(exe), mib(mem.PeakRSS), heap/(1<<20), gc, b.cfg.gcWindow),
			runtimeText, b.liveHeap()),
		Details: map[string]any{"rssBytes": rss, "anonRSSBytes": mem.AnonRSS, "fileRSSBytes": mem.FileRSS, "peakRSSBytes": mem.PeakRSS, "heapInuseBytes": heap, "webhooks": n},
	}
	maps.Copy(res.Details, gcDetails)
	maps.Copy(res.Details, runtimeDetails)
	if n >= 10000 {
		res.Target, res.Met = "<= 100 MiB at 10,000", met(mib(rss) <= 100)
		b.report.add(res)
		b.report.add(Result{
			Scenario: "4. Manager memory", Metric: fmt.Sprintf("peak RSS at N=%d", n), Value: mib(mem.PeakRSS), Unit: "MiB",
			Target: "<= 140 MiB at 10,000", Met: met(mib(mem.PeakRSS) <= 140),
			Comparison: "VmHWM: the largest RSS since the manager started, creations and convergence included",
			Details:    map[string]any{"peakRSSBytes": mem.PeakRSS},
		})
		return nil
	}
	b.report.add(res)
	return nil
}

// gcSettings says which GOGC and GOMEMLIMIT the manager ran with, as its Go collector reports
// them (the manager's own default or what -manager-env set), as text and as the details of
// the metrics it reports.
func gcSettings(samples localenv.Samples) (string, map[string]any) {
	gogc, limit := "not reported", "not reported"
	details := map[string]any{}
	for _, x := range samples {
		switch x.Name {
		case "go_gc_gogc_percent":
			gogc = strconv.FormatFloat(x.Value, 'f', -1, 64)
			details["gogcPercent"] = x.Value
		case "go_gc_gomemlimit_bytes":
			limit = "none"
			if x.Value < math.MaxInt64 {
				limit = fmt.Sprintf("%.0f MiB", mib(x.Value))
			}
			details["gomemlimitBytes"] = x.Value
		}
	}
	return "manager GOGC " + gogc + ", GOMEMLIMIT " + limit, details
}

// runtimeMemory says where the Go runtime's memory goes beside the heap in use, from the
// manager's go_memstats metrics: heap pages freed but not yet returned to the system, goroutine
// stacks and the runtime's own structures. With the file-backed pages they explain the RSS.
func runtimeMemory(samples localenv.Samples) (string, map[string]any) {
	get := func(name string) float64 { return samples.Sum("go_memstats_"+name+"_bytes", nil) }
	idle, released := get("heap_idle"), get("heap_released")
	stack := get("stack_inuse")
	structures := get("mspan_inuse") + get("mcache_inuse") + get("buck_hash_sys") + get("gc_sys") + get("other_sys")
	return fmt.Sprintf("heap freed but not returned %.1f MiB, stacks %.1f MiB, runtime structures %.1f MiB",
			mib(idle-released), mib(stack), mib(structures)),
		map[string]any{"heapIdleNotReleasedBytes": idle - released, "stackInuseBytes": stack, "runtimeStructuresBytes": structures}
}

// soakRSS keeps the manager idle for the soak duration after the GC window, sampling its
// RSS every 30 s: the events recorder keeps every Event it sent for 6 to 12 minutes (client-go
// tools/events finishSeries), so memory at steady state is only seen after that.
func (b *bench) soakRSS(ctx context.Context, n int) error {
	if b.cfg.rssSoak <= 0 {
		return nil
	}
	b.logf("  soaking for %s, sampling RSS every 30 s...", b.cfg.rssSoak)
	var samples []float64
	minRSS, anon := 0.0, 0.0
	end := time.Now().Add(b.cfg.rssSoak)
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(30*time.Second, time.Until(end))):
		}
		mem, err := b.mgr.Memory()
		if err != nil {
			return err
		}
		rss := mib(mem.RSS)
		samples = append(samples, rss)
		anon = mib(mem.AnonRSS)
		if minRSS == 0 || rss < minRSS {
			minRSS = rss
		}
	}
	last := samples[len(samples)-1]
	res := Result{
		Scenario: "4. Manager memory", Metric: fmt.Sprintf("RSS at N=%d after %s idle", n, b.cfg.rssSoak+b.cfg.gcWindow), Value: last, Unit: "MiB",
		Comparison: joinNonEmpty(fmt.Sprintf("anonymous %.0f MiB at the end; lowest sample %.0f MiB", anon, minRSS), b.liveHeap()),
		Details:    map[string]any{"samplesMiB": samples, "everySeconds": 30},
	}
	if n >= 10000 {
		res.Target, res.Met = "<= 100 MiB at 10,000", met(last <= 100)
	}
	b.report.add(res)
	return nil
}

// gcLine matches a GODEBUG=gctrace=1 line: "gc 12 @3.4s 1%: ... 83->86->51 MB, 97 MB goal".
var gcLine = regexp.MustCompile(`(?m)^gc \d+ @([0-9.]+)s .* (\d+)->(\d+)->(\d+) MB, (\d+) MB goal`)

// liveHeap reports the live heap after the manager's last garbage collection, when it runs
// with GODEBUG=gctrace=1 (-manager-env); "" otherwise.
func (b *bench) liveHeap() string {
	data, err := os.ReadFile(b.mgr.LogPath)
	if err != nil {
		return ""
	}
	all := gcLine.FindAllSubmatch(data, -1)
	if len(all) == 0 {
		return ""
	}
	m := all[len(all)-1]
	at, _ := strconv.ParseFloat(string(m[1]), 64)
	return fmt.Sprintf("live heap after the last GC (%.0f s after start) %s MB, goal %s MB (gctrace)", at, m[4], m[5])
}
