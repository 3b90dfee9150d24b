package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
)

// largeRun is scenario 4 at size: the earlier TableauWebhooks deleted, a fresh manager, then
// rss-n TableauWebhooks created at once from empty until all are Ready. It reports the wall
// time against its floor (rss-n x latency / concurrency, plus the API server alone for the
// same Kubernetes writes, measured after it with the manager stopped), the Kubernetes writes
// per webhook, the manager's memory over the run (sampled every second, drawn in rss.svg),
// after a GC window and at its peak; then the idle CPU of a manager restarted on the
// converged rss-n over idle-periods resync periods of idle-resync-period.
func (b *bench) largeRun(ctx context.Context) error {
	n, big := b.cfg.n, b.cfg.rssN
	if big <= n {
		b.logf("Scenario 4 at a larger size skipped (rss-n %d <= n %d)", big, n)
		return nil
	}
	start := time.Now()
	// From empty: a manager deletes scenario 1's webhooks (in Tableau too) first.
	mgr, err := b.startManager(ctx)
	if err != nil {
		return err
	}
	b.mgr = mgr
	b.logf("Scenario 4: deleting the %d TableauWebhooks of scenario 1...", n)
	if err := b.deleteWebhooks(ctx, b.site.Namespace, b.tracker); err != nil {
		return err
	}
	if err := b.mgr.Stop(); err != nil {
		return err
	}
	if err := b.sim.ResetStats(ctx); err != nil {
		return err
	}

	if b.mgr, err = b.startManager(ctx); err != nil {
		return err
	}
	mgr = b.mgr
	stopSampling := b.sampleMemory(mgr)
	siteCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := b.env.WaitReady(siteCtx, b.site.Site()); err != nil {
		return err
	}
	if err := b.waitQuiet(ctx, time.Minute); err != nil {
		return err
	}
	before, err := b.env.APIServerRequests(ctx)
	if err != nil {
		return err
	}
	b.logf("Scenario 4: creating %d TableauWebhooks at once and waiting until all are Ready...", big)
	createStart := time.Now()
	if err := localenv.CreateAll(ctx, b.fast, b.webhookObjects(b.site.Namespace, 0, big), b.cfg.createWorkers); err != nil {
		return err
	}
	created := time.Since(createStart)
	waitCtx, cancelWait := context.WithTimeout(ctx, b.cfg.convergeTimeout(big))
	defer cancelWait()
	if err := b.tracker.WaitAllReady(waitCtx, big); err != nil {
		return fmt.Errorf("convergence of %d: %w (manager log %s)", big, err, mgr.LogPath)
	}
	wall := b.tracker.LastReadyAt().Sub(createStart)
	if err := b.waitQuiet(ctx, 2*time.Minute); err != nil {
		return err
	}
	after, err := b.env.APIServerRequests(ctx)
	if err != nil {
		return err
	}
	st, err := b.sim.Stats(ctx)
	if err != nil {
		return err
	}
	if err := b.checkConsistent(ctx); err != nil {
		return err
	}
	writes := after.Sub(before).Writes(managerResources...)
	benchCreates := localenv.APIRequestKey{Verb: "POST", Group: tableauv1.GroupVersion.Group, Resource: "tableauwebhooks"}
	writes[benchCreates] -= float64(big)
	if writes[benchCreates] == 0 {
		delete(writes, benchCreates)
	}
	b.logf("  %d Ready after %s; idle for the GC window (%s)...", big, wall.Round(time.Second), b.cfg.gcWindow)
	if err := b.recordRSS(ctx, big, "RSS at N"); err != nil {
		return err
	}
	if err := b.heapProfile(ctx, big); err != nil {
		return err
	}
	if err := b.soakRSS(ctx, big); err != nil {
		return err
	}
	stopSampling()
	if err := b.mgr.Stop(); err != nil {
		return err
	}
	b.mgr = nil

	alone, err := b.measureWritesAlone(ctx, big, writes)
	if err != nil {
		return err
	}
	tableauTerm := time.Duration(big) * b.cfg.latency / time.Duration(b.cfg.concurrency)
	floor := tableauTerm + alone.writesAlone
	ratio := wall.Seconds() / floor.Seconds()
	events := writes.Writes("events").Total()
	b.report.add(Result{
		Scenario: "4. At 10 x N", Metric: fmt.Sprintf("wall time, %d created at once from empty until all Ready", big), Value: wall.Seconds(), Unit: "s",
		Target: fmt.Sprintf("<= 1.5 x floor = %.2f s", 1.5*floor.Seconds()), Met: met(ratio <= 1.5),
		Comparison: fmt.Sprintf("floor %s = %d x %s / %d (%s) + API server writes alone %s (%d writes); wall/floor %.2f; at N=%d: %s; creates took %s",
			seconds(floor), big, b.cfg.latency, b.cfg.concurrency, seconds(tableauTerm), seconds(alone.writesAlone), alone.total, ratio,
			n, seconds(b.convergeWall), seconds(created)),
		Details: map[string]any{
			"wallSeconds": wall.Seconds(), "floorSeconds": floor.Seconds(), "tableauTermSeconds": tableauTerm.Seconds(),
			"apiServerWritesAloneSeconds": alone.writesAlone.Seconds(), "ratio": ratio, "createSeconds": created.Seconds(),
			"scenarioSeconds": time.Since(start).Seconds(),
		},
		first: true,
	})
	perWebhook := writes.Writes("tableauwebhooks").Total() / float64(big)
	b.report.add(Result{
		Scenario: "4. At 10 x N", Metric: "Kubernetes writes of each TableauWebhook by the manager", Value: perWebhook,
		Target: "<= 2.0 + 1 Event", Met: met(perWebhook <= 2.0 && events <= float64(big)),
		Comparison: fmt.Sprintf("%s; Tableau requests per webhook %.3f (%s)", otherWritesSummary(writes, big), float64(st.Total)/float64(big), opsSummary(st)),
		Details:    map[string]any{"managerWrites": apiRequestsJSON(writes), "tableauRequests": st.ByOperation},
	})
	return b.idleCPU(ctx, big)
}

// sampleMemory records the manager's memory and the Ready count every second until the
// returned function is called.
func (b *bench) sampleMemory(mgr *localenv.Manager) (stop func()) {
	began := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			if mem, err := mgr.Memory(); err == nil {
				ready, _ := b.tracker.Counts()
				b.rssSamples = append(b.rssSamples, rssSample{at: time.Since(began).Seconds(), rss: mib(mem.RSS), anon: mib(mem.AnonRSS), ready: ready})
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// idleCPU restarts the manager with --resync-period=idle-resync-period on the n converged
// TableauWebhooks and reports the CPU it uses over idle-periods resync periods, once it has
// reconciled them all and gone quiet.
func (b *bench) idleCPU(ctx context.Context, n int) error {
	periods, resync := b.cfg.idlePeriods, b.cfg.idleResync
	if periods <= 0 {
		return nil
	}
	mgr, err := b.startManager(ctx, "--resync-period="+resync.String())
	if err != nil {
		return err
	}
	b.mgr = mgr
	if err := b.waitReconciled(ctx, n); err != nil {
		return err
	}
	if err := b.waitQuiet(ctx, time.Minute); err != nil {
		return err
	}
	b.logf("Scenario 4: idle CPU of the manager on %d converged webhooks over %d resync periods of %s...", n, periods, resync)
	cpu0, err := mgr.CPU()
	if err != nil {
		return err
	}
	began := time.Now()
	window := time.Duration(periods) * resync
	cpuProfile, err := b.fetchProfile(ctx, fmt.Sprintf("profile?seconds=%d", int(window.Seconds())), fmt.Sprintf("cpu-idle-%d.pb.gz", n))
	if err != nil {
		return err
	}
	cpu1, err := mgr.CPU()
	if err != nil {
		return err
	}
	elapsed := time.Since(began)
	used := cpu1 - cpu0
	hottest, top := cpuSummary(cpuProfile)
	percent := 100 * used.Seconds() / elapsed.Seconds()
	reconciled, err := b.reconciles(ctx)
	if err != nil {
		return err
	}
	b.report.add(Result{
		Scenario: "4. At 10 x N", Metric: fmt.Sprintf("idle CPU on %d converged, %d resync periods of %s", n, periods, resync), Value: percent, Unit: "% of a core",
		Target: "< 2", Met: met(percent < 2),
		Comparison: fmt.Sprintf("%.2f CPU seconds per minute (%s over %s, user + system from /proc); %.0f reconciles since the start; a resync period of %s does %.0fx the work per minute of the default 10m",
			used.Seconds()/elapsed.Minutes(), used.Round(10*time.Millisecond), elapsed.Round(time.Second), reconciled, resync, (10*time.Minute).Seconds()/resync.Seconds()) +
			"; " + hottest,
		Details: map[string]any{"cpuSeconds": used.Seconds(), "elapsedSeconds": elapsed.Seconds(), "resyncPeriod": resync.String(), "periods": periods,
			"profile": cpuProfile, "top": top},
	})
	if err := b.mgr.Stop(); err != nil {
		return err
	}
	b.mgr = nil
	return nil
}
