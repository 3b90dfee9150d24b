package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
)

// Field indexes that let watches and reconcilers find related objects without listing all.
const (
	// indexWebhookSite indexes TableauWebhooks by "<namespace>/<name>" of their TableauSite.
	indexWebhookSite = "tableau.webhook-operator.dev/site"
	// indexWebhookName indexes TableauWebhooks by Tableau name, to find name conflicts. Names
	// conflict per Tableau site, whichever TableauSite leads there, so the site is not part of
	// the key: checkNameConflict resolves each claimant's Tableau site.
	indexWebhookName = "tableau.webhook-operator.dev/name"
	// indexWebhookID indexes TableauWebhooks by the Tableau site and webhook ID their status
	// records (webhookIDKey), so that a webhook another resource owns is never adopted or
	// recovered by name.
	indexWebhookID = "tableau.webhook-operator.dev/webhook-id"
	// indexWebhookSecret indexes TableauWebhooks by the Secret of destination.urlFrom.
	indexWebhookSecret = "tableau.webhook-operator.dev/secret"
	// indexSiteSecret indexes TableauSites by the Secrets they read.
	indexSiteSecret = "tableau.webhook-operator.dev/secret"
)

// webhookIDKey is the key of indexWebhookID: the site's LUID and the webhook's.
func webhookIDKey(siteLUID, webhookID string) string { return siteLUID + "/" + webhookID }

// setupIndexes registers the field indexes with the manager's cache.
func setupIndexes(ctx context.Context, mgr manager.Manager) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &tableauv1.TableauWebhook{}, indexWebhookSite, func(o client.Object) []string {
		return []string{siteKeyOf(o.(*tableauv1.TableauWebhook)).String()}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &tableauv1.TableauWebhook{}, indexWebhookName, func(o client.Object) []string {
		return []string{o.(*tableauv1.TableauWebhook).TableauName()}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &tableauv1.TableauWebhook{}, indexWebhookID, func(o client.Object) []string {
		if s := o.(*tableauv1.TableauWebhook).Status; s.WebhookID != "" {
			return []string{webhookIDKey(s.SiteID, s.WebhookID)}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &tableauv1.TableauWebhook{}, indexWebhookSecret, func(o client.Object) []string {
		if f := o.(*tableauv1.TableauWebhook).Spec.Destination.URLFrom; f != nil {
			return []string{f.SecretKeyRef.Name}
		}
		return nil
	}); err != nil {
		return err
	}
	return idx.IndexField(ctx, &tableauv1.TableauSite{}, indexSiteSecret, func(o client.Object) []string {
		return siteSecretNames(o.(*tableauv1.TableauSite))
	})
}
