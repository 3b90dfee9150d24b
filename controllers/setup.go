package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
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
	if err := setupIndexes(ctx, mgr); err != nil {
		return err
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
	secrets := newSecretValues(mgr.GetClient(), mgr.GetAPIReader())
	conns := newConnections(mgr.GetClient(), secrets, opts, metrics, log, notify)
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		closeCtx, cancel := context.WithTimeout(context.Background(), signOutTimeout)
		defer cancel()
		conns.close(closeCtx)
		return nil
	})); err != nil {
		return err
	}

	access := siteAccess{reader: mgr.GetClient()}
	sites := &TableauSiteReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("tableausite-controller"),
		Options:  opts,
		conns:    conns,
		access:   access,
	}
	if err := sites.setupWithManager(mgr); err != nil {
		return err
	}
	webhooks := &TableauWebhookReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("tableauwebhook-controller"),
		Options:  opts,
		Metrics:  metrics,
		conns:    conns,
		secrets:  secrets,
		access:   access,
	}
	return webhooks.setupWithManager(mgr, drift)
}

func controllerOptions(opts Options) controller.Options {
	return controller.Options{
		MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
		RateLimiter:             workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](backoffBase, backoffMax),
	}
}

func (r *TableauSiteReconciler) setupWithManager(mgr manager.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&tableauv1.TableauSite{}, builder.WithPredicates(specOrDeletionChanged())).
		// Attaching or detaching a webhook changes the count, the finalizer and the List period.
		Watches(&tableauv1.TableauWebhook{}, handler.EnqueueRequestsFromMapFunc(siteOfWebhook),
			builder.WithPredicates(specOrDeletionChanged())).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.sitesOfSecret), builder.OnlyMetadata).
		// A deleted site frees its personal access token for a site refused with CredentialsInUse.
		Watches(&tableauv1.TableauSite{}, handler.Funcs{DeleteFunc: r.enqueueCredentialsInUse}).
		// Namespace labels decide which webhooks a Selector admits, and so the count.
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.sitesOfNamespace), builder.OnlyMetadata,
			builder.WithPredicates(predicate.LabelChangedPredicate{})).
		WithOptions(controllerOptions(r.Options)).
		Complete(r)
}

func (r *TableauSiteReconciler) enqueueCredentialsInUse(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	// Release the deleted site's claim on its session here, not only in its own reconcile:
	// the refused sites enqueued below may run first and must find the token free.
	r.conns.release(ctx, client.ObjectKeyFromObject(e.Object))
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
		Watches(&tableauv1.TableauWebhook{}, handler.Funcs{DeleteFunc: r.enqueueNameSiblings, UpdateFunc: r.enqueueNameSiblingsOnRelease}).
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

func siteOfWebhook(_ context.Context, o client.Object) []reconcile.Request {
	wh, ok := o.(*tableauv1.TableauWebhook)
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: siteKeyOf(wh)}}
}

func (r *TableauSiteReconciler) sitesOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list tableauv1.TableauSiteList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexSiteSecret: o.GetName()}); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

func (r *TableauSiteReconciler) sitesOfNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	var list tableauv1.TableauWebhookList
	if err := r.List(ctx, &list, client.InNamespace(o.GetName())); err != nil {
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
	var list tableauv1.TableauWebhookList
	if err := r.List(ctx, &list, client.MatchingFields{indexWebhookSite: o.GetNamespace() + "/" + o.GetName()}); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

func (r *TableauWebhookReconciler) webhooksOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list tableauv1.TableauWebhookList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexWebhookSecret: o.GetName()}); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

func (r *TableauWebhookReconciler) webhooksInNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	var list tableauv1.TableauWebhookList
	if err := r.List(ctx, &list, client.InNamespace(o.GetName())); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

func (r *TableauWebhookReconciler) enqueueNameSiblings(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if wh, ok := e.Object.(*tableauv1.TableauWebhook); ok {
		r.addNameSiblings(ctx, wh, q)
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
	if o.TableauName() != n.TableauName() || (refused(n) && !refused(o)) {
		r.addNameSiblings(ctx, o, q)
	}
}

func (r *TableauWebhookReconciler) addNameSiblings(ctx context.Context, wh *tableauv1.TableauWebhook, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	var list tableauv1.TableauWebhookList
	if err := r.List(ctx, &list, client.MatchingFields{indexWebhookName: wh.TableauName()}); err != nil {
		return
	}
	for _, req := range requestsFor(list.Items) {
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
