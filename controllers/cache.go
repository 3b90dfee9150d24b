package controllers

import (
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
)

// ConfigureCache sets how the manager's cache keeps objects. managedFields are most of a small
// object's size and the controllers never read them: every kind drops them. TableauWebhooks,
// the kind there are tens of thousands of, also keep one copy of the strings most of them
// share (sharedStrings).
func ConfigureCache(o *cache.Options) {
	strip := cache.TransformStripManagedFields()
	o.DefaultTransform = strip
	shared := newSharedStrings(4096)
	if o.ByObject == nil {
		o.ByObject = map[client.Object]cache.ByObject{}
	}
	o.ByObject[&tableauv1.TableauWebhook{}] = cache.ByObject{Transform: func(obj any) (any, error) {
		obj, err := strip(obj)
		if wh, ok := obj.(*tableauv1.TableauWebhook); ok && err == nil {
			shareWebhookStrings(shared, wh)
		}
		return obj, err
	}}
}

// shareWebhookStrings points the fields of wh that most TableauWebhooks have in common (their
// namespace, finalizer, site, event, Tableau site and owner, and their conditions' type,
// status and reason) at one copy of each value. Decoding gives every object its own copies:
// at 10,000 TableauWebhooks, about 2 MiB of the cache.
func shareWebhookStrings(shared *sharedStrings, wh *tableauv1.TableauWebhook) {
	shared.share(&wh.Namespace)
	for i := range wh.Finalizers {
		shared.share(&wh.Finalizers[i])
	}
	shared.share(&wh.Spec.SiteRef.Name)
	shared.share(&wh.Spec.SiteRef.Namespace)
	shared.share(&wh.Spec.Event)
	s := &wh.Status
	shared.share(&s.SiteID)
	shared.share(&s.StatusChangeReason)
	if s.Owner != nil {
		shared.share(&s.Owner.ID)
		shared.share(&s.Owner.Name)
	}
	for i := range s.Conditions {
		c := &s.Conditions[i]
		shared.share(&c.Type)
		shared.share(&c.Reason)
		shared.share((*string)(&c.Status))
	}
}

// sharedStrings keeps one copy of each string it is shown, up to a number of them: values a
// tenant makes up (every namespace may name its own site) stop being shared once it is full,
// and memory stays bounded.
type sharedStrings struct {
	mu     sync.Mutex
	max    int
	values map[string]string
}

func newSharedStrings(maxValues int) *sharedStrings {
	return &sharedStrings{max: maxValues, values: map[string]string{}}
}

// share replaces *s with the kept copy of its value, keeping it if there is room.
func (t *sharedStrings) share(s *string) {
	if *s == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if v, ok := t.values[*s]; ok {
		*s = v
	} else if len(t.values) < t.max {
		t.values[*s] = *s
	}
}
