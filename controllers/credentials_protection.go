package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
)

// credentialsFinalizer keeps a Secret that a TableauSite signs in with (or trusts as its CA
// bundle) while the site still has TableauWebhooks whose deletion must reach Tableau.
const credentialsFinalizer = "tableau.webhook-operator.dev/credentials-in-use"

// CredentialsProtectionReconciler keeps the Secrets of TableauSites that still have work in
// Tableau from going away before that work is done (DESIGN 3.2 step 1): deletion must finish
// whatever was deleted first. `kubectl delete namespace` deletes Secrets at once, while
// TableauWebhooks wait on their finalizers for a Tableau call that needs those credentials; a
// manager restarted meanwhile has nothing else to sign in with. So a Secret carries the
// finalizer credentialsFinalizer while a TableauSite that references it has a TableauWebhook
// whose deletion will call Tableau (needsCredentialsToGo), like kubernetes.io/pvc-protection
// keeps a PersistentVolumeClaim that a Pod uses. It asks for one verb more than reading Secrets:
// patch, to add that finalizer (a strategic merge patch that adds to the list as it is) and to
// remove it (the list without it, with the resourceVersion, so that a finalizer another
// controller added meanwhile is not dropped).
type CredentialsProtectionReconciler struct {
	client.Client
}

// Reconcile adds or removes the finalizer of one Secret.
func (r *CredentialsProtectionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	secret := &metav1.PartialObjectMetadata{}
	secret.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := r.Get(ctx, req.NamespacedName, secret); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	needed, err := r.needed(ctx, req.NamespacedName)
	if err != nil {
		return ctrl.Result{}, err
	}
	has := controllerutil.ContainsFinalizer(secret, credentialsFinalizer)
	// No new finalizer can be added to an object being deleted: a Secret deleted before the
	// site first needed it is left to the connection the manager still holds.
	if needed == has || (needed && !secret.DeletionTimestamp.IsZero()) {
		return ctrl.Result{}, nil
	}
	if needed {
		err = r.Patch(ctx, secret, holdPatch)
	} else {
		base := secret.DeepCopy()
		controllerutil.RemoveFinalizer(secret, credentialsFinalizer)
		err = r.Patch(ctx, secret, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	}
	if apierrors.IsNotFound(err) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, err
}

// needed reports whether a TableauSite that reads the Secret still has a TableauWebhook whose
// deletion must reach Tableau: one with deletionPolicy Delete and a webhook in Tableau (its
// recorded ID, or a create under way). Orphan, suspended-before-creation and refused resources
// need no credentials to go, so they do not keep a Secret from being deleted or recreated.
func (r *CredentialsProtectionReconciler) needed(ctx context.Context, key types.NamespacedName) (bool, error) {
	var sites tableauv1.TableauSiteList
	if err := r.List(ctx, &sites, client.InNamespace(key.Namespace), client.MatchingFields{indexSiteSecret: key.Name}); err != nil {
		return false, err
	}
	for i := range sites.Items {
		// One is enough: Limit stops the cache from copying the others.
		var hooks tableauv1.TableauWebhookList
		if err := r.List(ctx, &hooks, client.MatchingFields{indexWebhookHolding: client.ObjectKeyFromObject(&sites.Items[i]).String()},
			client.Limit(1), client.UnsafeDisableDeepCopy); err != nil {
			return false, err
		}
		if len(hooks.Items) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// needsCredentialsToGo reports whether deleting the TableauWebhook will call Tableau.
func needsCredentialsToGo(wh *tableauv1.TableauWebhook) bool {
	return wh.EffectiveDeletionPolicy() == tableauv1.DeletionPolicyDelete &&
		controllerutil.ContainsFinalizer(wh, webhookFinalizer) &&
		(wh.Status.WebhookID != "" || wh.Status.PendingCreate != nil)
}

// holdPatch adds credentialsFinalizer and changes nothing else.
var holdPatch = client.RawPatch(types.StrategicMergePatchType, []byte(`{"metadata":{"finalizers":["`+credentialsFinalizer+`"]}}`))

// holdCredentials puts the finalizer on the site's Secrets now, before a create in Tableau:
// the controller above would add it a moment later, but a namespace deletion in that moment,
// and a restart, would leave the new webhook without credentials to delete it.
func holdCredentials(ctx context.Context, c client.Client, site *tableauv1.TableauSite) error {
	for _, name := range siteSecretNames(site) {
		secret := &metav1.PartialObjectMetadata{}
		secret.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		if err := c.Get(ctx, types.NamespacedName{Namespace: site.Namespace, Name: name}, secret); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return err
		}
		if controllerutil.ContainsFinalizer(secret, credentialsFinalizer) || !secret.DeletionTimestamp.IsZero() {
			continue
		}
		// A strategic merge patch adds the finalizer to whatever list the Secret has now
		// (ObjectMeta.finalizers merges), so it needs no resourceVersion: concurrent
		// reconciles that hold the same Secret do not conflict and retry. Removal stays with
		// the controller above, under the optimistic lock.
		if err := c.Patch(ctx, secret, holdPatch); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("hold Secret %s/%s for the webhook's deletion: %w", site.Namespace, name, err)
		}
	}
	return nil
}

func (r *CredentialsProtectionReconciler) setupWithManager(mgr ctrl.Manager, opts Options) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("credentialsprotection").
		// Only Secrets that carry the finalizer or that a TableauSite reads: the rest of the
		// cluster's Secrets never reach the queue.
		For(&corev1.Secret{}, builder.OnlyMetadata, builder.WithPredicates(predicate.NewPredicateFuncs(r.relevant))).
		// A site's finalizer and its Secret references decide; on a change of references, both
		// the Secrets it read and those it reads now.
		Watches(&tableauv1.TableauSite{}, handler.Funcs{
			CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				addSecretsOf(e.Object, q)
			},
			UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				addSecretsOf(e.ObjectOld, q)
				addSecretsOf(e.ObjectNew, q)
			},
			DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				addSecretsOf(e.Object, q)
			},
		}).
		// Whether a TableauWebhook needs the credentials to go changes with its status and spec;
		// the rest of its changes (most status writes) cannot change the answer.
		Watches(&tableauv1.TableauWebhook{}, handler.EnqueueRequestsFromMapFunc(r.secretsOfWebhooksSite),
			builder.WithPredicates(holdingChanged())).
		WithOptions(controllerOptions(opts)).
		Complete(r)
}

func (r *CredentialsProtectionReconciler) secretsOfWebhooksSite(ctx context.Context, o client.Object) []reconcile.Request {
	wh, ok := o.(*tableauv1.TableauWebhook)
	if !ok {
		return nil
	}
	site := &tableauv1.TableauSite{}
	if err := r.Get(ctx, siteKeyOf(wh), site); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, name := range siteSecretNames(site) {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: site.Namespace, Name: name}})
	}
	return reqs
}

// holdingChanged passes the creation and deletion of a TableauWebhook whose deletion will call
// Tableau, and the changes that start or end that need or move it to another site.
func holdingChanged() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return holds(e.Object) },
		DeleteFunc: func(e event.DeleteEvent) bool { return holds(e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*tableauv1.TableauWebhook)
			n, ok2 := e.ObjectNew.(*tableauv1.TableauWebhook)
			if !ok1 || !ok2 {
				return true
			}
			return needsCredentialsToGo(o) != needsCredentialsToGo(n) || (needsCredentialsToGo(n) && siteKeyOf(o) != siteKeyOf(n))
		},
		GenericFunc: func(event.GenericEvent) bool { return true },
	}
}

// holds reports whether the object is a TableauWebhook whose deletion will call Tableau (or is
// not a TableauWebhook, which the handler then ignores).
func holds(o client.Object) bool {
	wh, ok := o.(*tableauv1.TableauWebhook)
	return !ok || needsCredentialsToGo(wh)
}

// relevant passes Secrets that carry the finalizer or that some TableauSite reads.
func (r *CredentialsProtectionReconciler) relevant(o client.Object) bool {
	if controllerutil.ContainsFinalizer(o, credentialsFinalizer) {
		return true
	}
	var sites tableauv1.TableauSiteList
	if err := r.List(context.Background(), &sites, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexSiteSecret: o.GetName()}); err != nil {
		return true
	}
	return len(sites.Items) > 0
}

func addSecretsOf(o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	site, ok := o.(*tableauv1.TableauSite)
	if !ok {
		return
	}
	for _, name := range siteSecretNames(site) {
		q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: site.Namespace, Name: name}})
	}
}
