package localenv

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
)

// WebhookTracker follows the TableauWebhooks of one namespace through a watch, so that a
// program can wait for thousands of them to be Ready without listing them over and over (a
// List of 10,000 resources is megabytes, and its cost would land on the API server being
// measured).
type WebhookTracker struct {
	mu      sync.Mutex
	items   map[string]TrackedWebhook
	changed chan struct{} // closed and replaced on every change
	err     error
	done    chan struct{}
}

// TrackedWebhook is what the tracker knows of one TableauWebhook.
type TrackedWebhook struct {
	// Ready is true when the Ready condition is True for the current generation.
	Ready bool
	// ReadyAt is when the tracker saw it become Ready (zero when it is not).
	ReadyAt time.Time
	// Reason is the Ready condition's reason.
	Reason string
	// WebhookID is status.webhookID.
	WebhookID string
}

// TrackWebhooks starts following the TableauWebhooks of namespace until ctx ends.
func (e *Env) TrackWebhooks(ctx context.Context, namespace string) (*WebhookTracker, error) {
	cfg := rest.CopyConfig(e.Config)
	cfg.QPS = -1 // a watch and the occasional re-list: no client-side limit needed
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: e.Scheme})
	if err != nil {
		return nil, err
	}
	t := &WebhookTracker{items: map[string]TrackedWebhook{}, changed: make(chan struct{}), done: make(chan struct{})}
	rv, err := t.relist(ctx, c, namespace)
	if err != nil {
		return nil, err
	}
	go t.run(ctx, c, namespace, rv)
	return t, nil
}

func (t *WebhookTracker) relist(ctx context.Context, c client.WithWatch, namespace string) (string, error) {
	var list tableauv1.TableauWebhookList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return "", err
	}
	t.mu.Lock()
	seen := map[string]bool{}
	for i := range list.Items {
		t.setLocked(&list.Items[i])
		seen[list.Items[i].Name] = true
	}
	for name := range t.items {
		if !seen[name] {
			delete(t.items, name)
		}
	}
	t.notifyLocked()
	t.mu.Unlock()
	return list.ResourceVersion, nil
}

func (t *WebhookTracker) run(ctx context.Context, c client.WithWatch, namespace, rv string) {
	defer close(t.done)
	for ctx.Err() == nil {
		w, err := c.Watch(ctx, &tableauv1.TableauWebhookList{}, client.InNamespace(namespace),
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if rv, err = t.relistAfter(ctx, c, namespace, err); err != nil {
				t.fail(err)
				return
			}
			continue
		}
		rv = t.consume(ctx, w, rv)
		w.Stop()
		if rv == "" { // expired: list again
			if rv, err = t.relistAfter(ctx, c, namespace, nil); err != nil {
				t.fail(err)
				return
			}
		}
	}
}

// relistAfter lists again after a failed watch, retrying for a while.
func (t *WebhookTracker) relistAfter(ctx context.Context, c client.WithWatch, namespace string, cause error) (string, error) {
	var last error
	for attempt := 0; attempt < 20 && ctx.Err() == nil; attempt++ {
		rv, err := t.relist(ctx, c, namespace)
		if err == nil {
			return rv, nil
		}
		last = err
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("watch TableauWebhooks in %s: %w", namespace, errors.Join(cause, last, ctx.Err()))
}

// consume applies watch events until the watch ends; it returns the last resourceVersion,
// or "" when the server says it is too old.
func (t *WebhookTracker) consume(ctx context.Context, w watch.Interface, rv string) string {
	for {
		select {
		case <-ctx.Done():
			return rv
		case ev, ok := <-w.ResultChan():
			if !ok {
				return rv
			}
			switch ev.Type {
			case watch.Error:
				if status, ok := ev.Object.(*metav1.Status); ok && status.Code == 410 {
					return ""
				}
				if apierrors.IsResourceExpired(apierrors.FromObject(ev.Object)) || apierrors.IsGone(apierrors.FromObject(ev.Object)) {
					return ""
				}
				return rv
			case watch.Bookmark:
				if o, ok := ev.Object.(client.Object); ok {
					rv = o.GetResourceVersion()
				}
			case watch.Added, watch.Modified:
				wh, ok := ev.Object.(*tableauv1.TableauWebhook)
				if !ok {
					continue
				}
				rv = wh.ResourceVersion
				t.mu.Lock()
				t.setLocked(wh)
				t.notifyLocked()
				t.mu.Unlock()
			case watch.Deleted:
				wh, ok := ev.Object.(*tableauv1.TableauWebhook)
				if !ok {
					continue
				}
				rv = wh.ResourceVersion
				t.mu.Lock()
				delete(t.items, wh.Name)
				t.notifyLocked()
				t.mu.Unlock()
			}
		}
	}
}

func (t *WebhookTracker) setLocked(wh *tableauv1.TableauWebhook) {
	old := t.items[wh.Name]
	s := TrackedWebhook{WebhookID: wh.Status.WebhookID}
	if c := meta.FindStatusCondition(wh.Status.Conditions, tableauv1.ConditionReady); c != nil {
		s.Reason = c.Reason
		s.Ready = c.Status == metav1.ConditionTrue && c.ObservedGeneration == wh.Generation &&
			wh.Status.ObservedGeneration == wh.Generation
	}
	if s.Ready {
		s.ReadyAt = old.ReadyAt
		if !old.Ready {
			s.ReadyAt = time.Now()
		}
	}
	t.items[wh.Name] = s
}

func (t *WebhookTracker) notifyLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

func (t *WebhookTracker) fail(err error) {
	t.mu.Lock()
	t.err = err
	t.notifyLocked()
	t.mu.Unlock()
}

// Counts returns how many TableauWebhooks exist and how many of them are Ready.
func (t *WebhookTracker) Counts() (ready, total int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.items {
		if s.Ready {
			ready++
		}
	}
	return ready, len(t.items)
}

// Snapshot returns the tracked state by TableauWebhook name.
func (t *WebhookTracker) Snapshot() map[string]TrackedWebhook {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]TrackedWebhook, len(t.items))
	for k, v := range t.items {
		out[k] = v
	}
	return out
}

// LastReadyAt returns when the last of the Ready TableauWebhooks became Ready.
func (t *WebhookTracker) LastReadyAt() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	var last time.Time
	for _, s := range t.items {
		if s.Ready && s.ReadyAt.After(last) {
			last = s.ReadyAt
		}
	}
	return last
}

// Wait blocks until cond(ready, total) holds, the watch fails, or ctx ends. On timeout the
// error gives the counts and the Ready reasons of a few that are not Ready.
func (t *WebhookTracker) Wait(ctx context.Context, cond func(ready, total int) bool) error {
	for {
		t.mu.Lock()
		ch, err := t.changed, t.err
		t.mu.Unlock()
		if err != nil {
			return err
		}
		ready, total := t.Counts()
		if cond(ready, total) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%d of %d TableauWebhooks Ready (%s): %w", ready, total, t.notReadySummary(5), ctx.Err())
		}
	}
}

// WaitAllReady waits until n TableauWebhooks exist and all are Ready.
func (t *WebhookTracker) WaitAllReady(ctx context.Context, n int) error {
	return t.Wait(ctx, func(ready, total int) bool { return total == n && ready == n })
}

// notReadySummary counts the reasons of the TableauWebhooks that are not Ready and names a
// few of them.
func (t *WebhookTracker) notReadySummary(examples int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	reasons := map[string]int{}
	var names []string
	for name, s := range t.items {
		if s.Ready {
			continue
		}
		r := s.Reason
		if r == "" {
			r = "no condition"
		}
		reasons[r]++
		if len(names) < examples {
			names = append(names, name+" ("+r+")")
		}
	}
	if len(names) == 0 {
		return "none pending"
	}
	return fmt.Sprintf("not Ready by reason %v, e.g. %v", reasons, names)
}
