package localenv

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// Poll calls check until it returns nil, and returns check's last error (with the context's)
// when ctx ends first. The interval grows from 20 ms to 500 ms.
func Poll(ctx context.Context, check func(ctx context.Context) error) error {
	interval := 20 * time.Millisecond
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(interval):
		}
		interval = min(2*interval, 500*time.Millisecond)
	}
}

// WaitReady waits until every object has a Ready condition with status True that is about its
// current generation (condition and status observedGeneration equal to metadata.generation),
// as `kubectl wait --for=condition=Ready` would, but without being fooled by a stale status.
// On timeout the error lists each object that is not Ready with its reason and message.
func (e *Env) WaitReady(ctx context.Context, objs ...client.Object) error {
	return WaitReady(ctx, e.Client, nil, objs...)
}

// WaitReady is Env.WaitReady for any client. It fails early when an object's Ready condition
// has had one of the failOn reasons (for the current generation) for failAfter, a few seconds
// that let a condition from before a dependency was applied clear up.
func WaitReady(ctx context.Context, c client.Client, failOn []string, objs ...client.Object) error {
	const failAfter = 5 * time.Second
	firstSeen := map[string]time.Time{}
	var terminal error
	err := Poll(ctx, func(ctx context.Context) error {
		var notReady []string
		for _, obj := range objs {
			r, err := CheckReady(ctx, c, obj)
			if err != nil {
				return err
			}
			if r.Ready {
				continue
			}
			notReady = append(notReady, fmt.Sprintf("%s: %s", Describe(obj), r))
			key := Describe(obj) + "\x00" + r.Reason
			if !r.Current || !slices.Contains(failOn, r.Reason) {
				continue
			}
			if first, ok := firstSeen[key]; !ok {
				firstSeen[key] = time.Now()
			} else if time.Since(first) >= failAfter {
				terminal = fmt.Errorf("%s: %s", Describe(obj), r)
				return nil
			}
		}
		if len(notReady) > 0 {
			return fmt.Errorf("not Ready:\n  %s", strings.Join(notReady, "\n  "))
		}
		return nil
	})
	if terminal != nil {
		return terminal
	}
	return err
}

// Readiness is what an object's Ready condition says.
type Readiness struct {
	// Ready is true when the condition is True and about the object's current generation.
	Ready bool
	// Current is true when the status is about the object's current generation.
	Current bool
	// Status, Reason and Message are the condition's; Status is "" without a condition, and
	// "NotFound" when the object does not exist.
	Status, Reason, Message string
}

// String says why the object is not Ready, in one line.
func (r Readiness) String() string {
	switch {
	case r.Status == "NotFound":
		return "not found"
	case r.Status == "":
		return "no Ready condition yet"
	case !r.Current:
		return "status is about an older generation"
	default:
		return fmt.Sprintf("Ready=%s %s: %s", r.Status, r.Reason, r.Message)
	}
}

// CheckReady reads an object's Ready condition.
func CheckReady(ctx context.Context, c client.Client, obj client.Object) (Readiness, error) {
	u, err := getUnstructured(ctx, c, obj)
	if apierrors.IsNotFound(err) {
		return Readiness{Status: "NotFound"}, nil
	}
	if err != nil {
		return Readiness{}, err
	}
	gen := u.GetGeneration()
	r := Readiness{Current: true}
	if og, found, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration"); found && og != gen {
		r.Current = false
	}
	conditions, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conditions {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != "Ready" {
			continue
		}
		if og, ok := m["observedGeneration"].(int64); ok && og != gen {
			r.Current = false
		}
		r.Status, _ = m["status"].(string)
		r.Reason, _ = m["reason"].(string)
		r.Message, _ = m["message"].(string)
		r.Ready = r.Current && r.Status == "True"
		return r, nil
	}
	return r, nil
}

// WaitGone waits until none of the objects exists any more (finalizers done).
func (e *Env) WaitGone(ctx context.Context, objs ...client.Object) error {
	return Poll(ctx, func(ctx context.Context) error {
		for _, obj := range objs {
			_, err := getUnstructured(ctx, e.Client, obj)
			if err == nil {
				return fmt.Errorf("%s still exists", Describe(obj))
			}
			if !apierrors.IsNotFound(err) {
				return err
			}
		}
		return nil
	})
}

func getUnstructured(ctx context.Context, c client.Client, obj client.Object) (*unstructured.Unstructured, error) {
	gvk, err := apiutil.GVKForObject(obj, c.Scheme())
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u, c.Get(ctx, client.ObjectKeyFromObject(obj), u)
}
