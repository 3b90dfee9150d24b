package controllers

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// converged remembers, per TableauWebhook UID, the last reconcile that found the resource Ready
// and wrote what it wanted: the resource's resourceVersion after that write, the epochs of what
// else it read, the connection it used and a hash of the webhook Tableau showed. A resync that
// finds all of them unchanged has nothing to do but to look at the site's observation cache
// (which the site refreshes once per period): the full reconcile would read, decide and write
// exactly what it did last time. Anything else (a new resourceVersion; an event of its
// TableauSite, of a Secret that site or its namespace reads, of its Namespace's labels, or of a
// TableauWebhook that gives up its Tableau name; a refused or replaced connection; a webhook
// Tableau shows differently or not at all) takes the full reconcile, with every check.
//
// At 10,000 TableauWebhooks resynced every period, the full reconcile of unchanged resources was
// most of the manager's idle CPU.
type converged struct {
	seed maphash.Seed
	// epochs count the events of what a TableauWebhook's reconcile reads besides itself and
	// Tableau, by what it is (epochKey): its TableauSite, its namespace, its Tableau name.
	// Keys share slots by hash, so that memory does not grow with the keys ever seen; a shared
	// slot only voids more entries than needed.
	epochs [1024]atomic.Uint64

	// skipped counts the reconciles it let skip.
	skipped atomic.Uint64

	mu      sync.Mutex
	entries map[types.UID]convergedEntry
}

// convergedEntry is what a converged resource needs remembered; what its object says (its
// site, its webhook's ID) is read from the object, which the resourceVersion pins.
type convergedEntry struct {
	resourceVersion string
	epochs          dependencyEpochs
	conn            *connection
	webhook         uint64 // maphash of the tableau.Webhook
}

func newConverged() *converged {
	return &converged{seed: maphash.MakeSeed(), entries: map[types.UID]convergedEntry{}}
}

// Kinds of epochKey.
const (
	epochSite      = "site/"
	epochNamespace = "namespace/"
	epochName      = "name/"
)

// dependencyEpochs are the epochs of a TableauWebhook's site, namespace and Tableau name.
type dependencyEpochs [3]uint64

func (c *converged) slot(kind, key string) *atomic.Uint64 {
	return &c.epochs[maphash.String(c.seed, kind+key)%uint64(len(c.epochs))]
}

// changed voids the entries that depend on key (of kind epochSite, epochNamespace, epochName).
// The handlers that wake TableauWebhooks for a change call it before they enqueue them, so that
// the reconcile they wake cannot take the fast path on the old epoch.
func (c *converged) changed(kind, key string) { c.slot(kind, key).Add(1) }

// epochsOf reads the epochs wh depends on. A reconcile reads them before it reads what they
// stand for, so that a change meanwhile voids what it records.
func (c *converged) epochsOf(wh *tableauv1.TableauWebhook) dependencyEpochs {
	return dependencyEpochs{
		c.slot(epochSite, siteKeyOf(wh).String()).Load(),
		c.slot(epochNamespace, wh.Namespace).Load(),
		c.slot(epochName, wh.TableauName()).Load(),
	}
}

// record remembers a reconcile of before that left wh Ready, with w as Tableau shows it; epochs
// were read before the reconcile read its dependencies. wh is the object as the reconcile's last
// write returned it. A status patch takes no lock, so its answer can show a change made
// meanwhile that the reconcile did not read (a spec edit, the start of a deletion, a test
// request): then nothing is recorded, since the resourceVersion would vouch for it.
func (c *converged) record(before, wh *tableauv1.TableauWebhook, epochs dependencyEpochs, conn *connection, w tableau.Webhook) {
	if wh.Generation != before.Generation || wh.Annotations[tableauv1.AnnotationTest] != before.Annotations[tableauv1.AnnotationTest] ||
		!settled(wh) || wh.Status.WebhookID != w.ID {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[wh.UID] = convergedEntry{
		resourceVersion: wh.ResourceVersion, epochs: epochs, conn: conn, webhook: maphash.Comparable(c.seed, w),
	}
}

// settled reports whether the resource asks for nothing that only a full reconcile does: it is
// not being deleted, keeps its finalizer, and asks for no test that has not run.
func settled(wh *tableauv1.TableauWebhook) bool {
	return wh.DeletionTimestamp.IsZero() && controllerutil.ContainsFinalizer(wh, webhookFinalizer) && !testPending(wh)
}

func (c *converged) forget(uid types.UID) {
	c.mu.Lock()
	delete(c.entries, uid)
	c.mu.Unlock()
}

func (c *converged) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// unchanged reports whether the resource, as the cache has it, is where the last reconcile
// left it, and its webhook in Tableau is too, by the site's observation cache refreshed as the
// full reconcile would refresh it; and if so, when to look again. It makes no Tableau call but
// that List, and writes nothing.
func (r *TableauWebhookReconciler) unchanged(ctx context.Context, key types.NamespacedName) (time.Duration, bool) {
	c := r.converged
	wh := &tableauv1.TableauWebhook{}
	// Read only: the cached object itself, not a copy.
	if err := r.Get(ctx, key, wh, client.UnsafeDisableDeepCopy); err != nil {
		return 0, false
	}
	if !settled(wh) {
		return 0, false
	}
	c.mu.Lock()
	e, ok := c.entries[wh.UID]
	c.mu.Unlock()
	if !ok || e.resourceVersion != wh.ResourceVersion || e.epochs != c.epochsOf(wh) || !r.conns.stillUsing(siteKeyOf(wh), e.conn) {
		return 0, false
	}
	if err := e.conn.webhooks.refreshIfOlder(ctx, e.conn.client, r.cacheMaxAge(wh)); err != nil {
		return 0, false
	}
	if w, ok := e.conn.webhooks.get(wh.Status.WebhookID); !ok || maphash.Comparable(c.seed, w) != e.webhook {
		return 0, false
	}
	c.skipped.Add(1)
	return r.resyncPeriod(wh), true
}
