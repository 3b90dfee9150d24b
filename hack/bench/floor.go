package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
)

// floorNamespace holds the copies the API-server-alone measurement writes to.
const floorNamespace = "bench-floor"

// writeOp is one kind of Kubernetes write the manager made during convergence, repeated by
// the bench against the API server alone.
type writeOp struct {
	key   localenv.APIRequestKey
	count int // over all N resources
	order int // position in a reconcile: metadata, status, then events
}

// writesAlone is what the API server alone took for a run's Kubernetes writes.
type writesAlone struct {
	createAlone, writesAlone time.Duration
	total                    int      // writes replayed
	skipped                  []string // write kinds not replayed
}

// apiServerAlone measures the second term of scenario 1's floor: with the manager stopped,
// the same Kubernetes writes the manager made per TableauWebhook during convergence (counted
// from apiserver_request_total), made by a client with --max-concurrent-reconciles workers,
// each working through one resource at a time as a reconcile does.
func (b *bench) apiServerAlone(ctx context.Context) error {
	n, workers := b.cfg.n, b.cfg.concurrency
	if err := b.mgr.Stop(); err != nil {
		return err
	}
	b.mgr = nil
	alone, err := b.measureWritesAlone(ctx, n, b.writesByKey)
	if err != nil {
		return err
	}
	tableauTerm := time.Duration(n) * b.cfg.latency / time.Duration(workers)
	floor := tableauTerm + alone.writesAlone
	ratio := b.convergeWall.Seconds() / floor.Seconds()
	b.report.add(Result{
		Scenario: "1. Convergence", Metric: fmt.Sprintf("wall time, %d created at once until all Ready", n),
		Value: b.convergeWall.Seconds(), Unit: "s",
		Target: fmt.Sprintf("<= 2 x floor = %.2f s", 2*floor.Seconds()), Met: met(ratio <= 2),
		Comparison: fmt.Sprintf("floor %s = %d x %s / %d (%s) + API server writes alone %s (%d writes, %d workers); wall/floor %.2f; creates alone %s (in the run: %s)",
			seconds(floor), n, b.cfg.latency, workers, seconds(tableauTerm), seconds(alone.writesAlone), alone.total, workers, ratio,
			seconds(alone.createAlone), seconds(b.createTime)),
		Details: map[string]any{
			"wallSeconds": b.convergeWall.Seconds(), "floorSeconds": floor.Seconds(), "tableauTermSeconds": tableauTerm.Seconds(),
			"apiServerWritesAloneSeconds": alone.writesAlone.Seconds(), "apiServerWrites": alone.total, "ratio": ratio,
			"createsAloneSeconds": alone.createAlone.Seconds(), "createsInRunSeconds": b.createTime.Seconds(),
			"writesNotReplayed": alone.skipped,
		},
		first: true,
	})
	return nil
}

// measureWritesAlone creates n copies of the bench's TableauWebhooks in floorNamespace and
// makes on them the writes of writesByKey (a run's manager writes, over n resources) with
// --max-concurrent-reconciles workers, while no manager runs. It removes the copies after.
func (b *bench) measureWritesAlone(ctx context.Context, n int, writesByKey localenv.APIRequests) (writesAlone, error) {
	workers := b.cfg.concurrency
	var ops []writeOp
	var res writesAlone
	for k, v := range writesByKey {
		c := int(v)
		switch {
		case k.Resource == "tableauwebhooks" && k.Subresource == "" && (k.Verb == "PATCH" || k.Verb == "PUT" || k.Verb == "APPLY"):
			ops = append(ops, writeOp{key: k, count: c, order: 0})
		case k.Resource == "tableauwebhooks" && k.Subresource == "status":
			ops = append(ops, writeOp{key: k, count: c, order: 1})
		case k.Resource == "events" && k.Verb == "POST":
			ops = append(ops, writeOp{key: k, count: c, order: 2})
		case k.Resource == "events" && k.Verb == "PATCH":
			ops = append(ops, writeOp{key: k, count: c, order: 3})
		default:
			res.skipped = append(res.skipped, fmt.Sprintf("%s=%d", k, c))
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].order < ops[j].order })
	for _, op := range ops {
		res.total += op.count
	}
	b.logf("API server alone: %d creates at %d workers, then %d writes (%s) at %d workers, manager stopped...",
		n, b.cfg.createWorkers, res.total, writesByKey.Without("tableausites"), workers)

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: floorNamespace}}
	if err := b.fast.Create(ctx, ns); client.IgnoreAlreadyExists(err) != nil {
		return res, err
	}
	objs := b.webhookObjects(floorNamespace, 0, n)
	start := time.Now()
	if err := localenv.CreateAll(ctx, b.fast, objs, b.cfg.createWorkers); err != nil {
		return res, err
	}
	res.createAlone = time.Since(start)

	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	start = time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := b.replayWrites(ctx, objs[i].(*tableauv1.TableauWebhook), i, n, ops); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	res.writesAlone = time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return res, err
	}

	// Leave nothing behind for the next manager to reconcile: the admission policy put the
	// manager's finalizer on each copy, and no manager is there to remove it.
	for _, obj := range objs {
		if err := b.fast.Patch(ctx, obj, mergePatch(map[string]any{"metadata": map[string]any{"finalizers": nil}})); err != nil {
			return res, err
		}
	}
	if err := b.fast.DeleteAllOf(ctx, &tableauv1.TableauWebhook{}, client.InNamespace(floorNamespace)); err != nil {
		return res, err
	}
	if err := b.fast.DeleteAllOf(ctx, &eventsv1.Event{}, client.InNamespace(floorNamespace)); err != nil {
		return res, err
	}
	return res, nil
}

// replayWrites makes the share of each write kind that falls to resource i of n, in reconcile
// order: metadata patches, status patches, Events.
func (b *bench) replayWrites(ctx context.Context, wh *tableauv1.TableauWebhook, i, n int, ops []writeOp) error {
	var eventName string
	for _, op := range ops {
		times := op.count / n
		if i < op.count%n {
			times++
		}
		for t := 0; t < times; t++ {
			var err error
			switch op.order {
			case 0:
				err = b.fast.Patch(ctx, wh, mergePatch(map[string]any{"metadata": map[string]any{"annotations": map[string]any{"bench.webhook-operator.dev/step": fmt.Sprint(t)}}}))
			case 1:
				err = b.fast.Status().Patch(ctx, wh, mergePatch(map[string]any{"status": map[string]any{
					"observedGeneration": 1, "webhookID": fmt.Sprintf("id-%d", i),
					"conditions": []map[string]any{{
						"type": "Ready", "status": "True", "reason": "Available", "observedGeneration": 1,
						"lastTransitionTime": time.Now().UTC().Format(time.RFC3339), "message": fmt.Sprintf("write %d", t),
					}},
				}}))
			case 2:
				eventName, err = b.createEvent(ctx, wh, op.key.Group)
			case 3:
				if eventName == "" {
					continue
				}
				ev := &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: wh.Namespace, Name: eventName}}
				err = b.fast.Patch(ctx, ev, mergePatch(map[string]any{"metadata": map[string]any{"annotations": map[string]any{"bench.webhook-operator.dev/step": fmt.Sprint(t)}}}))
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", op.key, wh.Name, err)
			}
		}
	}
	return nil
}

// createEvent records an Event about wh as the manager's recorder does (events.k8s.io/v1,
// or the core group if that is what the manager used).
func (b *bench) createEvent(ctx context.Context, wh *tableauv1.TableauWebhook, group string) (string, error) {
	name := fmt.Sprintf("%s.%d", wh.Name, time.Now().UnixNano())
	ref := corev1.ObjectReference{APIVersion: tableauv1.GroupVersion.String(), Kind: "TableauWebhook", Namespace: wh.Namespace, Name: wh.Name, UID: wh.UID}
	if group == "" {
		ev := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: wh.Namespace, Name: name},
			InvolvedObject: ref, Reason: "Created", Message: "Created webhook for the bench", Type: corev1.EventTypeNormal,
			Source: corev1.EventSource{Component: "bench"}, FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Count: 1,
		}
		return name, b.fast.Create(ctx, ev)
	}
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: wh.Namespace, Name: name},
		EventTime:  metav1.NowMicro(), ReportingController: "bench.webhook-operator.dev/bench", ReportingInstance: "bench",
		Action: "Create", Reason: "Created", Regarding: ref, Note: "Created webhook for the bench", Type: corev1.EventTypeNormal,
	}
	return name, b.fast.Create(ctx, ev)
}

func mergePatch(v any) client.Patch {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of strings and numbers
	}
	return client.RawPatch(types.MergePatchType, data)
}
