package main

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
)

// slowNamespace holds the webhooks of the second latency point.
const slowNamespace = "bench-slow"

// slowLatency is scenario 6: the convergence of scenario 1 and the plain loop of scenario 5
// again, at the latency Tableau Cloud users see (150 ms per call by default), in one run: N
// TableauWebhooks on a site of a second simulator, until all are Ready, then N creations one
// after another. The operator must be at least 5 times faster.
func (b *bench) slowLatency(ctx context.Context) error {
	n, latency := b.cfg.n, b.cfg.slowLatency
	if latency <= 0 {
		b.logf("Scenario 6 skipped (slow-latency 0)")
		return nil
	}
	sim, err := b.env.StartSimulator(ctx, localenv.SimulatorOptions{
		Binary: b.bins.Simulator, Sites: []string{"slow"}, TLS: true, Latency: latency, Name: "tableau-sim-slow",
	})
	if err != nil {
		return err
	}
	defer func() { _ = sim.Stop() }()
	fixture, objs := sim.SiteObjects(slowNamespace, "slow", "slow")
	if err := b.env.Apply(ctx, objs); err != nil {
		return err
	}
	mgr, err := b.startManager(ctx)
	if err != nil {
		return err
	}
	b.mgr = mgr
	siteCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := b.env.WaitReady(siteCtx, fixture.Site()); err != nil {
		return err
	}
	tracker, err := b.env.TrackWebhooks(b.trackerCtx, slowNamespace)
	if err != nil {
		return err
	}
	if err := b.waitQuiet(ctx, 2*time.Minute); err != nil {
		return err
	}
	hooks := make([]client.Object, 0, n)
	for i := 0; i < n; i++ {
		hooks = append(hooks, fixture.Webhook(webhookName(i), benchEvents[i%len(benchEvents)], fmt.Sprintf("https://hooks.example.com/slow/%05d", i)))
	}
	b.logf("Scenario 6: %d TableauWebhooks at %s per Tableau call, then the plain loop at the same latency...", n, latency)
	start := time.Now()
	if err := localenv.CreateAll(ctx, b.fast, hooks, b.cfg.createWorkers); err != nil {
		return err
	}
	waitCtx, cancelWait := context.WithTimeout(ctx, b.cfg.convergeTimeout(n)+time.Duration(n)*latency/time.Duration(b.cfg.concurrency))
	defer cancelWait()
	if err := tracker.WaitAllReady(waitCtx, n); err != nil {
		return fmt.Errorf("convergence at %s: %w (manager log %s)", latency, err, mgr.LogPath)
	}
	operator := tracker.LastReadyAt().Sub(start)
	b.curves = append(b.curves, readyCurve(fmt.Sprintf("operator, %s per Tableau call", latency), latency, start, tracker))
	b.logf("  all %d Ready after %s; deleting them, then the plain loop...", n, operator.Round(time.Millisecond))
	if err := b.deleteWebhooks(ctx, slowNamespace, tracker); err != nil {
		return err
	}
	if err := b.mgr.Stop(); err != nil {
		return err
	}
	b.mgr = nil

	loop, st, err := b.runLoop(ctx, latency, "slowloop")
	if err != nil {
		return err
	}
	ratio := loop.Seconds() / operator.Seconds()
	tableauTerm := time.Duration(n) * latency / time.Duration(b.cfg.concurrency)
	b.report.add(Result{
		Scenario: "6. Tableau Cloud latency", Metric: fmt.Sprintf("plain loop / operator, %d webhooks at %s per call", n, latency), Value: ratio, Unit: "x",
		Target: ">= 5", Met: met(ratio >= 5),
		Comparison: fmt.Sprintf("operator all Ready in %s (Tableau term %d x %s / %d = %s); plain loop %s (floor %s; %s); the ratio is bounded by --max-concurrent-reconciles (%d here; the shipped default 4 bounds it near 4)",
			seconds(operator), n, latency, b.cfg.concurrency, seconds(tableauTerm), seconds(loop), seconds(time.Duration(n)*latency), opsSummary(st), b.cfg.concurrency),
		Details: map[string]any{"operatorSeconds": operator.Seconds(), "loopSeconds": loop.Seconds(), "latency": latency.String()},
	})
	return nil
}

// deleteWebhooks deletes every TableauWebhook of namespace and waits until the manager has
// deleted them in Tableau and they are gone.
func (b *bench) deleteWebhooks(ctx context.Context, namespace string, tracker *localenv.WebhookTracker) error {
	if err := b.fast.DeleteAllOf(ctx, &tableauv1.TableauWebhook{}, client.InNamespace(namespace)); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.convergeTimeout(b.cfg.n))
	defer cancel()
	if err := tracker.Wait(ctx, func(_, total int) bool { return total == 0 }); err != nil {
		return fmt.Errorf("deleting the TableauWebhooks of %s: %w", namespace, err)
	}
	return nil
}
