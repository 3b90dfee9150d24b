package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// steadyState is scenario 2: a manager with a short --resync-period starts on the N
// converged TableauWebhooks (none sets spec.resyncPeriod); once it has gone through all of
// them, it is watched for a number of periods.
func (b *bench) steadyState(ctx context.Context) error {
	n, period, periods := b.cfg.n, b.cfg.steadyResync, b.cfg.steadyPeriods
	if err := b.sim.ResetStats(ctx); err != nil {
		return err
	}
	before, err := b.env.APIServerRequests(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	mgr, err := b.startManager(ctx, "--resync-period="+period.String())
	if err != nil {
		return err
	}
	b.mgr = mgr
	if err := b.waitReconciled(ctx, n); err != nil {
		return err
	}
	settled := time.Since(start)
	if err := b.waitQuiet(ctx, time.Minute); err != nil {
		return err
	}
	restartStats, err := b.sim.Stats(ctx)
	if err != nil {
		return err
	}
	after, err := b.env.APIServerRequests(ctx)
	if err != nil {
		return err
	}
	restartWrites := after.Sub(before).Writes(managerResources...)
	b.report.add(Result{
		Scenario: "2. Steady state", Metric: fmt.Sprintf("restart on %d converged: Tableau requests", n), Value: float64(restartStats.Total),
		Comparison: fmt.Sprintf("%s; Kubernetes writes %s; every resource reconciled once in %s", opsSummary(restartStats), restartWrites, seconds(settled)),
		Details:    map[string]any{"tableauRequests": restartStats.ByOperation, "kubernetesWrites": apiRequestsJSON(restartWrites), "settleSeconds": settled.Seconds()},
	})

	window := time.Duration(periods) * period
	b.logf("Scenario 2: observing %d resync periods of %s (%s)...", periods, period, window)
	if err := b.sim.ResetStats(ctx); err != nil {
		return err
	}
	before, err = b.env.APIServerRequests(ctx)
	if err != nil {
		return err
	}
	reconcilesBefore, err := b.reconciles(ctx)
	if err != nil {
		return err
	}
	select { // a fixed observation window, not a synchronisation
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(window):
	}
	st, err := b.sim.Stats(ctx)
	if err != nil {
		return err
	}
	after, err = b.env.APIServerRequests(ctx)
	if err != nil {
		return err
	}
	reconcilesAfter, err := b.reconciles(ctx)
	if err != nil {
		return err
	}
	delta := after.Sub(before)
	writes := delta.Writes(managerResources...)
	events := writes.Writes("events")
	resources := writes.Without("events")
	lists := st.Count(tableautest.OpListWebhooks)
	perPeriod := float64(lists) / float64(periods)
	reconciled := reconcilesAfter - reconcilesBefore
	common := fmt.Sprintf("%d reconciles of TableauWebhooks in the window (%.1f per resource)", int(reconciled), reconciled/float64(n))
	b.report.add(Result{
		Scenario: "2. Steady state", Metric: "Tableau Lists per site per period", Value: perPeriod,
		Target: "<= 1", Met: met(perPeriod <= 1),
		Comparison: fmt.Sprintf("%d Lists in %d periods of %s, one site; all Tableau requests: %s", lists, periods, period, opsSummary(st)),
		Details:    map[string]any{"tableauRequests": st.ByOperation, "periods": periods, "period": period.String(), "reconciles": reconciled},
	})
	tw := tableauWrites(st)
	b.report.add(Result{
		Scenario: "2. Steady state", Metric: "Tableau writes", Value: float64(tw),
		Target: "0", Met: met(tw == 0), Comparison: common,
	})
	b.report.add(Result{
		Scenario: "2. Steady state", Metric: "Kubernetes writes by the manager (resources, status)", Value: resources.Total(),
		Target: "0", Met: met(resources.Total() == 0),
		Comparison: fmt.Sprintf("%s; other writes (kube-apiserver's own leases etc., not the manager's): %s", resources, delta.Writes().Without(managerResources...)),
		Details:    map[string]any{"managerWrites": apiRequestsJSON(resources), "otherWrites": apiRequestsJSON(delta.Writes().Without(managerResources...))},
	})
	b.report.add(Result{
		Scenario: "2. Steady state", Metric: "Events written by the manager", Value: events.Total(),
		Target: "0", Met: met(events.Total() == 0), Comparison: events.String(),
	})
	if err := b.mgr.Stop(); err != nil {
		return err
	}
	b.mgr = nil
	return nil
}

// reconciles returns the running manager's count of TableauWebhook reconciles.
func (b *bench) reconciles(ctx context.Context) (float64, error) {
	s, err := b.mgr.Metrics(ctx)
	if err != nil {
		return 0, err
	}
	return s.Sum("controller_runtime_reconcile_total", map[string]string{"controller": "tableauwebhook"}), nil
}

// waitReconciled waits until a freshly started manager has reconciled at least n
// TableauWebhooks and its queue is empty with no reconcile running.
func (b *bench) waitReconciled(ctx context.Context, n int) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.convergeTimeout(n))
	defer cancel()
	return localenv.Poll(ctx, func(ctx context.Context) error {
		s, err := b.mgr.Metrics(ctx)
		if err != nil {
			return err
		}
		sel := map[string]string{"controller": "tableauwebhook"}
		done := s.Sum("controller_runtime_reconcile_total", sel)
		depth := s.Sum("workqueue_depth", map[string]string{"name": "tableauwebhook"})
		active := s.Sum("controller_runtime_active_workers", sel)
		if done < float64(n) || depth > 0 || active > 0 {
			return fmt.Errorf("manager reconciled %d of %d TableauWebhooks (queue %d, running %d)", int(done), n, int(depth), int(active))
		}
		return nil
	})
}
