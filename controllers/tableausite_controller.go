package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// Finalizer that keeps a TableauSite while TableauWebhooks still need it for their cleanup.
const siteFinalizer = "tableau.webhook-operator.dev/site-in-use"

// Event reasons of TableauSites.
const (
	eventInsecureServerURL = "InsecureServerURL"
	eventConnected         = "Connected"
)

// TableauSiteReconciler connects to Tableau sites, reports their state, and lists each site's
// webhooks once per resync period for the drift checks of its TableauWebhooks
// (DESIGN.md section 3.3).
type TableauSiteReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
	Options  Options

	conns  *connections
	access siteAccess
}

// Reconcile signs in to one TableauSite's site and records what it found.
func (r *TableauSiteReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	site := &tableauv1.TableauSite{}
	if err := r.Get(ctx, req.NamespacedName, site); err != nil {
		if apierrors.IsNotFound(err) {
			// A site without webhooks carries no finalizer and is gone before reconcileDelete
			// could run: release its session here, or its PAT stays claimed (other sites get
			// CredentialsInUse) and signed in for the life of the manager.
			r.conns.release(ctx, req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	attached, err := r.attachedWebhooks(ctx, site)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !site.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, site, attached)
	}
	if err := r.ensureFinalizer(ctx, site, len(attached) > 0); err != nil {
		return ctrl.Result{}, err
	}
	before := site.DeepCopy()
	site.Status.Webhooks = int32(len(attached))
	res, err := r.reconcileConnection(ctx, site, attached)
	site.Status.ObservedGeneration = site.Generation
	if perr := r.patchStatus(ctx, before, site); perr != nil {
		return ctrl.Result{}, errors.Join(err, perr)
	}
	return res, err
}

// reconcileConnection signs in, records the site's identity and versions, and refreshes the
// site's webhook list for the drift checks.
func (r *TableauSiteReconciler) reconcileConnection(ctx context.Context, site *tableauv1.TableauSite, attached []tableauv1.TableauWebhook) (ctrl.Result, error) {
	if u, err := url.Parse(site.Spec.ServerURL); err == nil && u.Scheme == "http" && site.Status.ObservedGeneration != site.Generation {
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, eventInsecureServerURL, "Connect",
			"serverURL uses http: credentials and session tokens travel in clear; use https")
	}
	conn, probe, err := r.conns.probe(ctx, site)
	if err != nil {
		return r.connectionFailed(site, err)
	}
	// One List per period serves the drift checks of the attached TableauWebhooks and tells
	// that the credentials still work: a token revoked, a user demoted, a site deleted in
	// Tableau show within one period even when no webhook is attached. Without webhooks to
	// check, a sign-in younger than the period says as much, and the List waits: a first
	// TableauWebhook applied right after the site then lists for itself, and sees a webhook
	// made by hand a moment before it.
	period := r.Options.ResyncPeriod
	checked, checkPeriod := r.driftCheckPeriod(attached)
	if checked > 0 {
		period = checkPeriod
	}
	var listErr error
	switch {
	case probe:
		// Tableau refused this site's calls: only a List made now can say it no longer does.
		listErr = conn.webhooks.refreshIfOlder(ctx, conn.client, 0)
	case checked > 0 || time.Since(conn.connectedAt) >= period*9/10:
		// The slack makes the List of a timely resync run even if the timer fired a little early.
		listErr = conn.webhooks.refreshIfOlder(ctx, conn.client, period*9/10)
	}
	if se, ok := siteRefusal(site, listErr); ok {
		r.conns.refuse(site, conn, se)
		return r.connectionFailed(site, se)
	}
	switch {
	case probe && listErr != nil:
		// The probe could not tell (a passing failure): the site stays as it was, refused,
		// and tries again with backoff.
		logf.FromContext(ctx).Error(listErr, "Probing a refused site failed; trying again")
		return ctrl.Result{}, listErr
	case probe:
		r.conns.clearRefusal(site)
	case listErr == nil:
		r.conns.succeeded(site)
	}
	ready := readiness{status: metav1.ConditionTrue, reason: tableauv1.ReasonConnected,
		message: fmt.Sprintf("Signed in to site %q (Tableau %s, REST API %s)", conn.session.SiteContentURL, conn.info.ProductVersion, conn.client.APIVersion())}
	if t := site.Spec.TLS; t != nil && t.InsecureSkipVerify {
		ready.message += "; TLS certificate verification is disabled (tls.insecureSkipVerify)"
	}
	if previous := apimeta.FindStatusCondition(site.Status.Conditions, tableauv1.ConditionReady); previous == nil || previous.Status != metav1.ConditionTrue {
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, eventConnected, "Connect", "%s", ready.message)
	}
	setReadiness(&site.Status.Conditions, site.Generation, ready)
	site.Status.SiteID = conn.session.SiteID
	site.Status.ServerVersion = conn.info.ProductVersion
	site.Status.RESTAPIVersion = conn.client.APIVersion()
	if listErr != nil {
		// Signed in, but the List failed for a passing reason: the drift checks wait for the
		// next one, with backoff, or as long as Tableau asked.
		r.conns.forgetIfUnusable(site, listErr)
		logf.FromContext(ctx).Error(listErr, "Listing the site's webhooks failed")
		if d, ok := tableau.IsRateLimited(listErr); ok && d > 0 {
			r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, eventTableauError, "List", "list webhooks: %v; Tableau asked to retry after %s", listErr, shortDuration(d))
			return ctrl.Result{RequeueAfter: d}, nil
		}
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, eventTableauError, "List", "list webhooks: %v", listErr)
		return ctrl.Result{}, listErr
	}
	return ctrl.Result{RequeueAfter: period}, nil
}

// connectionFailed maps a failed connection to the Ready condition and the retry.
func (r *TableauSiteReconciler) connectionFailed(site *tableauv1.TableauSite, err error) (ctrl.Result, error) {
	se, ok := asSiteError(err)
	if !ok {
		return ctrl.Result{}, err
	}
	terminal := tableauv1.IsTerminalSiteReason(se.reason)
	setReadiness(&site.Status.Conditions, site.Generation, readiness{
		status: metav1.ConditionFalse, reason: se.reason, message: truncateMessage(se.message), terminal: terminal,
	})
	switch {
	case se.transient:
		return ctrl.Result{}, err // backoff
	case terminal:
		// A change of spec or Secret retriggers at once; a retry with backoff notices fixes
		// made in Tableau (a token restored, rights given back, an upgraded server, the other
		// site gone).
		if d := r.conns.retryIn(site); d > 0 {
			return ctrl.Result{RequeueAfter: d}, nil
		}
		return ctrl.Result{RequeueAfter: r.Options.ResyncPeriod}, nil
	default:
		return ctrl.Result{}, nil // waits on a Secret, which is watched
	}
}

// driftCheckPeriod counts the attached TableauWebhooks that have a webhook in Tableau to
// check, and returns the shortest of their resync periods: the site lists its webhooks that
// often, so that every drift check finds a List no older than its period. Suspended ones
// make no Tableau calls, and ones without a webhookID (refused by the site's
// webhookNamespaces, AlreadyExists, NameConflict, not created yet) have nothing to compare.
// The site lists only for these, so that a suspended or refused resource costs no Tableau
// request (DESIGN 2.2 suspend, DESIGN 6 "a refused cross-namespace reference causes zero
// Tableau requests"); a webhook that does get created lists for itself until then. It reads
// attached in place: a copy of 10,000 TableauWebhooks per site reconcile was most of the
// manager's garbage while idle.
func (r *TableauSiteReconciler) driftCheckPeriod(attached []tableauv1.TableauWebhook) (checked int, period time.Duration) {
	for i := range attached {
		w := &attached[i]
		if w.Spec.Suspend || w.Status.WebhookID == "" || !w.DeletionTimestamp.IsZero() {
			continue
		}
		checked++
		if d := resyncPeriodOf(w, r.Options.ResyncPeriod); period == 0 || d < period {
			period = d
		}
	}
	return checked, period
}

// attachedWebhooks lists the TableauWebhooks that reference the site from a namespace it
// admits. A refused reference is not attached: it is not counted, does not hold up the
// site's deletion and makes the site list nothing for it (DESIGN 3.7). The items are shallow
// copies of the cache's objects (UnsafeDisableDeepCopy): read them, never write them.
func (r *TableauSiteReconciler) attachedWebhooks(ctx context.Context, site *tableauv1.TableauSite) ([]tableauv1.TableauWebhook, error) {
	var list tableauv1.TableauWebhookList
	if err := r.List(ctx, &list, client.MatchingFields{indexWebhookSite: client.ObjectKeyFromObject(site).String()}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	admitted := list.Items[:0]
	for _, wh := range list.Items {
		ok, err := r.access.admits(ctx, site, wh.Namespace)
		if err != nil {
			return nil, err
		}
		if ok {
			admitted = append(admitted, wh)
		}
	}
	return admitted, nil
}

// ensureFinalizer keeps the finalizer exactly while webhooks are attached.
func (r *TableauSiteReconciler) ensureFinalizer(ctx context.Context, site *tableauv1.TableauSite, inUse bool) error {
	if controllerutil.ContainsFinalizer(site, siteFinalizer) == inUse {
		return nil
	}
	base := site.DeepCopy()
	if inUse {
		controllerutil.AddFinalizer(site, siteFinalizer)
	} else {
		controllerutil.RemoveFinalizer(site, siteFinalizer)
	}
	return r.patchFinalizers(ctx, site, base)
}

// reconcileDelete lets a TableauSite go once no TableauWebhook needs it any more.
func (r *TableauSiteReconciler) reconcileDelete(ctx context.Context, site *tableauv1.TableauSite, attached []tableauv1.TableauWebhook) (ctrl.Result, error) {
	if len(attached) > 0 {
		names := make([]string, 0, len(attached))
		for _, w := range attached {
			names = append(names, w.Namespace+"/"+w.Name)
		}
		sort.Strings(names)
		if len(names) > 10 {
			names = append(names[:10], fmt.Sprintf("and %d more", len(attached)-10))
		}
		before := site.DeepCopy()
		site.Status.Webhooks = int32(len(attached))
		c := apimeta.FindStatusCondition(site.Status.Conditions, tableauv1.ConditionReady)
		status, reason := metav1.ConditionUnknown, tableauv1.ReasonConnected
		if c != nil {
			status, reason = c.Status, c.Reason
		}
		setCondition(&site.Status.Conditions, site.Generation, tableauv1.ConditionReady, status, reason,
			truncateMessage(fmt.Sprintf("Deletion waits for %d TableauWebhooks that reference this site: %s", len(attached), strings.Join(names, ", "))))
		// Their deletion events bring the site back here.
		return ctrl.Result{}, r.patchStatus(ctx, before, site)
	}
	r.conns.release(ctx, client.ObjectKeyFromObject(site))
	if !controllerutil.ContainsFinalizer(site, siteFinalizer) {
		return ctrl.Result{}, nil
	}
	base := site.DeepCopy()
	controllerutil.RemoveFinalizer(site, siteFinalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.patchFinalizers(ctx, site, base))
}

// patchFinalizers writes a change of finalizers with the resourceVersion: a merge patch
// replaces the whole list, and must not drop a finalizer another controller added meanwhile.
func (r *TableauSiteReconciler) patchFinalizers(ctx context.Context, site, base *tableauv1.TableauSite) error {
	return r.Patch(ctx, site, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}

// patchStatus writes status only when it changed.
func (r *TableauSiteReconciler) patchStatus(ctx context.Context, before, site *tableauv1.TableauSite) error {
	if equality.Semantic.DeepEqual(before.Status, site.Status) {
		return nil
	}
	base := site.DeepCopy()
	base.Status = before.Status
	return client.IgnoreNotFound(r.Status().Patch(ctx, site, client.MergeFrom(base)))
}
