package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
)

// EnsureWebhookFinalizer and ReleaseWebhook run the TableauWebhook reconciler's finalizer
// writes on an object as the caller read it, so that a test can hand them a stale copy.
func EnsureWebhookFinalizer(ctx context.Context, c client.Client, wh *tableauv1.TableauWebhook) error {
	return (&TableauWebhookReconciler{Client: c}).ensureFinalizer(ctx, wh)
}

// ReleaseWebhook removes the TableauWebhook finalizer as a finished deletion does.
func ReleaseWebhook(ctx context.Context, c client.Client, wh *tableauv1.TableauWebhook) error {
	return (&TableauWebhookReconciler{Client: c}).release(ctx, wh)
}

// EnsureSiteFinalizer runs the TableauSite reconciler's finalizer write (inUse: add, else remove).
func EnsureSiteFinalizer(ctx context.Context, c client.Client, site *tableauv1.TableauSite, inUse bool) error {
	return (&TableauSiteReconciler{Client: c}).ensureFinalizer(ctx, site, inUse)
}

// WebhookFinalizer is the TableauWebhook finalizer's name.
const WebhookFinalizer = webhookFinalizer

// SiteFinalizer is the TableauSite finalizer's name.
const SiteFinalizer = siteFinalizer

// ResyncsSkipped is the footprint key counting the resyncs that skipped the full reconcile.
const ResyncsSkipped = resyncsSkipped

// SetupWithFootprint is Setup, and returns a function that counts what the manager keeps in
// memory for objects (sites, sessions, observation caches and their owners, Secret data,
// applied digests).
func SetupWithFootprint(ctx context.Context, mgr manager.Manager, opts Options) (func() map[string]int, error) {
	op, err := setup(ctx, mgr, opts)
	if err != nil {
		return nil, err
	}
	return op.footprint, nil
}

// SetupIndexes registers the manager's field indexes; WebhooksNamed and WebhooksRecording
// read the bucketed ones, and BucketOf and WebhookIDKey say where a value is filed.
var (
	SetupIndexes      = setupIndexes
	WebhooksNamed     = webhooksNamed
	WebhooksRecording = webhooksRecording
	BucketOf          = bucketOf
	WebhookIDKey      = webhookIDKey
)

// NewSharedStrings returns the share method of a sharedStrings that keeps up to maxValues.
func NewSharedStrings(maxValues int) func(*string) { return newSharedStrings(maxValues).share }
