package controllers

import (
	"context"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// webhookCache is the per-site observation cache of DESIGN.md section 3.1: the webhooks of
// one Tableau site, listed at most once per resync period and shared by every TableauWebhook
// of that site. Create, update and delete responses are written into it, so that steady state
// costs one List per site per period instead of one Get per webhook.
//
// When a List shows that a webhook owned by a TableauWebhook changed or vanished, the owner is
// handed to notify, so that drift is corrected right after the List that revealed it.
type webhookCache struct {
	notify func(types.NamespacedName)

	mu    sync.Mutex
	items map[string]tableau.Webhook
	// names indexes items by name: the ids of the webhooks with each name.
	names     map[string][]string
	fetchedAt time.Time
	// seq counts local writes; touched remembers the seq of the last local write of each id,
	// so that a List that started before a write cannot undo it.
	seq     uint64
	touched map[string]uint64
	removed map[string]bool
	owners  map[string]types.NamespacedName
	// inflight is the List under way, shared by every caller that needs a fresh one.
	inflight *listCall
}

type listCall struct {
	done chan struct{}
	err  error
}

func newWebhookCache(notify func(types.NamespacedName)) *webhookCache {
	return &webhookCache{
		notify:  notify,
		items:   map[string]tableau.Webhook{},
		names:   map[string][]string{},
		touched: map[string]uint64{},
		removed: map[string]bool{},
		owners:  map[string]types.NamespacedName{},
	}
}

// refreshIfOlder lists the site's webhooks unless the cache was filled less than maxAge ago.
// Concurrent callers share one List.
func (c *webhookCache) refreshIfOlder(ctx context.Context, cl *tableau.Client, maxAge time.Duration) error {
	c.mu.Lock()
	if !c.fetchedAt.IsZero() && time.Since(c.fetchedAt) < maxAge {
		c.mu.Unlock()
		return nil
	}
	if call := c.inflight; call != nil {
		c.mu.Unlock()
		select {
		case <-call.done:
			return call.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	call := &listCall{done: make(chan struct{})}
	c.inflight = call
	startSeq := c.seq
	c.mu.Unlock()

	listed, err := cl.ListWebhooks(ctx)

	c.mu.Lock()
	c.inflight = nil
	if err == nil {
		c.replace(listed, startSeq)
	}
	call.err = err
	c.mu.Unlock()
	close(call.done)
	return err
}

// replace installs a List result, keeping local writes made after the List started, and
// notifies the owners of webhooks that changed or vanished. It updates the cache in place:
// an entry that did not change keeps its strings, and the List's copies are garbage at once.
// Building a new map of every webhook per List held two of them while it ran (at 10,000
// webhooks, ~3 MB each, once per period). Called with mu held.
func (c *webhookCache) replace(listed []tableau.Webhook, startSeq uint64) {
	for id, s := range c.touched {
		if s <= startSeq {
			delete(c.touched, id)
			delete(c.removed, id)
		}
	}
	// What is still touched was written after the List started: the local write wins over
	// what the List saw, whether it put the webhook or removed it.
	local := func(id string) bool {
		_, ok := c.touched[id]
		return ok
	}
	notify := !c.fetchedAt.IsZero()
	listedIDs := make(map[string]struct{}, len(listed))
	for _, w := range listed {
		listedIDs[w.ID] = struct{}{}
		if local(w.ID) {
			continue
		}
		old, had := c.items[w.ID]
		if had && old == w {
			continue
		}
		c.unindex(w.ID)
		c.items[w.ID] = w
		c.names[w.Name] = append(c.names[w.Name], w.ID)
		if owner, ok := c.owners[w.ID]; ok && had && notify {
			c.notify(owner)
		}
	}
	for id := range c.items {
		if _, ok := listedIDs[id]; !ok && !local(id) {
			c.unindex(id)
			delete(c.items, id)
		}
	}
	if notify {
		for id, owner := range c.owners {
			if _, ok := c.items[id]; !ok {
				c.notify(owner)
			}
		}
	}
	c.fetchedAt = time.Now()
}

// unindex removes the item with the given id from names. Called with mu held.
func (c *webhookCache) unindex(id string) {
	w, ok := c.items[id]
	if !ok {
		return
	}
	ids := slices.DeleteFunc(c.names[w.Name], func(x string) bool { return x == id })
	if len(ids) == 0 {
		delete(c.names, w.Name)
	} else {
		c.names[w.Name] = ids
	}
}

// get returns the cached webhook with the given id.
func (c *webhookCache) get(id string) (tableau.Webhook, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.items[id]
	return w, ok
}

// byName returns the cached webhooks with the given name, in no particular order.
func (c *webhookCache) byName(name string) []tableau.Webhook {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := c.names[name]
	out := make([]tableau.Webhook, 0, len(ids))
	for _, id := range ids {
		out = append(out, c.items[id])
	}
	return out
}

// put records a webhook as Tableau returned it from a create, update or get.
func (c *webhookCache) put(w tableau.Webhook) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	c.unindex(w.ID)
	c.items[w.ID] = w
	c.names[w.Name] = append(c.names[w.Name], w.ID)
	c.touched[w.ID] = c.seq
	delete(c.removed, w.ID)
}

// remove records that a webhook no longer exists in Tableau.
func (c *webhookCache) remove(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	c.unindex(id)
	delete(c.items, id)
	delete(c.owners, id)
	c.touched[id] = c.seq
	c.removed[id] = true
}

// dropOwner forgets every webhook that owner managed.
func (c *webhookCache) dropOwner(owner types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, o := range c.owners {
		if o == owner {
			delete(c.owners, id)
		}
	}
}

// setOwner records which TableauWebhook manages the webhook with the given id.
func (c *webhookCache) setOwner(id string, owner types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.owners[id] = owner
}
