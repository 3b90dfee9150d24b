package controllers

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
)

// Field indexes that let watches and reconcilers find related objects without listing all.
// The Lists that only read what they find pass client.UnsafeDisableDeepCopy: their items share
// the cache's maps and slices and are never written, and at 10,000 TableauWebhooks a deep copy
// of a site's webhooks per event was most of the manager's CPU. The four TableauWebhook indexes
// of a site, a name, an ID and a holding are cluster-wide (indexClusterWide): never listed
// InNamespace. The name and ID indexes, whose values are unique or nearly, are bucketed
// (bucketOf): read them with webhooksNamed and webhooksRecording.
const (
	// indexWebhookSite indexes TableauWebhooks by "<namespace>/<name>" of their TableauSite.
	indexWebhookSite = "tableau.webhook-operator.dev/site"
	// indexWebhookName indexes TableauWebhooks by the bucket of their Tableau name, to find
	// name conflicts (webhooksNamed). Names conflict per Tableau site, whichever TableauSite
	// leads there, so the site is not part of the key: checkNameConflict resolves each
	// claimant's Tableau site.
	indexWebhookName = "tableau.webhook-operator.dev/name"
	// indexWebhookID indexes TableauWebhooks by the bucket of the Tableau site and webhook ID
	// their status records (webhookIDKey), so that a webhook another resource owns is never
	// adopted or recovered by name (webhooksRecording).
	indexWebhookID = "tableau.webhook-operator.dev/webhook-id"
	// indexWebhookSecret indexes TableauWebhooks by the Secret of destination.urlFrom.
	indexWebhookSecret = "tableau.webhook-operator.dev/secret"
	// indexWebhookHolding indexes the TableauWebhooks whose deletion will call Tableau
	// (needsCredentialsToGo) by "<namespace>/<name>" of their TableauSite, so that whether a
	// site's Secrets are still needed is one index lookup, not a walk over its webhooks.
	indexWebhookHolding = "tableau.webhook-operator.dev/holding"
	// indexSiteSecret indexes TableauSites by the Secrets they read.
	indexSiteSecret = "tableau.webhook-operator.dev/secret"
)

// webhookIDKey is what indexWebhookID buckets: the site's LUID and the webhook's.
func webhookIDKey(siteLUID, webhookID string) string { return siteLUID + "/" + webhookID }

// indexBuckets is how many values a bucketed index has at most.
const indexBuckets = 1024

// bucketSeed makes the buckets of this process: a tenant cannot choose names that fall into
// one bucket, and a bucket that held them all would only make its lookups slower.
var bucketSeed = maphash.MakeSeed()

// bucketOf is the value under which a bucketed index files v. An index whose values are
// unique per resource would hold, in client-go's indexer, one set per resource: at 10,000
// TableauWebhooks the name and ID indexes were 9 MiB of the manager's heap. A bucket holds
// about n/indexBuckets resources instead, and its readers keep those whose value is v.
func bucketOf(v string) string {
	return strconv.FormatUint(maphash.String(bucketSeed, v)%indexBuckets, 36)
}

// webhooksNamed lists the TableauWebhooks of all namespaces whose Tableau name is name. The
// items share the cache's maps and slices (client.UnsafeDisableDeepCopy): read them only.
func webhooksNamed(ctx context.Context, c client.Reader, name string) ([]tableauv1.TableauWebhook, error) {
	return listBucket(ctx, c, indexWebhookName, name, func(wh *tableauv1.TableauWebhook) bool {
		return wh.TableauName() == name
	})
}

// webhooksRecording lists the TableauWebhooks of all namespaces whose status records webhook
// id on the Tableau site siteLUID. The items share the cache's maps and slices: read them only.
func webhooksRecording(ctx context.Context, c client.Reader, siteLUID, id string) ([]tableauv1.TableauWebhook, error) {
	return listBucket(ctx, c, indexWebhookID, webhookIDKey(siteLUID, id), func(wh *tableauv1.TableauWebhook) bool {
		return wh.Status.SiteID == siteLUID && wh.Status.WebhookID == id
	})
}

// listBucket lists the bucket of value in a bucketed index and keeps the items that match.
func listBucket(ctx context.Context, c client.Reader, index, value string, match func(*tableauv1.TableauWebhook) bool) ([]tableauv1.TableauWebhook, error) {
	var list tableauv1.TableauWebhookList
	if err := c.List(ctx, &list, client.MatchingFields{index: bucketOf(value)}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(list.Items, func(wh tableauv1.TableauWebhook) bool { return !match(&wh) }), nil
}

// setupIndexes registers the field indexes with the manager's cache.
func setupIndexes(ctx context.Context, mgr manager.Manager) error {
	webhook := &tableauv1.TableauWebhook{}
	if err := indexClusterWide(ctx, mgr, webhook, indexWebhookSite, func(o client.Object) []string {
		return []string{siteKeyOf(o.(*tableauv1.TableauWebhook)).String()}
	}); err != nil {
		return err
	}
	if err := indexClusterWide(ctx, mgr, webhook, indexWebhookHolding, func(o client.Object) []string {
		if wh := o.(*tableauv1.TableauWebhook); needsCredentialsToGo(wh) {
			return []string{siteKeyOf(wh).String()}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := indexClusterWide(ctx, mgr, webhook, indexWebhookName, func(o client.Object) []string {
		return []string{bucketOf(o.(*tableauv1.TableauWebhook).TableauName())}
	}); err != nil {
		return err
	}
	if err := indexClusterWide(ctx, mgr, webhook, indexWebhookID, func(o client.Object) []string {
		if s := o.(*tableauv1.TableauWebhook).Status; s.WebhookID != "" {
			return []string{bucketOf(webhookIDKey(s.SiteID, s.WebhookID))}
		}
		return nil
	}); err != nil {
		return err
	}
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, webhook, indexWebhookSecret, func(o client.Object) []string {
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

// indexClusterWide registers a field index that answers client.MatchingFields without
// client.InNamespace only. The manager's FieldIndexer stores every value of a namespaced
// object twice, under "<namespace>/<value>" and under "__all_namespaces/<value>", and the
// indexes above are only ever read across namespaces: at 10,000 TableauWebhooks their
// one-object sets were the largest thing the manager held. So this stores the second key
// alone, under the names controller-runtime's cache reader looks up ("field:<field>" and
// "__all_namespaces/<value>", pkg/cache/internal.FieldIndexName and KeyToNamespacedKey). A
// List of these fields with InNamespace would find nothing; one without finds what
// IndexField's index would, and an unknown index name makes the List fail, not come back empty.
func indexClusterWide(ctx context.Context, mgr manager.Manager, obj client.Object, field string, extract client.IndexerFunc) error {
	informer, err := mgr.GetCache().GetInformer(ctx, obj, cache.BlockUntilSynced(false))
	if err != nil {
		return err
	}
	return informer.AddIndexers(toolscache.Indexers{"field:" + field: func(raw any) ([]string, error) {
		o, ok := raw.(client.Object)
		if !ok {
			return nil, fmt.Errorf("object of type %T is not an Object", raw)
		}
		values := extract(o)
		keys := make([]string, len(values))
		for i, v := range values {
			keys[i] = "__all_namespaces/" + v
		}
		return keys, nil
	}})
}
