package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
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

// createFreshness bounds the age of the site's webhook list that a create may rely on: a
// webhook made by hand a moment before the resource was applied must be seen (adopted or
// refused), not duplicated. Resources created together share one List within this window.
const createFreshness = 5 * time.Second

// maxTestBody is how much of a destination's answer to a Test Webhook lands in status.
const maxTestBody = 1024

// retry says how a problem is retried.
type retry int

const (
	// retryOnChange: waits on another object (site, Secret); its watch retriggers.
	retryOnChange retry = iota
	// retryTerminal: only a spec change helps; no requeue (reconcile.TerminalError).
	retryTerminal
	// retryBackoff: transient; per-item exponential backoff from 1s to 5m.
	retryBackoff
)

// problem is why a TableauWebhook is not Ready: the Ready reason, a message for people, and
// how it is retried.
type problem struct {
	reason  string
	message string
	retry   retry
	// after is a minimum delay before the retry (Tableau's Retry-After).
	after time.Duration
	err   error
}

func (p *problem) Error() string { return p.message }
func (p *problem) Unwrap() error { return p.err }

// tableauProblem classifies a failed Tableau call made for what.
func tableauProblem(what string, err error) *problem {
	msg := fmt.Sprintf("%s: %v", what, err)
	switch {
	case tableau.IsRejected(err), tableau.IsForbidden(err):
		return &problem{reason: tableauv1.ReasonRejected, message: msg, retry: retryTerminal, err: err}
	default:
		p := &problem{reason: tableauv1.ReasonTableauError, message: msg, retry: retryBackoff, err: err}
		if d, ok := tableau.IsRateLimited(err); ok {
			p.after = d
		}
		return p
	}
}

// TableauWebhookReconciler makes a Tableau site's webhooks match TableauWebhooks
// (DESIGN.md section 3.2).
type TableauWebhookReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
	Options  Options
	Metrics  *Metrics

	conns   *connections
	secrets *secretValues

	// applied remembers, by TableauWebhook UID, a digest of what was last made to match in
	// Tableau, so that a difference found later is told apart: what the operator wants changed
	// (the spec, or the Secret of urlFrom: Updated) or Tableau changed (DriftCorrected). A
	// Secret rotation changes no generation, so the generation alone cannot tell.
	applied sync.Map
}

// Reconcile brings one TableauWebhook and its webhook in Tableau together.
func (r *TableauWebhookReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	wh := &tableauv1.TableauWebhook{}
	if err := r.Get(ctx, req.NamespacedName, wh); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := wh.DeepCopy()
	if !wh.DeletionTimestamp.IsZero() {
		done, err := r.reconcileDelete(ctx, wh)
		if done {
			return ctrl.Result{}, err
		}
		return r.finish(ctx, before, wh, ctrl.Result{}, err)
	}
	res, err := r.reconcileNormal(ctx, wh)
	return r.finish(ctx, before, wh, res, err)
}

// reconcileNormal is DESIGN.md section 3.2, steps 2 to 9.
func (r *TableauWebhookReconciler) reconcileNormal(ctx context.Context, wh *tableauv1.TableauWebhook) (_ ctrl.Result, err error) {
	if wh.Spec.Suspend {
		setCondition(&wh.Status.Conditions, wh.Generation, tableauv1.ConditionSynced, metav1.ConditionFalse,
			tableauv1.ReasonSuspended, "spec.suspend is true: the operator makes no Tableau calls for this webhook")
		return ctrl.Result{}, nil
	}
	site, err := r.resolveSite(ctx, wh)
	if err != nil {
		return ctrl.Result{}, err
	}
	conn, err := r.connect(ctx, site)
	if err != nil {
		return ctrl.Result{}, err
	}
	destination, err := r.resolveDestination(ctx, wh)
	if err != nil {
		return ctrl.Result{}, err
	}
	redact := secretRedactor(wh, destination)
	defer func() {
		var p *problem
		if errors.As(err, &p) {
			p.message = redact(p.message)
		}
	}()
	if err := r.checkNameConflict(ctx, wh); err != nil {
		return ctrl.Result{}, err
	}
	desired := tableau.WebhookSpec{Name: wh.TableauName(), Event: wh.Spec.Event, URL: destination, Enabled: wh.WantEnabled()}
	observed, err := r.observeWebhook(ctx, wh, conn)
	if err != nil {
		return ctrl.Result{}, r.connectionLost(site, err)
	}
	if observed == nil {
		// createWebhook adds the finalizer in the same write as the create-pending mark.
		observed, err = r.createWebhook(ctx, wh, conn, desired)
	} else {
		if err := r.ensureFinalizer(ctx, wh); err != nil {
			return ctrl.Result{}, err
		}
		if !matches(*observed, desired) {
			observed, err = r.updateWebhook(ctx, wh, conn, *observed, desired)
		}
	}
	if err != nil {
		return ctrl.Result{}, r.connectionLost(site, err)
	}
	conn.webhooks.setOwner(observed.ID, client.ObjectKeyFromObject(wh))
	r.applied.Store(wh.UID, specDigest(desired))
	recordObserved(wh, conn, *observed)
	if err := r.runPendingTest(ctx, wh, conn, redact); err != nil {
		return ctrl.Result{}, r.connectionLost(site, err)
	}
	setReadiness(&wh.Status.Conditions, wh.Generation, readiness{status: metav1.ConditionTrue, reason: tableauv1.ReasonAvailable,
		message: fmt.Sprintf("Webhook %s matches the spec", observed.ID)})
	setCondition(&wh.Status.Conditions, wh.Generation, tableauv1.ConditionSynced, metav1.ConditionTrue, tableauv1.ReasonReconcileSuccess, "")
	return ctrl.Result{RequeueAfter: jitter(r.resyncPeriod(wh))}, nil
}

// resolveSite finds the TableauSite, checks that it admits this namespace and is Ready.
func (r *TableauWebhookReconciler) resolveSite(ctx context.Context, wh *tableauv1.TableauWebhook) (*tableauv1.TableauSite, error) {
	key := types.NamespacedName{Namespace: wh.SiteNamespace(), Name: wh.Spec.SiteRef.Name}
	site := &tableauv1.TableauSite{}
	if err := r.Get(ctx, key, site); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &problem{reason: tableauv1.ReasonSiteNotFound, message: fmt.Sprintf("TableauSite %s not found", key), retry: retryOnChange, err: err}
		}
		return nil, err
	}
	allowed, err := r.admits(ctx, site, wh.Namespace)
	if err != nil {
		return nil, err
	}
	if !allowed {
		return nil, &problem{reason: tableauv1.ReasonSiteNotAllowed, retry: retryTerminal,
			message: fmt.Sprintf("TableauSite %s does not admit TableauWebhooks from namespace %q (spec.webhookNamespaces.from is %s)", key, wh.Namespace, site.AdmittedFrom())}
	}
	ready := meta.FindStatusCondition(site.Status.Conditions, tableauv1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionTrue {
		msg := fmt.Sprintf("TableauSite %s is not Ready", key)
		if ready != nil {
			msg += fmt.Sprintf(" (%s: %s)", ready.Reason, ready.Message)
		}
		return nil, &problem{reason: tableauv1.ReasonSiteNotReady, message: msg, retry: retryOnChange}
	}
	return site, nil
}

// admits reports whether the site's webhookNamespaces admit the namespace.
func (r *TableauWebhookReconciler) admits(ctx context.Context, site *tableauv1.TableauSite, namespace string) (bool, error) {
	switch site.AdmittedFrom() {
	case tableauv1.NamespacesFromAll:
		return true, nil
	case tableauv1.NamespacesFromSelector:
		sel, err := metav1.LabelSelectorAsSelector(site.Spec.WebhookNamespaces.Selector)
		if err != nil {
			return false, &problem{reason: tableauv1.ReasonSiteNotAllowed, retry: retryTerminal, err: err,
				message: fmt.Sprintf("TableauSite %s/%s has an invalid spec.webhookNamespaces.selector, which admits no namespace: %v", site.Namespace, site.Name, err)}
		}
		ns := &metav1.PartialObjectMetadata{}
		ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
		if err := r.Get(ctx, types.NamespacedName{Name: namespace}, ns); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return sel.Matches(labels.Set(ns.Labels)), nil
	default:
		return namespace == site.Namespace, nil
	}
}

// connect returns the site's signed-in connection.
func (r *TableauWebhookReconciler) connect(ctx context.Context, site *tableauv1.TableauSite) (*connection, error) {
	conn, err := r.conns.current(ctx, site)
	if err == nil {
		return conn, nil
	}
	var se *siteError
	if errors.As(err, &se) {
		p := &problem{reason: tableauv1.ReasonSiteNotReady, message: fmt.Sprintf("TableauSite %s/%s: %s", site.Namespace, site.Name, se.message), retry: retryOnChange, err: err}
		if se.transient {
			p.retry = retryBackoff
		}
		return nil, p
	}
	return nil, err
}

// connectionLost drops the site's session when Tableau no longer accepts it even after the
// client's own re-sign-in, so that the next attempt starts afresh.
func (r *TableauWebhookReconciler) connectionLost(site *tableauv1.TableauSite, err error) error {
	r.conns.forgetIfUnauthorized(site, err)
	return err
}

// resolveDestination returns the URL Tableau should POST to.
func (r *TableauWebhookReconciler) resolveDestination(ctx context.Context, wh *tableauv1.TableauWebhook) (string, error) {
	from := wh.Spec.Destination.URLFrom
	if from == nil {
		return wh.Spec.Destination.URL, nil
	}
	ref := from.SecretKeyRef
	where := fmt.Sprintf("key %q of Secret %s/%s", ref.Key, wh.Namespace, ref.Name)
	data, err := r.secrets.get(ctx, types.NamespacedName{Namespace: wh.Namespace, Name: ref.Name})
	if apierrors.IsNotFound(err) {
		return "", &problem{reason: tableauv1.ReasonDestinationSecretNotFound, message: fmt.Sprintf("Secret %s/%s not found", wh.Namespace, ref.Name), retry: retryOnChange, err: err}
	}
	if err != nil {
		return "", err
	}
	raw := strings.TrimSpace(string(data[ref.Key]))
	if raw == "" {
		return "", &problem{reason: tableauv1.ReasonDestinationSecretNotFound, message: where + " is missing or empty", retry: retryOnChange}
	}
	// The URL is secret: say what is wrong with it, never what it is.
	if u, err := url.Parse(raw); err != nil || u.Scheme != "https" || u.Host == "" {
		return "", &problem{reason: tableauv1.ReasonRejected, message: where + " does not hold an absolute https URL (Tableau delivers only to https)", retry: retryTerminal}
	}
	return raw, nil
}

// checkNameConflict refuses a Tableau name that an older TableauWebhook of the same site claims.
func (r *TableauWebhookReconciler) checkNameConflict(ctx context.Context, wh *tableauv1.TableauWebhook) error {
	var list tableauv1.TableauWebhookList
	if err := r.List(ctx, &list, client.MatchingFields{indexWebhookName: webhookNameKey(wh)}); err != nil {
		return err
	}
	for i := range list.Items {
		other := &list.Items[i]
		if other.UID == wh.UID || !claimsBefore(other, wh) {
			continue
		}
		return &problem{reason: tableauv1.ReasonNameConflict, retry: retryTerminal,
			message: fmt.Sprintf("TableauWebhook %s/%s already claims the Tableau name %q on this site; set a different spec.webhookName", other.Namespace, other.Name, wh.TableauName())}
	}
	return nil
}

// claimsBefore orders TableauWebhooks claiming one name: the oldest wins, then by namespace/name.
func claimsBefore(a, b *tableauv1.TableauWebhook) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
}

// ensureFinalizer adds the finalizer to a resource whose webhook exists in Tableau (found by
// ID or adopted); a create adds it together with the create-pending mark.
func (r *TableauWebhookReconciler) ensureFinalizer(ctx context.Context, wh *tableauv1.TableauWebhook) error {
	if controllerutil.ContainsFinalizer(wh, webhookFinalizer) {
		return nil
	}
	base := wh.DeepCopy()
	controllerutil.AddFinalizer(wh, webhookFinalizer)
	return r.Patch(ctx, wh, client.MergeFrom(base))
}

// observeWebhook finds the resource's webhook in Tableau: by status.webhookID, else by name.
// A same-named webhook is this resource's own when the create-pending annotation shows that
// an earlier create may have succeeded unseen; otherwise it is adopted only with
// adoptionPolicy Adopt. It returns nil when there is nothing to find.
func (r *TableauWebhookReconciler) observeWebhook(ctx context.Context, wh *tableauv1.TableauWebhook, conn *connection) (*tableau.Webhook, error) {
	cache := conn.webhooks
	if id := wh.Status.WebhookID; id != "" && wh.Status.SiteID == conn.session.SiteID {
		if err := cache.refreshIfOlder(ctx, conn.client, r.cacheMaxAge(wh)); err != nil {
			return nil, tableauProblem("list webhooks", err)
		}
		if w, ok := cache.get(id); ok {
			return &w, nil
		}
		// Not in the last List: confirm with a Get before creating it again.
		w, err := conn.client.GetWebhook(ctx, id)
		if err == nil {
			cache.put(w)
			return &w, nil
		}
		if !tableau.IsNotFound(err) {
			return nil, tableauProblem("get webhook "+id, err)
		}
		logf.FromContext(ctx).Info("Webhook was deleted in Tableau; creating it again", "webhookID", id)
		r.Metrics.driftCorrection("exists")
		// Deletion is drift like any other edit made in Tableau: say so, not only "Created".
		r.Recorder.Eventf(wh, nil, corev1.EventTypeNormal, eventDriftCorrected, "Create",
			"Webhook %s was deleted in Tableau outside the operator; creating it again", id)
		cache.remove(id)
		wh.Status.WebhookID = ""
	}

	pending := wh.Annotations[tableauv1.AnnotationCreatePending] != ""
	maxAge := createFreshness
	if pending {
		maxAge = 0 // a create whose answer was lost: only a new List can tell
	}
	if err := cache.refreshIfOlder(ctx, conn.client, maxAge); err != nil {
		return nil, tableauProblem("list webhooks", err)
	}
	found := cache.byName(wh.TableauName())
	if len(found) == 0 {
		return nil, nil
	}
	slices.SortFunc(found, func(a, b tableau.Webhook) int { return strings.Compare(a.ID, b.ID) })
	w := found[0]
	switch {
	case pending:
		logf.FromContext(ctx).Info("Found the webhook an interrupted create made", "webhookID", w.ID)
	case wh.EffectiveAdoptionPolicy() == tableauv1.AdoptionPolicyAdopt:
		r.Recorder.Eventf(wh, nil, corev1.EventTypeNormal, eventAdopted, "Adopt", "Adopted webhook %s named %q", w.ID, w.Name)
	default:
		return nil, &problem{reason: tableauv1.ReasonAlreadyExists, retry: retryTerminal,
			message: fmt.Sprintf("Tableau already has a webhook named %q (%s) that this resource did not create; set adoptionPolicy: Adopt to take it over, or choose another spec.webhookName", w.Name, w.ID)}
	}
	return &w, nil
}

// createWebhook creates the webhook, marking the resource create-pending first so that a
// crash or a lost answer never leads to a second webhook.
func (r *TableauWebhookReconciler) createWebhook(ctx context.Context, wh *tableauv1.TableauWebhook, conn *connection, desired tableau.WebhookSpec) (*tableau.Webhook, error) {
	// One write carries both marks, before anything exists in Tableau: the finalizer (so
	// that a deletion cleans up) and create-pending (so that a lost answer is recognised).
	if wh.Annotations[tableauv1.AnnotationCreatePending] == "" || !controllerutil.ContainsFinalizer(wh, webhookFinalizer) {
		base := wh.DeepCopy()
		if wh.Annotations == nil {
			wh.Annotations = map[string]string{}
		}
		if wh.Annotations[tableauv1.AnnotationCreatePending] == "" {
			wh.Annotations[tableauv1.AnnotationCreatePending] = time.Now().UTC().Format(time.RFC3339)
		}
		controllerutil.AddFinalizer(wh, webhookFinalizer)
		if err := r.Patch(ctx, wh, client.MergeFrom(base)); err != nil {
			return nil, err
		}
	}
	w, err := conn.client.CreateWebhook(ctx, desired)
	if err != nil {
		return nil, tableauProblem("create webhook", err)
	}
	conn.webhooks.put(w)
	wh.Status.WebhookID = w.ID
	r.Recorder.Eventf(wh, nil, corev1.EventTypeNormal, eventCreated, "Create", "Created webhook %s for event %s", w.ID, w.Event)
	return &w, nil
}

// updateWebhook makes an existing webhook match the spec, telling a spec change from drift
// (a change made in Tableau to a webhook that matched this generation of the spec).
func (r *TableauWebhookReconciler) updateWebhook(ctx context.Context, wh *tableauv1.TableauWebhook, conn *connection, observed tableau.Webhook, desired tableau.WebhookSpec) (*tableau.Webhook, error) {
	fields := differences(observed, desired)
	w, err := conn.client.UpdateWebhook(ctx, observed.ID, desired)
	if err != nil {
		if tableau.IsNotFound(err) {
			conn.webhooks.remove(observed.ID)
			wh.Status.WebhookID = ""
		}
		return nil, tableauProblem("update webhook "+observed.ID, err)
	}
	conn.webhooks.put(w)
	if r.isDrift(wh, desired) {
		for _, f := range fields {
			r.Metrics.driftCorrection(f)
		}
		r.Recorder.Eventf(wh, nil, corev1.EventTypeNormal, eventDriftCorrected, "Update",
			"Corrected %s of webhook %s, changed in Tableau", strings.Join(fields, ", "), w.ID)
	} else {
		r.Recorder.Eventf(wh, nil, corev1.EventTypeNormal, eventUpdated, "Update", "Updated %s of webhook %s", strings.Join(fields, ", "), w.ID)
	}
	if !observed.Enabled && desired.Enabled && !disabledBySpec(wh, observed.ID) {
		reason := observed.StatusChangeReason
		if reason == "" {
			reason = "no reason given"
		}
		r.Recorder.Eventf(wh, nil, corev1.EventTypeWarning, eventReenabled, "Update", "Re-enabled webhook %s, which Tableau had disabled: %s", w.ID, reason)
	}
	return &w, nil
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
	if d, ok := r.applied.Load(wh.UID); ok {
		return d == specDigest(desired)
	}
	return matchedBefore(wh)
}

// specDigest identifies a desired webhook without holding its (possibly secret) URL.
func specDigest(w tableau.WebhookSpec) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%q %q %q %t", w.Name, w.Event, w.URL, w.Enabled)))
	return hex.EncodeToString(sum[:])
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
}

// secretRedactor hides a Secret-sourced destination URL in text that comes from Tableau or
// the destination (error details, Test Webhook results), which may echo it, before that text
// reaches status, Events or logs (DESIGN 3.4).
func secretRedactor(wh *tableauv1.TableauWebhook, destination string) func(string) string {
	if wh.Spec.Destination.URLFrom == nil || destination == "" {
		return func(s string) string { return s }
	}
	display := wh.DestinationDisplay()
	return func(s string) string { return strings.ReplaceAll(s, destination, display) }
}

// runPendingTest runs Tableau's Test Webhook once for each new value of the test annotation.
func (r *TableauWebhookReconciler) runPendingTest(ctx context.Context, wh *tableauv1.TableauWebhook, conn *connection, redact func(string) string) error {
	token := wh.Annotations[tableauv1.AnnotationTest]
	if token == "" || (wh.Status.LastTest != nil && wh.Status.LastTest.Request == token) {
		return nil
	}
	res, err := conn.client.TestWebhook(ctx, wh.Status.WebhookID)
	if err != nil && tableau.IsTransient(err) {
		return tableauProblem("test webhook", err)
	}
	result := &tableauv1.WebhookTestResult{Request: token, Time: metav1.Now()}
	switch {
	case err != nil:
		result.Error = truncateMessage(redact(err.Error()))
		r.Recorder.Eventf(wh, nil, corev1.EventTypeWarning, eventTestFailed, "Test", "Test of webhook %s could not run: %s", wh.Status.WebhookID, result.Error)
	case res.Status >= 200 && res.Status < 300:
		result.StatusCode, result.Body = int32(res.Status), truncateBody(redact(res.Body))
		r.Recorder.Eventf(wh, nil, corev1.EventTypeNormal, eventTestSucceeded, "Test", "Test of webhook %s: the destination answered %d", wh.Status.WebhookID, res.Status)
	default:
		result.StatusCode, result.Body = int32(res.Status), truncateBody(redact(res.Body))
		r.Recorder.Eventf(wh, nil, corev1.EventTypeWarning, eventTestFailed, "Test", "Test of webhook %s: the destination answered %d", wh.Status.WebhookID, res.Status)
	}
	wh.Status.LastTest = result
	return nil
}

func truncateBody(s string) string {
	if len(s) <= maxTestBody {
		return s
	}
	return truncateMessage(s[:maxTestBody])
}

// reconcileDelete is DESIGN.md section 3.2 step 1. done reports that the finalizer is gone,
// so that there is no status left to write.
func (r *TableauWebhookReconciler) reconcileDelete(ctx context.Context, wh *tableauv1.TableauWebhook) (done bool, err error) {
	if !controllerutil.ContainsFinalizer(wh, webhookFinalizer) {
		r.applied.Delete(wh.UID)
		return true, nil
	}
	pending := wh.Annotations[tableauv1.AnnotationCreatePending] != ""
	if wh.EffectiveDeletionPolicy() == tableauv1.DeletionPolicyOrphan || (wh.Status.WebhookID == "" && !pending) {
		r.applied.Delete(wh.UID)
		return true, r.removeFinalizer(ctx, wh)
	}
	siteKey := types.NamespacedName{Namespace: wh.SiteNamespace(), Name: wh.Spec.SiteRef.Name}
	orphanHint := "; set deletionPolicy: Orphan to finish the deletion without deleting the webhook in Tableau"
	site := &tableauv1.TableauSite{}
	if err := r.Get(ctx, siteKey, site); err != nil {
		if apierrors.IsNotFound(err) {
			return false, &problem{reason: tableauv1.ReasonDeleting, retry: retryBackoff,
				message: fmt.Sprintf("cannot delete the webhook from Tableau: TableauSite %s not found%s", siteKey, orphanHint)}
		}
		return false, err
	}
	conn, err := r.conns.current(ctx, site)
	if err != nil {
		return false, &problem{reason: tableauv1.ReasonDeleting, retry: retryBackoff, err: err,
			message: fmt.Sprintf("cannot delete the webhook from Tableau: TableauSite %s: %v%s", siteKey, err, orphanHint)}
	}
	id := wh.Status.WebhookID
	if id == "" {
		// A create whose answer was lost may have made a webhook: look for it by name.
		if err := conn.webhooks.refreshIfOlder(ctx, conn.client, 0); err != nil {
			return false, deletingProblem(tableauProblem("list webhooks", err))
		}
		if found := conn.webhooks.byName(wh.TableauName()); len(found) > 0 {
			id = found[0].ID
		}
	}
	if id != "" {
		if err := conn.client.DeleteWebhook(ctx, id); err != nil && !tableau.IsNotFound(err) {
			return false, deletingProblem(tableauProblem("delete webhook "+id, r.connectionLost(site, err)))
		}
		conn.webhooks.remove(id)
		r.Recorder.Eventf(wh, nil, corev1.EventTypeNormal, eventDeleted, "Delete", "Deleted webhook %s from Tableau", id)
	}
	r.applied.Delete(wh.UID)
	return true, r.removeFinalizer(ctx, wh)
}

// deletingProblem reports a failed deletion under the Deleting reason, retried with backoff
// whatever the cause: a resource being deleted has no spec change to wait for.
func deletingProblem(p *problem) *problem {
	p.reason, p.retry = tableauv1.ReasonDeleting, retryBackoff
	return p
}

func (r *TableauWebhookReconciler) removeFinalizer(ctx context.Context, wh *tableauv1.TableauWebhook) error {
	base := wh.DeepCopy()
	controllerutil.RemoveFinalizer(wh, webhookFinalizer)
	return client.IgnoreNotFound(r.Patch(ctx, wh, client.MergeFrom(base)))
}

// finish turns the outcome of a reconcile into conditions, writes status if it changed,
// clears the create-pending mark once the webhook ID is stored, and picks the retry.
func (r *TableauWebhookReconciler) finish(ctx context.Context, before, wh *tableauv1.TableauWebhook, res ctrl.Result, err error) (ctrl.Result, error) {
	var p *problem
	switch {
	case errors.As(err, &p):
		setReadiness(&wh.Status.Conditions, wh.Generation, readiness{
			status: metav1.ConditionFalse, reason: p.reason, message: truncateMessage(p.message), terminal: p.retry == retryTerminal,
		})
		setCondition(&wh.Status.Conditions, wh.Generation, tableauv1.ConditionSynced, metav1.ConditionFalse,
			tableauv1.ReasonReconcileError, truncateMessage(p.message))
		if p.reason == tableauv1.ReasonTableauError {
			r.Recorder.Eventf(wh, nil, corev1.EventTypeWarning, eventTableauError, "Reconcile", "%s", truncateMessage(p.message))
		}
	case err != nil:
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
	if wh.Status.WebhookID != "" && wh.Annotations[tableauv1.AnnotationCreatePending] != "" && wh.DeletionTimestamp.IsZero() {
		base := wh.DeepCopy()
		delete(wh.Annotations, tableauv1.AnnotationCreatePending)
		if perr := r.Patch(ctx, wh, client.MergeFrom(base)); perr != nil {
			return ctrl.Result{}, errors.Join(err, perr)
		}
	}
	if p == nil {
		return res, err
	}
	switch p.retry {
	case retryTerminal:
		return ctrl.Result{}, reconcile.TerminalError(p)
	case retryOnChange:
		return ctrl.Result{}, nil
	default:
		if p.after > 0 {
			return ctrl.Result{RequeueAfter: p.after}, nil
		}
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

// jitter spreads requeues over ±10% so that resources created together do not stay in step.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}
