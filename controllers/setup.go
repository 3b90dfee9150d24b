package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/eventrecorder"
)

// Transient failures are retried per resource from 1 s, doubling, up to 5 min (DESIGN 2.3).
const (
	backoffBase = time.Second
	backoffMax  = 5 * time.Minute
)

// signOutTimeout bounds the sign-outs at manager shutdown.
const signOutTimeout = 10 * time.Second

// Setup registers the field indexes and both reconcilers with the manager. They share the
// Tableau sessions (one per credential) and the per-site observation caches.
func Setup(ctx context.Context, mgr manager.Manager, opts Options) error {
	_, err := setup(ctx, mgr, opts)
	return err
}

// operator is what Setup builds, for the tests that look inside.
type operator struct {
	conns    *connections
	webhooks *TableauWebhookReconciler
}

// resyncsSkipped is the key of footprint's one entry that is a counter, not memory.
const resyncsSkipped = "resyncsSkipped"

// footprint counts what the manager keeps in memory per object: every count returns to its
// level once the objects are deleted.
func (o *operator) footprint() map[string]int {
	out := o.conns.footprint()
	out["secretValues"] = o.conns.secrets.size()
	applied := 0
	o.webhooks.applied.Range(func(_, _ any) bool { applied++; return true })
	out["appliedDigests"] = applied
	rejected := 0
	o.webhooks.rejected.Range(func(_, _ any) bool { rejected++; return true })
	out["rejectedSpecs"] = rejected
	out["convergedEntries"] = o.webhooks.converged.size()
	// Not a footprint: a count of the resyncs that found nothing changed (fastpath.go).
	out[resyncsSkipped] = int(o.webhooks.converged.skipped.Load())
	return out
}

func setup(ctx context.Context, mgr manager.Manager, opts Options) (*operator, error) {
	if err := setupIndexes(ctx, mgr); err != nil {
		return nil, err
	}
	metrics := NewMetrics(nil)
	drift := make(chan event.GenericEvent, 4096)
	log := ctrl.Log.WithName("tableau")
	notify := func(key types.NamespacedName) {
		wh := &tableauv1.TableauWebhook{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
		select {
		case drift <- event.GenericEvent{Object: wh}:
		default:
			// The resource's own resync catches what a full queue drops.
			log.V(1).Info("Drift notification dropped: queue full", "tableauWebhook", key)
		}
	}
	refusedSites := make(chan event.GenericEvent, 1024)
	notifySite := func(key types.NamespacedName) {
		site := &tableauv1.TableauSite{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
		select {
		case refusedSites <- event.GenericEvent{Object: site}:
		default:
			// The site's own resync catches what a full queue drops.
			log.V(1).Info("Site notification dropped: queue full", "tableauSite", key)
		}
	}
	secrets := newSecretValues(mgr.GetClient(), mgr.GetAPIReader())
	conns := newConnections(mgr.GetClient(), secrets, opts, metrics, log, notify)
	conns.notifySite = notifySite
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		closeCtx, cancel := context.WithTimeout(context.Background(), signOutTimeout)
		defer cancel()
		conns.close(closeCtx)
		return nil
	})); err != nil {
		return nil, err
	}

	// Events go through a recorder of bounded memory (internal/eventrecorder), not
	// mgr.GetEventRecorder: client-go's broadcaster keeps a copy of every Event it wrote for 6
	// to 12 minutes, 11 MiB of the heap after 10,000 TableauWebhooks were created.
	eventsClient, err := eventsv1client.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return nil, err
	}
	siteEvents := eventrecorder.New(eventsClient, mgr.GetScheme(), "tableausite-controller", mgr.GetLogger().WithName("events"), eventrecorder.Options{})
	if err := mgr.Add(siteEvents); err != nil {
		return nil, err
	}

	access := siteAccess{reader: mgr.GetClient()}
	sites := &TableauSiteReconciler{
		Client:   mgr.GetClient(),
		Recorder: siteEvents,
		Options:  opts,
		conns:    conns,
		access:   access,
	}
	if err := sites.setupWithManager(mgr, refusedSites); err != nil {
		return nil, err
	}
	webhooks := &TableauWebhookReconciler{
		Client:    mgr.GetClient(),
		Recorder:  siteEvents.For("tableauwebhook-controller"),
		Options:   opts,
		Metrics:   metrics,
		conns:     conns,
		secrets:   secrets,
		access:    access,
		converged: newConverged(),
	}
	if err := webhooks.setupWithManager(mgr, drift); err != nil {
		return nil, err
	}
	if err := (&CredentialsProtectionReconciler{Client: mgr.GetClient()}).setupWithManager(mgr, opts); err != nil {
		return nil, err
	}
	// tableau_resource_condition, read from this manager's cache while it leads.
	if err := mgr.Add(&conditionSource{collector: metrics.conditions, cache: mgr.GetCache()}); err != nil {
		return nil, err
	}
	return &operator{conns: conns, webhooks: webhooks}, nil
}

func controllerOptions(opts Options) controller.Options {
	return controller.Options{
		MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
		RateLimiter:             workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](backoffBase, backoffMax),
	}
}

func (r *TableauSiteReconciler) setupWithManager(mgr manager.Manager, refused <-chan event.GenericEvent) error {
	return ctrl.NewControllerManagedBy(mgr).
		// Its own Ready changes too: a reconcile that read the site before its last status write
		// reached the cache diffs against a stale status and writes nothing, so the answer of
		// that write runs it once more against the status as written.
		For(&tableauv1.TableauSite{}, builder.WithPredicates(siteUsabilityChanged())).
		// Attaching or detaching a webhook changes the count, the finalizer and the List period.
		Watches(&tableauv1.TableauWebhook{}, r.webhookEvents(), builder.WithPredicates(specOrDeletionChanged())).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.sitesOfSecret), builder.OnlyMetadata).
		// A deleted Secret's data is not kept.
		Watches(&corev1.Secret{}, handler.Funcs{DeleteFunc: func(_ context.Context, e event.DeleteEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.conns.secrets.forget(client.ObjectKeyFromObject(e.Object))
		}}, builder.OnlyMetadata).
		// A deleted site frees its personal access token for a site refused with CredentialsInUse.
		Watches(&tableauv1.TableauSite{}, handler.Funcs{DeleteFunc: r.enqueueCredentialsInUse}).
		// Namespace labels decide which webhooks a Selector admits, and so the count.
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.sitesOfNamespace), builder.OnlyMetadata,
			builder.WithPredicates(predicate.LabelChangedPredicate{})).
		// A TableauWebhook's call found the site refused (revoked token, lost rights, site
		// gone): its Ready says so at once, not at its next resync.
		WatchesRawSource(source.Channel(refused, &handler.EnqueueRequestForObject{})).
		WithOptions(controllerOptions(r.Options)).
		Complete(r)
}

func (r *TableauSiteReconciler) enqueueCredentialsInUse(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	// Release the deleted site's claim on its session here, not only in its own reconcile:
	// the refused sites enqueued below may run first and must find the token free.
	r.conns.release(ctx, client.ObjectKeyFromObject(e.Object))
	if site, ok := e.Object.(*tableauv1.TableauSite); ok {
		for _, name := range siteSecretNames(site) {
			forgetUnreferencedSecret(ctx, r.Client, r.conns.secrets, types.NamespacedName{Namespace: site.Namespace, Name: name})
		}
	}
	var list tableauv1.TableauSiteList
	if err := r.List(ctx, &list); err != nil {
		return
	}
	for i := range list.Items {
		if c := meta.FindStatusCondition(list.Items[i].Status.Conditions, tableauv1.ConditionReady); c != nil && c.Reason == tableauv1.ReasonCredentialsInUse {
			q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
}

func (r *TableauWebhookReconciler) setupWithManager(mgr manager.Manager, drift <-chan event.GenericEvent) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&tableauv1.TableauWebhook{}, builder.WithPredicates(predicate.Or(specOrDeletionChanged(), testRequested()))).
		// A resource that is deleted, renamed or refused by its site frees its Tableau name for
		// the resources that conflicted with it.
		Watches(&tableauv1.TableauWebhook{}, handler.Funcs{DeleteFunc: r.onWebhookDeleted, UpdateFunc: r.enqueueNameSiblingsOnRelease}).
		Watches(&tableauv1.TableauSite{}, handler.EnqueueRequestsFromMapFunc(r.webhooksOfSite),
			builder.WithPredicates(siteUsabilityChanged())).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.webhooksOfSecret), builder.OnlyMetadata).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.webhooksInNamespace), builder.OnlyMetadata,
			builder.WithPredicates(predicate.LabelChangedPredicate{})).
		WatchesRawSource(source.Channel(drift, &handler.EnqueueRequestForObject{})).
		WithOptions(controllerOptions(r.Options)).
		Complete(r)
}

// specOrDeletionChanged passes creations, deletions, spec changes and the start of a
// deletion, and not the controller's own status and annotation writes.
func specOrDeletionChanged() predicate.Predicate {
	return predicate.Or(predicate.GenerationChangedPredicate{}, predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero()
		},
	})
}

// testRequested passes a new value of the test annotation.
func testRequested() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectOld.GetAnnotations()[tableauv1.AnnotationTest] != e.ObjectNew.GetAnnotations()[tableauv1.AnnotationTest]
		},
	}
}

// siteUsabilityChanged passes site changes that matter to its webhooks: spec, deletion,
// readiness and identity; not the webhook count or messages.
func siteUsabilityChanged() predicate.Predicate {
	return predicate.Or(specOrDeletionChanged(), predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return true },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*tableauv1.TableauSite)
			n, ok2 := e.ObjectNew.(*tableauv1.TableauSite)
			if !ok1 || !ok2 {
				return true
			}
			oc := meta.FindStatusCondition(o.Status.Conditions, tableauv1.ConditionReady)
			nc := meta.FindStatusCondition(n.Status.Conditions, tableauv1.ConditionReady)
			if (oc == nil) != (nc == nil) || o.Status.SiteID != n.Status.SiteID {
				return true
			}
			return oc != nil && (oc.Status != nc.Status || oc.Reason != nc.Reason)
		},
	})
}

// siteCountDelay gathers the webhooks attached to a site within it into one reconcile of the
// site: a burst of new TableauWebhooks costs the site one status write (the count) per delay
// instead of one per webhook.
const siteCountDelay = time.Second

// webhookEvents enqueues the site of a TableauWebhook that is created, deleted, changes site
// or starts its deletion. Only a new webhook of a site that already has webhooks (and so its
// finalizer and List period) waits siteCountDelay, since it changes nothing but the count; the
// first webhook of a site and every detachment are handled at once.
func (r *TableauSiteReconciler) webhookEvents() handler.EventHandler {
	enqueue := func(ctx context.Context, o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request], attach bool) {
		wh, ok := o.(*tableauv1.TableauWebhook)
		if !ok {
			return
		}
		req := reconcile.Request{NamespacedName: siteKeyOf(wh)}
		if attach && wh.DeletionTimestamp.IsZero() {
			var site tableauv1.TableauSite
			if err := r.Get(ctx, req.NamespacedName, &site); err == nil && controllerutil.ContainsFinalizer(&site, siteFinalizer) {
				q.AddAfter(req, siteCountDelay)
				return
			}
		}
		q.Add(req)
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, e.Object, q, true)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			// A webhook that moves detaches from its old site at once; a spec change that
			// keeps the site changes no count, and the start of a deletion is not delayed.
			o, ok1 := e.ObjectOld.(*tableauv1.TableauWebhook)
			n, ok2 := e.ObjectNew.(*tableauv1.TableauWebhook)
			if !ok1 || !ok2 || siteKeyOf(o) != siteKeyOf(n) {
				enqueue(ctx, e.ObjectOld, q, false)
			}
			enqueue(ctx, e.ObjectNew, q, true)
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, e.Object, q, false)
		},
	}
}

func (r *TableauSiteReconciler) sitesOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list tableauv1.TableauSiteList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexSiteSecret: o.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

func (r *TableauSiteReconciler) sitesOfNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	var list tableauv1.TableauWebhookList
	if err := r.List(ctx, &list, client.InNamespace(o.GetName()), client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	seen := map[types.NamespacedName]bool{}
	var reqs []reconcile.Request
	for i := range list.Items {
		if key := siteKeyOf(&list.Items[i]); !seen[key] {
			seen[key] = true
			reqs = append(reqs, reconcile.Request{NamespacedName: key})
		}
	}
	return reqs
}

func (r *TableauWebhookReconciler) webhooksOfSite(ctx context.Context, o client.Object) []reconcile.Request {
	r.converged.changed(epochSite, client.ObjectKeyFromObject(o).String())
	var list tableauv1.TableauWebhookList
	if err := r.List(ctx, &list, client.MatchingFields{indexWebhookSite: o.GetNamespace() + "/" + o.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	r.namesChanged(list.Items)
	return requestsFor(list.Items)
}

// namesChanged voids what was recorded for the holders of these webhooks' names: whether they
// take part in a name conflict follows their site and namespace, even when their own status
// does not change (a suspended or failing resource).
func (r *TableauWebhookReconciler) namesChanged(items []tableauv1.TableauWebhook) {
	for i := range items {
		r.converged.changed(epochName, items[i].TableauName())
	}
}

func (r *TableauWebhookReconciler) webhooksOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	// The sites that sign in with it reconnect (and so void what was recorded with their old
	// connection) when their own reconcile runs; until then their webhooks take the full path.
	var sites tableauv1.TableauSiteList
	sitesErr := r.List(ctx, &sites, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexSiteSecret: o.GetName()}, client.UnsafeDisableDeepCopy)
	for i := range sites.Items {
		r.converged.changed(epochSite, client.ObjectKeyFromObject(&sites.Items[i]).String())
	}
	var list tableauv1.TableauWebhookList
	err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexWebhookSecret: o.GetName()}, client.UnsafeDisableDeepCopy)
	if sitesErr != nil || err != nil || len(list.Items) > 0 {
		// Its readers cannot be told, or include the namespace's webhooks (urlFrom).
		r.converged.changed(epochNamespace, o.GetNamespace())
	}
	if err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

func (r *TableauWebhookReconciler) webhooksInNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	r.converged.changed(epochNamespace, o.GetName())
	var list tableauv1.TableauWebhookList
	if err := r.List(ctx, &list, client.InNamespace(o.GetName()), client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	r.namesChanged(list.Items)
	return requestsFor(list.Items)
}

// onWebhookDeleted forgets what the manager kept for a deleted TableauWebhook (DESIGN: no memory
// for deleted objects), and wakes the resources that conflicted with its name.
func (r *TableauWebhookReconciler) onWebhookDeleted(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if wh, ok := e.Object.(*tableauv1.TableauWebhook); ok {
		// A name it held may be free for another resource now.
		r.converged.changed(epochName, wh.TableauName())
		r.converged.changed(epochName, wh.Status.WebhookName)
		r.converged.forget(wh.UID)
		r.applied.Delete(wh.UID)
		r.rejected.Delete(wh.UID)
		r.conns.dropOwner(client.ObjectKeyFromObject(wh))
		r.Metrics.forgetWebhook(wh.Namespace, wh.Name)
		if f := wh.Spec.Destination.URLFrom; f != nil {
			forgetUnreferencedSecret(ctx, r.Client, r.secrets, types.NamespacedName{Namespace: wh.Namespace, Name: f.SecretKeyRef.Name})
		}
	}
	r.enqueueNameSiblings(ctx, e, q)
}

// forgetUnreferencedSecret drops the kept data of a Secret that no TableauSite or TableauWebhook
// references any more.
func forgetUnreferencedSecret(ctx context.Context, c client.Reader, secrets *secretValues, key types.NamespacedName) {
	var hooks tableauv1.TableauWebhookList
	if err := c.List(ctx, &hooks, client.InNamespace(key.Namespace), client.MatchingFields{indexWebhookSecret: key.Name}, client.Limit(1), client.UnsafeDisableDeepCopy); err != nil || len(hooks.Items) > 0 {
		return
	}
	var sites tableauv1.TableauSiteList
	if err := c.List(ctx, &sites, client.InNamespace(key.Namespace), client.MatchingFields{indexSiteSecret: key.Name}, client.Limit(1), client.UnsafeDisableDeepCopy); err != nil || len(sites.Items) > 0 {
		return
	}
	secrets.forget(key)
}

func (r *TableauWebhookReconciler) enqueueNameSiblings(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if wh, ok := e.Object.(*tableauv1.TableauWebhook); ok {
		r.addNameSiblings(ctx, wh, wh.TableauName(), q)
		if held := wh.Status.WebhookName; held != "" && held != wh.TableauName() {
			r.addNameSiblings(ctx, wh, held, q)
		}
	}
}

// enqueueNameSiblingsOnRelease wakes the resources that conflicted with one whose claim on its
// name ended without a deletion: it was renamed, or its site stopped admitting it.
func (r *TableauWebhookReconciler) enqueueNameSiblingsOnRelease(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	o, ok1 := e.ObjectOld.(*tableauv1.TableauWebhook)
	n, ok2 := e.ObjectNew.(*tableauv1.TableauWebhook)
	if !ok1 || !ok2 {
		return
	}
	refused := func(wh *tableauv1.TableauWebhook) bool {
		c := meta.FindStatusCondition(wh.Status.Conditions, tableauv1.ConditionReady)
		return c != nil && c.Reason == tableauv1.ReasonSiteNotAllowed
	}
	if refused(o) && !refused(n) {
		// Admitted again, it may outrank the resource that took its name meanwhile.
		r.converged.changed(epochName, n.TableauName())
	}
	if o.TableauName() != n.TableauName() || (refused(n) && !refused(o)) {
		r.converged.changed(epochName, o.TableauName())
		r.addNameSiblings(ctx, o, o.TableauName(), q)
	}
	// The webhook it held in Tableau was renamed or deleted: only now is the name free there.
	if held := o.Status.WebhookName; held != "" && (held != n.Status.WebhookName || o.Status.WebhookID != n.Status.WebhookID) {
		r.converged.changed(epochName, held)
		r.addNameSiblings(ctx, o, held, q)
	}
}

func (r *TableauWebhookReconciler) addNameSiblings(ctx context.Context, wh *tableauv1.TableauWebhook, name string, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	siblings, err := webhooksNamed(ctx, r, name)
	if err != nil {
		return
	}
	for _, req := range requestsFor(siblings) {
		if req.Name != wh.Name || req.Namespace != wh.Namespace {
			q.Add(req)
		}
	}
}

func requestsFor[T any, PT interface {
	*T
	client.Object
}](items []T) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(items))
	for i := range items {
		o := PT(&items[i])
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)})
	}
	return reqs
}
