package controllers

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/redact"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// Finalizer that keeps a TableauWebhook until its webhook is deleted from Tableau.
const webhookFinalizer = "tableau.webhook-operator.dev/webhook"

// Event reasons of TableauWebhooks (DESIGN.md section 3.5).
const (
	eventCreated        = "Created"
	eventUpdated        = "Updated"
	eventDeleted        = "Deleted"
	eventAdopted        = "Adopted"
	eventDriftCorrected = "DriftCorrected"
	eventReenabled      = "Reenabled"
	eventTestSucceeded  = "TestSucceeded"
	eventTestFailed     = "TestFailed"
	eventTableauError   = "TableauError"
)

// maxTestBody is how much of a destination's answer to a Test Webhook lands in status.
const maxTestBody = 1024

// orphanHint ends the message of a deletion that cannot reach Tableau.
const orphanHint = "; set deletionPolicy: Orphan to finish the deletion without deleting the webhook in Tableau"

// TableauWebhookReconciler makes a Tableau site's webhooks match TableauWebhooks
// (DESIGN.md section 3.2).
type TableauWebhookReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
	Options  Options
	Metrics  *Metrics

	conns   *connections
	secrets *secretValues
	access  siteAccess

	// applied remembers, by TableauWebhook UID, a digest of what was last made to match in
	// Tableau, so that a difference found later is told apart: what the operator wants changed
	// (the spec, or the Secret of urlFrom: Updated) or Tableau changed (DriftCorrected). A
	// Secret rotation changes no generation, so the generation alone cannot tell.
	applied sync.Map

	// rejected remembers, by TableauWebhook UID, the digest of a spec Tableau refused (400 and
	// the like) with the problem it gave, so that a reconcile that something else brings (a site
	// change, a restart of the watch) does not send it again: only a change of what is asked
	// (spec, or the Secret behind urlFrom) does.
	rejected sync.Map

	// converged lets a resync of an unchanged resource skip the full reconcile (fastpath.go).
	converged *converged
}

// rejection is a spec Tableau refused, and its answer.
type rejection struct {
	digest  specSum
	problem problem
}

// Reconcile brings one TableauWebhook and its webhook in Tableau together.
func (r *TableauWebhookReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if period, ok := r.unchanged(ctx, req.NamespacedName); ok {
		return ctrl.Result{RequeueAfter: jitter(period)}, nil
	}
	wh := &tableauv1.TableauWebhook{}
	if err := r.Get(ctx, req.NamespacedName, wh); err != nil {
		if apierrors.IsNotFound(err) {
			// Also done when the deletion is seen (onWebhookDeleted); here it follows any
			// reconcile that was still running then.
			r.Metrics.forgetWebhook(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// Every message, Event, log line and Tableau error text of this reconcile is redacted
	// of the Secret-sourced destination URL, before it is truncated anywhere (DESIGN 3.4).
	ctx = r.redactionContext(ctx, wh)
	before := wh.DeepCopy()
	r.converged.forget(wh.UID)
	epochs := r.converged.epochsOf(wh)
	if !wh.DeletionTimestamp.IsZero() {
		done, err := r.reconcileDelete(ctx, wh)
		if done {
			return ctrl.Result{}, redactError(ctx, err)
		}
		return r.finish(ctx, before, wh, ctrl.Result{}, err)
	}
	res, ready, err := r.reconcileNormal(ctx, wh, before)
	res, err = r.finish(ctx, before, wh, res, err)
	if ready != nil && err == nil {
		// wh is as written now: its resourceVersion is the one the cache will show.
		r.converged.record(before, wh, epochs, ready.conn, ready.webhook)
		// Deleted meanwhile: onWebhookDeleted, which runs once the cache has dropped it, may
		// have forgotten it before the record.
		if !r.stillCached(ctx, wh) {
			r.converged.forget(wh.UID)
		}
	}
	return res, err
}

// stillCached reports whether the cache still has the resource (this UID).
func (r *TableauWebhookReconciler) stillCached(ctx context.Context, wh *tableauv1.TableauWebhook) bool {
	cached := &tableauv1.TableauWebhook{}
	return r.Get(ctx, client.ObjectKeyFromObject(wh), cached, client.UnsafeDisableDeepCopy) == nil && cached.UID == wh.UID
}

// readyAt is what a reconcile that left a resource Ready used: its connection, and the webhook
// as Tableau shows it.
type readyAt struct {
	conn    *connection
	webhook tableau.Webhook
}

// reconcileNormal is DESIGN.md section 3.2, steps 2 to 9. written is the object as last
// written to the API server, which finish diffs status against. When it leaves the resource
// Ready it says what with, for converged to record.
func (r *TableauWebhookReconciler) reconcileNormal(ctx context.Context, wh, written *tableauv1.TableauWebhook) (ctrl.Result, *readyAt, error) {
	if wh.Spec.Suspend {
		setCondition(&wh.Status.Conditions, wh.Generation, tableauv1.ConditionSynced, metav1.ConditionFalse,
			tableauv1.ReasonSuspended, "spec.suspend is true: the operator makes no Tableau calls for this webhook")
		return ctrl.Result{}, nil, nil
	}
	site, err := r.authorizeSite(ctx, wh)
	if err != nil {
		return ctrl.Result{}, nil, err
	}
	if err := siteReady(site); err != nil {
		return ctrl.Result{}, nil, err
	}
	conn, err := r.connect(ctx, site)
	if err != nil {
		return ctrl.Result{}, nil, err
	}
	destination, err := r.resolveDestination(ctx, wh)
	if err != nil {
		return ctrl.Result{}, nil, err
	}
	if err := checkReservedName(wh); err != nil {
		return ctrl.Result{}, nil, err
	}
	if err := r.checkNameConflict(ctx, wh, conn); err != nil {
		return ctrl.Result{}, nil, err
	}
	desired := tableau.WebhookSpec{Name: wh.TableauName(), Event: wh.Spec.Event, URL: destination, Enabled: wh.WantEnabled()}
	obs, err := r.observeWebhook(ctx, wh, site, conn)
	if err != nil {
		return ctrl.Result{}, nil, r.connectionLost(site, conn, err)
	}
	w, err := r.apply(ctx, wh, written, site, conn, obs, desired)
	if err != nil {
		return ctrl.Result{}, nil, r.connectionLost(site, conn, err)
	}
	conn.webhooks.setOwner(w.ID, client.ObjectKeyFromObject(wh))
	if d := specDigest(desired); !r.appliedIs(wh.UID, d) {
		r.applied.Store(wh.UID, d)
	}
	r.rejected.Delete(wh.UID)
	recordObserved(wh, conn, w)
	if err := r.runPendingTest(ctx, wh, conn); err != nil {
		return ctrl.Result{}, nil, r.connectionLost(site, conn, err)
	}
	setReadiness(&wh.Status.Conditions, wh.Generation, readiness{status: metav1.ConditionTrue, reason: tableauv1.ReasonAvailable,
		message: fmt.Sprintf("Webhook %s matches the spec", w.ID)})
	setCondition(&wh.Status.Conditions, wh.Generation, tableauv1.ConditionSynced, metav1.ConditionTrue, tableauv1.ReasonReconcileSuccess, "")
	return ctrl.Result{RequeueAfter: jitter(r.resyncPeriod(wh))}, &readyAt{conn: conn, webhook: w}, nil
}

// siteReady fails with SiteNotReady unless the TableauSite is Ready.
func siteReady(site *tableauv1.TableauSite) error {
	ready := meta.FindStatusCondition(site.Status.Conditions, tableauv1.ConditionReady)
	if ready != nil && ready.Status == metav1.ConditionTrue {
		return nil
	}
	msg := fmt.Sprintf("TableauSite %s/%s is not Ready", site.Namespace, site.Name)
	if ready != nil {
		msg += fmt.Sprintf(" (%s: %s)", ready.Reason, ready.Message)
	}
	return &problem{reason: tableauv1.ReasonSiteNotReady, message: msg, retry: retryOnChange}
}

// apply turns what observeWebhook found into Tableau writes, Events and metrics, and returns
// the webhook as Tableau now has it.
func (r *TableauWebhookReconciler) apply(ctx context.Context, wh, written *tableauv1.TableauWebhook, site *tableauv1.TableauSite, conn *connection, obs observation, desired tableau.WebhookSpec) (tableau.Webhook, error) {
	log := logf.FromContext(ctx)
	if obs.vanished != "" {
		log.Info("Webhook was deleted in Tableau; creating it again", "webhookID", obs.vanished)
		r.Metrics.driftCorrection("exists")
		// Deletion is drift like any other edit made in Tableau: say so, not only "Created".
		r.event(ctx, wh, corev1.EventTypeNormal, eventDriftCorrected, "Create",
			"Webhook %s was deleted in Tableau outside the operator; creating it again", obs.vanished)
		wh.Status.WebhookID = ""
	}
	if v, ok := r.rejected.Load(wh.UID); ok && obs.found != foundForeign && obs.found != foundOwned {
		if rj := v.(rejection); rj.digest == specDigest(desired) {
			p := rj.problem
			return tableau.Webhook{}, &p
		}
	}
	w, err := r.applyFound(ctx, wh, written, site, conn, obs, desired)
	if p, ok := asProblem(err); ok && p.reason == tableauv1.ReasonRejected {
		r.rejected.Store(wh.UID, rejection{digest: specDigest(desired), problem: *p})
	}
	return w, err
}

// applyFound makes Tableau match for what observeWebhook found.
func (r *TableauWebhookReconciler) applyFound(ctx context.Context, wh, written *tableauv1.TableauWebhook, site *tableauv1.TableauSite, conn *connection, obs observation, desired tableau.WebhookSpec) (tableau.Webhook, error) {
	log := logf.FromContext(ctx)
	switch obs.found {
	case foundForeign:
		return tableau.Webhook{}, &problem{reason: tableauv1.ReasonAlreadyExists, message: obs.refusal}
	case foundOwned:
		return tableau.Webhook{}, &problem{reason: tableauv1.ReasonNameConflict, message: obs.refusal}
	case foundNothing:
		return r.createWebhook(ctx, wh, written, site, conn, desired)
	case foundPendingCreate:
		log.Info("Found the webhook an interrupted create made", "webhookID", obs.webhook.ID)
		// Recorded at once, in the write that clears the record: should the update below fail,
		// the next reconcile finds the webhook by its ID rather than creating another.
		wh.Status.WebhookID, wh.Status.SiteID, wh.Status.PendingCreate = obs.webhook.ID, conn.session.SiteID, nil
	case foundAdoptable:
		r.event(ctx, wh, corev1.EventTypeNormal, eventAdopted, "Adopt", "Adopted webhook %s named %q", obs.webhook.ID, obs.webhook.Name)
	}
	if err := r.ensureFinalizer(ctx, wh); err != nil {
		return tableau.Webhook{}, err
	}
	if matches(obs.webhook, desired) {
		return obs.webhook, nil
	}
	return r.updateWebhook(ctx, wh, conn, obs.webhook, desired)
}

// connect returns the site's signed-in connection.
func (r *TableauWebhookReconciler) connect(ctx context.Context, site *tableauv1.TableauSite) (*connection, error) {
	conn, err := r.conns.current(ctx, site)
	if err == nil {
		return conn, nil
	}
	if se, ok := asSiteError(err); ok {
		p := &problem{reason: tableauv1.ReasonSiteNotReady, message: fmt.Sprintf("TableauSite %s/%s: %s", site.Namespace, site.Name, se.message), retry: retryOnChange, err: err}
		if se.transient {
			p.retry = retryBackoff
		}
		return nil, p
	}
	return nil, err
}

// connectionLost sorts out a failed Tableau call: a refusal that is the site's (its session
// refused even after a new sign-in, 403, the site gone) is recorded on the site, which says why
// in its Ready condition and is reconciled at once, and the webhook waits for the site
// (SiteNotReady); a client closed under the connection drops it, so that the next attempt
// connects afresh. Other errors are returned as they are.
func (r *TableauWebhookReconciler) connectionLost(site *tableauv1.TableauSite, conn *connection, err error) error {
	if se, ok := siteRefusal(site, err); ok {
		r.conns.refuse(site, conn, se)
		return &problem{reason: tableauv1.ReasonSiteNotReady, retry: retryOnChange, err: err,
			message: fmt.Sprintf("TableauSite %s/%s: %s", site.Namespace, site.Name, se.message)}
	}
	r.conns.forgetIfUnusable(site, err)
	return err
}

// destinationSecret reads the raw value behind destination.urlFrom.
func (r *TableauWebhookReconciler) destinationSecret(ctx context.Context, wh *tableauv1.TableauWebhook) (string, error) {
	ref := wh.Spec.Destination.URLFrom.SecretKeyRef
	data, err := r.secrets.get(ctx, types.NamespacedName{Namespace: wh.Namespace, Name: ref.Name})
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data[ref.Key])), nil
}

// redactionContext carries the redaction of the resource's Secret-sourced destination URL, if
// it has one, to everything the reconcile writes: the Tableau client's error texts (redacted
// before they are truncated), conditions, Events and returned errors.
func (r *TableauWebhookReconciler) redactionContext(ctx context.Context, wh *tableauv1.TableauWebhook) context.Context {
	if wh.Spec.Destination.URLFrom == nil {
		return ctx
	}
	value, err := r.destinationSecret(ctx, wh)
	if err != nil || value == "" {
		return ctx // no value, so nothing that could be echoed
	}
	return redact.NewContext(ctx, redact.New(redact.Pair{Secret: value, Display: wh.DestinationDisplay()}))
}

// redacted applies the reconcile's redaction to a text meant for people.
func redacted(ctx context.Context, s string) string {
	return redact.FromContext(ctx).Redact(s)
}

// redactError returns err with the reconcile's redaction applied to its text, for the error
// that controller-runtime logs.
func redactError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if text := err.Error(); redacted(ctx, text) != text {
		return &redactedError{text: redacted(ctx, text), err: err}
	}
	return err
}

type redactedError struct {
	text string
	err  error
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }

// event records an Event on the resource, redacted and then truncated.
func (r *TableauWebhookReconciler) event(ctx context.Context, wh *tableauv1.TableauWebhook, eventType, reason, action, format string, args ...any) {
	r.Recorder.Eventf(wh, nil, eventType, reason, action, "%s", truncateMessage(redacted(ctx, fmt.Sprintf(format, args...))))
}

// resolveDestination returns the URL Tableau should POST to.
func (r *TableauWebhookReconciler) resolveDestination(ctx context.Context, wh *tableauv1.TableauWebhook) (string, error) {
	from := wh.Spec.Destination.URLFrom
	if from == nil {
		return wh.Spec.Destination.URL, nil
	}
	ref := from.SecretKeyRef
	where := fmt.Sprintf("key %q of Secret %s/%s", ref.Key, wh.Namespace, ref.Name)
	raw, err := r.destinationSecret(ctx, wh)
	if apierrors.IsNotFound(err) {
		return "", &problem{reason: tableauv1.ReasonDestinationSecretNotFound, message: fmt.Sprintf("Secret %s/%s not found", wh.Namespace, ref.Name), retry: retryOnChange, err: err}
	}
	if err != nil {
		return "", err
	}
	if raw == "" {
		return "", &problem{reason: tableauv1.ReasonDestinationSecretNotFound, message: where + " is missing or empty", retry: retryOnChange}
	}
	// The URL is secret: say what is wrong with it, never what it is.
	if u, err := url.Parse(raw); err != nil || u.Scheme != "https" || u.Host == "" {
		return "", &problem{reason: tableauv1.ReasonRejected, message: where + " does not hold an absolute https URL (Tableau delivers only to https)"}
	}
	return raw, nil
}

// checkNameConflict refuses a Tableau name that another TableauWebhook claims first on the same
// Tableau site, whichever TableauSite object it goes through. Only TableauWebhooks that their
// site admits take part: a refused one cannot squat a name. The resource that holds the name
// (its status records a webhook of that name on that site) keeps it; among those that hold
// nothing yet, the oldest wins. So an older resource renamed to another's name, or a squatter
// admitted late, never takes a name that is in use.
func (r *TableauWebhookReconciler) checkNameConflict(ctx context.Context, wh *tableauv1.TableauWebhook, conn *connection) error {
	name, luid := wh.TableauName(), conn.session.SiteID
	claimants, err := webhooksNamed(ctx, r, name)
	if err != nil {
		return err
	}
	// Oldest first, so that the message names the first claimant.
	slices.SortFunc(claimants, func(a, b tableauv1.TableauWebhook) int {
		switch {
		case claimsBefore(&a, &b):
			return -1
		case claimsBefore(&b, &a):
			return 1
		}
		return 0
	})
	for i := range claimants {
		other := &claimants[i]
		if other.UID == wh.UID || checkReservedName(other) != nil || !outranks(other, wh, name, luid) {
			continue
		}
		claims, err := r.claimsOnSite(ctx, other, conn.identity)
		if err != nil {
			return err
		}
		if claims {
			return &problem{reason: tableauv1.ReasonNameConflict,
				message: fmt.Sprintf("%s already claims the Tableau name %q on this Tableau site; set a different spec.webhookName", describeOther(other, wh), name)}
		}
	}
	return nil
}

// checkReservedName refuses a webhookName of the form "<namespace>/<rest>" for another
// namespace than the resource's own: that is the form of the default names ("<namespace>/<name>")
// of that namespace's TableauWebhooks, so another namespace admitted to the same site could
// otherwise claim a name before the team whose default name it is creates its resource.
func checkReservedName(wh *tableauv1.TableauWebhook) error {
	ns, _, ok := strings.Cut(wh.TableauName(), "/")
	if !ok || ns == wh.Namespace || len(validation.IsDNS1123Label(ns)) > 0 {
		return nil
	}
	return &problem{reason: tableauv1.ReasonNameConflict,
		message: fmt.Sprintf("webhookName %q has the form <namespace>/<name> of the default names of namespace %q, which are kept for its TableauWebhooks; choose a name that does not start with %q", wh.TableauName(), ns, ns+"/")}
}

// holdsName reports whether the resource's status records a webhook of the name on the site.
func holdsName(wh *tableauv1.TableauWebhook, name, siteLUID string) bool {
	return wh.Status.WebhookID != "" && wh.Status.WebhookName == name && wh.Status.SiteID == siteLUID
}

// outranks reports whether a's claim on the name comes before b's: the holder first, then the
// older (claimsBefore).
func outranks(a, b *tableauv1.TableauWebhook, name, siteLUID string) bool {
	if ha, hb := holdsName(a, name, siteLUID), holdsName(b, name, siteLUID); ha != hb {
		return ha
	}
	return claimsBefore(a, b)
}

// claimsBefore orders TableauWebhooks claiming one name: the oldest wins, then by namespace/name.
func claimsBefore(a, b *tableauv1.TableauWebhook) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
}

// patchMetadata writes a change of finalizers or annotations. The resourceVersion goes with
// it: a merge patch replaces the whole finalizers list, so without it a finalizer that another
// controller added meanwhile would be dropped.
func (r *TableauWebhookReconciler) patchMetadata(ctx context.Context, wh, base *tableauv1.TableauWebhook) error {
	return r.Patch(ctx, wh, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}

// ensureFinalizer adds the finalizer before the operator creates or takes over a webhook.
func (r *TableauWebhookReconciler) ensureFinalizer(ctx context.Context, wh *tableauv1.TableauWebhook) error {
	if controllerutil.ContainsFinalizer(wh, webhookFinalizer) {
		return nil
	}
	base := wh.DeepCopy()
	controllerutil.AddFinalizer(wh, webhookFinalizer)
	return r.patchMetadata(ctx, wh, base)
}

// createWebhook creates the webhook. The finalizer goes first (so that a deletion cleans up),
// then status.pendingCreate (so that a crash or a lost answer is recognised later instead of
// leading to a second webhook); both are stored before anything exists in Tableau. written
// follows the status write, so that finish's diff clears the record when it must.
func (r *TableauWebhookReconciler) createWebhook(ctx context.Context, wh, written *tableauv1.TableauWebhook, site *tableauv1.TableauSite, conn *connection, desired tableau.WebhookSpec) (tableau.Webhook, error) {
	if err := r.ensureFinalizer(ctx, wh); err != nil {
		return tableau.Webhook{}, err
	}
	base := wh.DeepCopy()
	base.Status = written.Status
	wh.Status.PendingCreate = &tableauv1.PendingCreate{Name: desired.Name, SiteID: conn.session.SiteID, Since: metav1.NewTime(time.Now().UTC().Truncate(time.Second))}
	if err := r.Status().Patch(ctx, wh, client.MergeFrom(base)); err != nil {
		return tableau.Webhook{}, err
	}
	written.Status = *wh.Status.DeepCopy()
	// With pendingCreate stored, the Secrets are needed for this webhook's deletion from now on.
	if err := holdCredentials(ctx, r.Client, site); err != nil {
		return tableau.Webhook{}, err
	}
	w, err := conn.client.CreateWebhook(ctx, desired)
	if err != nil {
		if !tableau.IsTransient(err) {
			// Tableau refused the create, so it made nothing: the record would only mislead a
			// later reconcile into taking a same-named webhook for this one.
			wh.Status.PendingCreate = nil
		}
		return tableau.Webhook{}, tableauProblem("create webhook", err)
	}
	conn.webhooks.put(w)
	wh.Status.WebhookID = w.ID
	wh.Status.PendingCreate = nil
	r.event(ctx, wh, corev1.EventTypeNormal, eventCreated, "Create", "Created webhook %s for event %s", w.ID, w.Event)
	return w, nil
}

// updateWebhook makes an existing webhook match the spec, telling a spec change from drift
// (a change made in Tableau to a webhook that matched this generation of the spec).
func (r *TableauWebhookReconciler) updateWebhook(ctx context.Context, wh *tableauv1.TableauWebhook, conn *connection, observed tableau.Webhook, desired tableau.WebhookSpec) (tableau.Webhook, error) {
	fields := differences(observed, desired)
	w, err := conn.client.UpdateWebhook(ctx, observed.ID, desired)
	if err != nil {
		if tableau.IsNotFound(err) && !tableau.IsSiteNotFound(err) {
			conn.webhooks.remove(observed.ID)
			wh.Status.WebhookID = ""
		}
		return tableau.Webhook{}, tableauProblem("update webhook "+observed.ID, err)
	}
	conn.webhooks.put(w)
	if r.isDrift(wh, desired) {
		for _, f := range fields {
			r.Metrics.driftCorrection(f)
		}
		r.event(ctx, wh, corev1.EventTypeNormal, eventDriftCorrected, "Update",
			"Corrected %s of webhook %s, changed in Tableau", strings.Join(fields, ", "), w.ID)
	} else {
		r.event(ctx, wh, corev1.EventTypeNormal, eventUpdated, "Update", "Updated %s of webhook %s", strings.Join(fields, ", "), w.ID)
	}
	if !observed.Enabled && desired.Enabled && !disabledBySpec(wh, observed.ID) {
		reason := observed.StatusChangeReason
		if reason == "" {
			reason = "no reason given"
		}
		r.event(ctx, wh, corev1.EventTypeWarning, eventReenabled, "Update", "Re-enabled webhook %s, which Tableau had disabled: %s", w.ID, reason)
		r.Metrics.webhookReenabled(wh, time.Now())
	}
	return w, nil
}

// disabledBySpec reports whether the webhook was last seen disabled because the spec said so
// (status records only states that matched the spec), so that enabling it again is a spec
// change and not the re-enabling of a webhook Tableau disabled (DESIGN 3.2 step 7).
func disabledBySpec(wh *tableauv1.TableauWebhook, id string) bool {
	return wh.Status.WebhookID == id && wh.Status.Enabled != nil && !*wh.Status.Enabled
}

// isDrift reports whether a difference between Tableau and what the resource wants comes from
// Tableau: what it wants is what was last applied. After a restart, when nothing was applied
// yet, a webhook that was Available for this generation has drifted.
func (r *TableauWebhookReconciler) isDrift(wh *tableauv1.TableauWebhook, desired tableau.WebhookSpec) bool {
	if _, ok := r.applied.Load(wh.UID); ok {
		return r.appliedIs(wh.UID, specDigest(desired))
	}
	return matchedBefore(wh)
}

// appliedIs reports whether d is the digest applied records for uid.
func (r *TableauWebhookReconciler) appliedIs(uid types.UID, d specSum) bool {
	v, ok := r.applied.Load(uid)
	return ok && v.(specSum) == d
}

// specSum is the digest of a desired webhook (specDigest), kept per resource: 32 bytes, where
// its hex string took 64 and a string header of its own.
type specSum [sha256.Size]byte

// specDigest identifies a desired webhook without holding its (possibly secret) URL.
func specDigest(w tableau.WebhookSpec) specSum {
	return sha256.Sum256([]byte(fmt.Sprintf("%q %q %q %t", w.Name, w.Event, w.URL, w.Enabled)))
}

// matchedBefore reports whether the webhook was Available for the current generation, so
// that a difference now is drift rather than a spec change.
func matchedBefore(wh *tableauv1.TableauWebhook) bool {
	c := meta.FindStatusCondition(wh.Status.Conditions, tableauv1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == wh.Generation
}

// matches reports whether Tableau's webhook is what the spec asks for.
func matches(w tableau.Webhook, desired tableau.WebhookSpec) bool {
	return len(differences(w, desired)) == 0
}

// differences names the fields in which Tableau's webhook differs from the spec.
func differences(w tableau.Webhook, desired tableau.WebhookSpec) []string {
	var fields []string
	if w.Name != desired.Name {
		fields = append(fields, "name")
	}
	if w.Event != desired.Event {
		fields = append(fields, "event")
	}
	if w.URL != desired.URL {
		fields = append(fields, "url")
	}
	if w.Enabled != desired.Enabled {
		fields = append(fields, "enabled")
	}
	return fields
}

// recordObserved copies what Tableau reports into status.
func recordObserved(wh *tableauv1.TableauWebhook, conn *connection, w tableau.Webhook) {
	s := &wh.Status
	s.WebhookID = w.ID
	s.SiteID = conn.session.SiteID
	s.WebhookName = w.Name
	enabled := w.Enabled
	s.Enabled = &enabled
	s.StatusChangeReason = w.StatusChangeReason
	s.Owner = nil
	if w.OwnerID != "" || w.OwnerName != "" {
		s.Owner = &tableauv1.WebhookOwner{ID: w.OwnerID, Name: w.OwnerName}
	}
	s.Destination = wh.DestinationDisplay()
	s.CreatedAt, s.UpdatedAt = tableauTime(w.CreatedAt), tableauTime(w.UpdatedAt)
}

// tableauTime reads a timestamp as Tableau writes it (xs:dateTime, e.g. 2020-09-17T23:10:46Z);
// nil when absent or unreadable, rather than a made-up time.
func tableauTime(s string) *metav1.Time {
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	// Status keeps seconds: finer would make every reconcile look like a change.
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}

// testPending reports whether the test annotation asks for a test that has not run yet.
func testPending(wh *tableauv1.TableauWebhook) bool {
	token := wh.Annotations[tableauv1.AnnotationTest]
	return token != "" && (wh.Status.LastTest == nil || wh.Status.LastTest.Request != token)
}

// runPendingTest runs Tableau's Test Webhook once for each new value of the test annotation.
func (r *TableauWebhookReconciler) runPendingTest(ctx context.Context, wh *tableauv1.TableauWebhook, conn *connection) error {
	if !testPending(wh) {
		return nil
	}
	token := wh.Annotations[tableauv1.AnnotationTest]
	res, err := conn.client.TestWebhook(ctx, wh.Status.WebhookID)
	if err != nil && tableau.IsTransient(err) {
		return tableauProblem("test webhook", err)
	}
	result := &tableauv1.WebhookTestResult{Request: token, Time: metav1.Now()}
	switch {
	case err != nil:
		result.Error = truncateMessage(redacted(ctx, err.Error()))
		r.event(ctx, wh, corev1.EventTypeWarning, eventTestFailed, "Test", "Test of webhook %s could not run: %s", wh.Status.WebhookID, result.Error)
	case res.Status >= 200 && res.Status < 300:
		result.StatusCode, result.Body = int32(res.Status), truncateBody(redacted(ctx, res.Body))
		r.event(ctx, wh, corev1.EventTypeNormal, eventTestSucceeded, "Test", "Test of webhook %s: the destination answered %d", wh.Status.WebhookID, res.Status)
	default:
		result.StatusCode, result.Body = int32(res.Status), truncateBody(redacted(ctx, res.Body))
		r.event(ctx, wh, corev1.EventTypeWarning, eventTestFailed, "Test", "Test of webhook %s: the destination answered %d", wh.Status.WebhookID, res.Status)
	}
	wh.Status.LastTest = result
	return nil
}

// truncateBody keeps the start of an (already redacted) test answer.
func truncateBody(s string) string {
	if len(s) <= maxTestBody {
		return s
	}
	return truncateMessage(s[:maxTestBody])
}

// reconcileDelete is DESIGN.md section 3.2 step 1. done reports that the finalizer is gone,
// so that there is no status left to write.
//
// It authorizes the site through authorizeSite, as the normal path does. A namespace the site
// does not admit causes no Tableau request at all, with one exception: the webhook whose ID the
// operator itself recorded in status.webhookID, while the namespace was admitted, is deleted by
// that ID. Status is written by the operator alone (the shipped editor roles do not grant it),
// so nothing a tenant writes can point a deletion at another webhook.
func (r *TableauWebhookReconciler) reconcileDelete(ctx context.Context, wh *tableauv1.TableauWebhook) (done bool, err error) {
	if !controllerutil.ContainsFinalizer(wh, webhookFinalizer) {
		r.applied.Delete(wh.UID)
		return true, nil
	}
	id := wh.Status.WebhookID
	pending := wh.Status.PendingCreate
	if wh.EffectiveDeletionPolicy() == tableauv1.DeletionPolicyOrphan || (id == "" && pending == nil) {
		return true, r.release(ctx, wh)
	}
	site, err := r.authorizeSite(ctx, wh)
	if p, ok := asProblem(err); ok && p.reason == tableauv1.ReasonSiteNotAllowed {
		if id == "" {
			logf.FromContext(ctx).Info("Not deleting anything from Tableau: the TableauSite does not admit this namespace and no webhook ID is recorded", "tableauSite", siteKeyOf(wh))
			return true, r.release(ctx, wh)
		}
		pending, err = nil, nil
	}
	if p, ok := asProblem(err); ok {
		return false, deletingProblem(&problem{message: "cannot delete the webhook from Tableau: " + p.message + orphanHint, err: p})
	}
	if err != nil {
		return false, err
	}
	conn, probe, err := r.conns.forDeletion(ctx, site)
	if se, ok := asSiteError(err); ok && se.reason == tableauv1.ReasonSiteNotFoundInTableau {
		// Tableau said the site is gone: its webhooks went with it.
		logf.FromContext(ctx).Info("Not deleting anything from Tableau: the Tableau site no longer exists", "tableauSite", siteKeyOf(wh))
		return true, r.release(ctx, wh)
	}
	if err != nil {
		return false, deletingProblem(&problem{err: err,
			message: fmt.Sprintf("cannot delete the webhook from Tableau: TableauSite %s: %v%s", siteKeyOf(wh), err, orphanHint)})
	}
	if id != "" && wh.Status.SiteID != "" && wh.Status.SiteID != conn.session.SiteID {
		return false, deletingProblem(&problem{message: fmt.Sprintf("cannot delete webhook %s: it was made on the Tableau site %s, and TableauSite %s now signs in to site %s%s",
			id, wh.Status.SiteID, siteKeyOf(wh), conn.session.SiteID, orphanHint)})
	}
	if id == "" && pending != nil && pendingOn(wh, conn) != nil {
		// A create whose answer was lost may have made a webhook: look for it by the name it used.
		if err := conn.webhooks.refreshIfOlder(ctx, conn.client, 0); err != nil {
			return false, deletingProblem(tableauProblem("list webhooks", r.connectionLost(site, conn, err)))
		}
		w, ok, err := r.findPendingCreate(ctx, wh, conn, pending)
		if err != nil {
			return false, err
		}
		if ok {
			id = w.ID
		}
	}
	if id != "" {
		if err := conn.client.DeleteWebhook(ctx, id); err != nil && !tableau.IsNotFound(err) {
			return false, deletingProblem(tableauProblem("delete webhook "+id, r.connectionLost(site, conn, err)))
		}
		if probe {
			r.conns.clearRefusal(site)
		}
		conn.webhooks.remove(id)
		r.event(ctx, wh, corev1.EventTypeNormal, eventDeleted, "Delete", "Deleted webhook %s from Tableau", id)
	}
	return true, r.release(ctx, wh)
}

// release removes the finalizer, letting the resource go, and forgets it.
func (r *TableauWebhookReconciler) release(ctx context.Context, wh *tableauv1.TableauWebhook) error {
	base := wh.DeepCopy()
	controllerutil.RemoveFinalizer(wh, webhookFinalizer)
	if err := client.IgnoreNotFound(r.patchMetadata(ctx, wh, base)); err != nil {
		return err
	}
	r.applied.Delete(wh.UID)
	r.rejected.Delete(wh.UID)
	return nil
}

// finish turns the outcome of a reconcile into conditions, writes status if it changed, and
// picks the retry. Every message is redacted before it is truncated.
func (r *TableauWebhookReconciler) finish(ctx context.Context, before, wh *tableauv1.TableauWebhook, res ctrl.Result, err error) (ctrl.Result, error) {
	p, isProblem := asProblem(err)
	switch {
	case isProblem:
		p.message = redacted(ctx, p.message)
		msg := truncateMessage(p.message)
		setReadiness(&wh.Status.Conditions, wh.Generation, readiness{
			status: metav1.ConditionFalse, reason: p.reason, message: msg, terminal: p.terminal(),
		})
		setCondition(&wh.Status.Conditions, wh.Generation, tableauv1.ConditionSynced, metav1.ConditionFalse, tableauv1.ReasonReconcileError, msg)
		if p.reason == tableauv1.ReasonTableauError {
			r.event(ctx, wh, corev1.EventTypeWarning, eventTableauError, "Reconcile", "%s", msg)
		}
	case err != nil:
		err = redactError(ctx, err)
		setCondition(&wh.Status.Conditions, wh.Generation, tableauv1.ConditionSynced, metav1.ConditionFalse,
			tableauv1.ReasonReconcileError, truncateMessage(err.Error()))
	}
	wh.Status.ObservedGeneration = wh.Generation
	if !equality.Semantic.DeepEqual(before.Status, wh.Status) {
		// Patch status alone, against the object as it is now (metadata may have changed).
		base := wh.DeepCopy()
		base.Status = before.Status
		if perr := r.Status().Patch(ctx, wh, client.MergeFrom(base)); perr != nil {
			return ctrl.Result{}, errors.Join(err, perr)
		}
	}
	switch {
	case !isProblem:
		return res, err
	case p.terminal():
		return ctrl.Result{}, reconcile.TerminalError(p)
	case p.retry == retryOnChange:
		// What it waits on is watched; a slow requeue is the safety net should a wake-up be
		// missed (it costs no Tableau request while the wait lasts).
		return ctrl.Result{RequeueAfter: jitter(r.resyncPeriod(wh))}, nil
	case p.after > 0:
		return ctrl.Result{RequeueAfter: p.after}, nil
	default:
		return ctrl.Result{}, p
	}
}

// resyncPeriod is the resource's drift-check period.
func (r *TableauWebhookReconciler) resyncPeriod(wh *tableauv1.TableauWebhook) time.Duration {
	return resyncPeriodOf(wh, r.Options.ResyncPeriod)
}

func resyncPeriodOf(wh *tableauv1.TableauWebhook, def time.Duration) time.Duration {
	if wh.Spec.ResyncPeriod != nil && wh.Spec.ResyncPeriod.Duration > 0 {
		return wh.Spec.ResyncPeriod.Duration
	}
	return def
}

// cacheMaxAge is how old a site's webhook List may be for a drift check of this resource.
// The TableauSite lists once per period; the slack keeps a resource whose own timer fires
// just before that List from listing again.
func (r *TableauWebhookReconciler) cacheMaxAge(wh *tableauv1.TableauWebhook) time.Duration {
	return r.resyncPeriod(wh) * 3 / 2
}

// jitter spreads requeues over ±10% so that resources created together do not stay in step,
// and ends each on a multiple of a twentieth of the period (at most a second): the work queue
// then wakes about once per step for the resources due in it (their deadlines a few
// milliseconds apart, as the queue adds the delay to its own clock), not once per resource. At
// 10,000 resources those wake-ups were a large part of the idle CPU.
func jitter(d time.Duration) time.Duration {
	step := min(time.Second, d/20)
	now := time.Now()
	due := now.Add(time.Duration(float64(d) * (0.9 + 0.2*rand.Float64())))
	if step <= 0 {
		return due.Sub(now)
	}
	return due.Truncate(step).Add(step).Sub(now)
}
