package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// plainLoop is scenario 5: the N creations of scenario 1 done one after another with
// internal/tableau's client against a fresh simulator with the same latency (sign in, create
// each), as a script would do them. No rate limit: only the latency and the client's own
// cost count.
func (b *bench) plainLoop(ctx context.Context) error {
	n := b.cfg.n
	b.logf("Scenario 5: %d creations one after another by a plain client loop...", n)
	wall, st, err := b.runLoop(ctx, b.cfg.latency, "loop")
	if err != nil {
		return err
	}
	ratio := b.convergeWall.Seconds() / wall.Seconds()
	b.report.add(Result{
		Scenario: "5. Plain client loop", Metric: fmt.Sprintf("%d creates one after another", n), Value: wall.Seconds(), Unit: "s",
		Comparison: fmt.Sprintf("operator converged in %s: operator/loop = %.2f (the loop takes %.1fx the operator's time); loop's floor %d x %s = %s; %s",
			seconds(b.convergeWall), ratio, 1/ratio, n, b.cfg.latency, seconds(time.Duration(n)*b.cfg.latency), opsSummary(st)),
		Details: map[string]any{"wallSeconds": wall.Seconds(), "operatorSeconds": b.convergeWall.Seconds(), "ratioOperatorToLoop": ratio},
	})
	return nil
}

// runLoop creates N webhooks one after another against a fresh simulator of the given latency,
// adding the created-over-time curve to the plots.
func (b *bench) runLoop(ctx context.Context, latency time.Duration, site string) (time.Duration, localenv.SimStats, error) {
	n := b.cfg.n
	sim, err := b.env.StartSimulator(ctx, localenv.SimulatorOptions{
		Binary: b.bins.Simulator, Sites: []string{site}, TLS: true, Latency: latency, Name: "tableau-sim-" + site,
	})
	if err != nil {
		return 0, localenv.SimStats{}, err
	}
	defer func() { _ = sim.Stop() }()
	cl, err := tableau.NewClient(tableau.Config{
		ServerURL:   sim.URL,
		Site:        site,
		Credentials: tableau.Credentials{PATName: sim.PATName, PATSecret: sim.PATSecret},
		HTTPClient:  sim.HTTPClient(),
		QPS:         1e6,
		Burst:       1 << 20,
	})
	if err != nil {
		return 0, localenv.SimStats{}, err
	}
	defer func() { _ = cl.Close(context.Background()) }()
	start := time.Now()
	if _, err := cl.SignIn(ctx); err != nil {
		return 0, localenv.SimStats{}, err
	}
	done := make([]time.Time, 0, n)
	for i := 0; i < n; i++ {
		_, err := cl.CreateWebhook(ctx, tableau.WebhookSpec{
			Name:    "loop/" + webhookName(i),
			Event:   benchEvents[i%len(benchEvents)],
			URL:     fmt.Sprintf("https://hooks.example.com/bench/%05d", i),
			Enabled: true,
		})
		if err != nil {
			return 0, localenv.SimStats{}, fmt.Errorf("create %d: %w", i, err)
		}
		done = append(done, time.Now())
	}
	wall := time.Since(start)
	b.curves = append(b.curves, doneCurve(fmt.Sprintf("plain loop, %s per Tableau call", latency), latency, true, start, done))
	st, err := sim.Stats(ctx)
	return wall, st, err
}
