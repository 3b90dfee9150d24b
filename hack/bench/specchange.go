package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// specChangeAndRSS is scenario 3 (spec change to Tableau updated, on the idle system left by
// scenario 1), then the manager's RSS at N after a GC window (scenario 4, first half).
func (b *bench) specChangeAndRSS(ctx context.Context) error {
	n, k := b.cfg.n, b.cfg.specChanges
	b.logf("Scenario 3: %d spec changes, one at a time, each timed until the simulator has served the update...", k)
	latencies := make([]time.Duration, 0, k)
	wantURL := map[string]string{} // Tableau name -> URL it must have at the end
	for i := 0; i < k; i++ {
		idx := (i * 7919) % n
		name := webhookName(idx)
		url := fmt.Sprintf("https://hooks.example.com/bench/%05d/v%d", idx, i+1)
		d, err := b.timeSpecChange(ctx, name, url)
		if err != nil {
			return fmt.Errorf("spec change %d (%s): %w", i+1, name, err)
		}
		latencies = append(latencies, d)
		wantURL[b.site.Namespace+"/"+name] = url
		// The next change starts on a settled system: this one's status written.
		settle, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = b.tracker.WaitAllReady(settle, n)
		cancel()
		if err != nil {
			return fmt.Errorf("after spec change %d: %w", i+1, err)
		}
	}
	hooks, err := b.sim.Webhooks(ctx, b.site.ContentURL)
	if err != nil {
		return err
	}
	for _, h := range hooks {
		if want, ok := wantURL[h.Name]; ok && h.URL != want {
			return fmt.Errorf("webhook %s has URL %s in Tableau, want %s", h.Name, h.URL, want)
		}
	}
	slices.Sort(latencies)
	p50, p99 := percentile(latencies, 0.50), percentile(latencies, 0.99)
	b.report.add(Result{
		Scenario: "3. Spec change", Metric: "patch to Tableau updated, p99", Value: p99.Seconds() * 1000, Unit: "ms",
		Target: "<= 1000 ms", Met: met(p99 <= time.Second),
		Comparison: fmt.Sprintf("p50 %.0f ms, max %.0f ms, mean %.0f ms over %d changes; floor: one Update at %s latency",
			ms(p50), ms(latencies[len(latencies)-1]), ms(mean(latencies)), len(latencies), b.cfg.latency),
		Details: map[string]any{"p50ms": ms(p50), "p99ms": ms(p99), "maxms": ms(latencies[len(latencies)-1]), "meanms": ms(mean(latencies)), "samples": len(latencies)},
	})
	b.report.add(Result{
		Scenario: "3. Spec change", Metric: "patch to Tableau updated, p50", Value: ms(p50), Unit: "ms",
	})

	b.logf("Scenario 4: idle for the GC window (%s), then the manager's RSS at N=%d...", b.cfg.gcWindow, n)
	return b.recordRSS(ctx, n, "RSS at N")
}

// timeSpecChange patches one TableauWebhook's destination URL and returns the time until
// the simulator has answered the manager's Update Webhook call (counted in its statistics
// once the response is written).
func (b *bench) timeSpecChange(ctx context.Context, name, url string) (time.Duration, error) {
	st, err := b.sim.Stats(ctx)
	if err != nil {
		return 0, err
	}
	before := st.ByOperation[tableautest.OpUpdateWebhook]["200"]
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"destination": map[string]any{"url": url}}})
	if err != nil {
		return 0, err
	}
	wh := &tableauv1.TableauWebhook{}
	wh.Namespace, wh.Name = b.site.Namespace, name
	start := time.Now()
	if err := b.fast.Patch(ctx, wh, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return 0, err
	}
	deadline := start.Add(30 * time.Second)
	for {
		st, err := b.sim.Stats(ctx)
		if err != nil {
			return 0, err
		}
		if st.ByOperation[tableautest.OpUpdateWebhook]["200"] > before {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no Update Webhook within 30s of the patch")
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func mean(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t / time.Duration(max(1, len(ds)))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func mib[T int64 | float64](v T) float64 { return float64(v) / (1 << 20) }
