package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// createFreshness bounds the age of the site's webhook list that a create may rely on: a
// webhook made by hand a moment before the resource was applied must be seen (adopted or
// refused), not duplicated. Resources created together share one List within this window.
const createFreshness = 5 * time.Second

// pendingClockSkew is how far from the operator's clock Tableau may date a webhook that an
// interrupted create made: the two clocks are not the same.
const pendingClockSkew = 2 * time.Minute

// found says how the webhook a TableauWebhook stands for was found in Tableau.
type found int

const (
	// foundNothing: Tableau has no webhook for the resource; it is to be created.
	foundNothing found = iota
	// foundByID: the webhook whose ID the operator recorded in status.
	foundByID
	// foundPendingCreate: the webhook that an interrupted create of this resource made
	// (status.pendingCreate, which only the operator writes, says one was under way).
	foundPendingCreate
	// foundAdoptable: a same-named webhook the operator did not create, which this resource
	// asks to adopt and the site's owner lets its namespace adopt.
	foundAdoptable
	// foundForeign: a same-named webhook the resource may not take; refusal says why.
	foundForeign
	// foundOwned: a same-named webhook that another TableauWebhook records as its own: a
	// name conflict, resolved when that resource renames or deletes it.
	foundOwned
)

// observation is what observeWebhook learned, before anything is done about it: the caller
// turns it into Tableau writes, status, Events and metrics, in one place.
type observation struct {
	found   found
	webhook tableau.Webhook
	// vanished is the recorded status.webhookID that Tableau no longer has: the webhook was
	// deleted outside the operator.
	vanished string
	// refusal says why a foreign webhook cannot be taken (the AlreadyExists message).
	refusal string
}

// observeWebhook finds the resource's webhook in Tableau: by status.webhookID, else by name.
// It reads (from the site's observation cache, and Tableau when the cache is too old) and
// decides; it writes nothing. site is the TableauSite that authorizeSite admitted.
func (r *TableauWebhookReconciler) observeWebhook(ctx context.Context, wh *tableauv1.TableauWebhook, site *tableauv1.TableauSite, conn *connection) (observation, error) {
	var obs observation
	cache := conn.webhooks
	if id := wh.Status.WebhookID; id != "" && wh.Status.SiteID == conn.session.SiteID {
		if err := cache.refreshIfOlder(ctx, conn.client, r.cacheMaxAge(wh)); err != nil {
			return obs, tableauProblem("list webhooks", err)
		}
		if w, ok := cache.get(id); ok {
			return observation{found: foundByID, webhook: w}, nil
		}
		// Not in the last List: confirm with a Get before creating it again.
		w, err := conn.client.GetWebhook(ctx, id)
		if err == nil {
			cache.put(w)
			return observation{found: foundByID, webhook: w}, nil
		}
		if !tableau.IsNotFound(err) || tableau.IsSiteNotFound(err) {
			return obs, tableauProblem("get webhook "+id, err)
		}
		cache.remove(id)
		obs.vanished = id
	}

	if pending := pendingOn(wh, conn); pending != nil {
		// A create whose answer was lost: only a new List can tell. It looks under the name the
		// create used, which may differ from today's (the update below then renames it).
		if err := cache.refreshIfOlder(ctx, conn.client, 0); err != nil {
			return obs, tableauProblem("list webhooks", err)
		}
		w, ok, err := r.findPendingCreate(ctx, wh, conn, pending)
		if err != nil || ok {
			return observation{found: foundPendingCreate, webhook: w, vanished: obs.vanished}, err
		}
		if r.pendingDisproved(pending) {
			// A List made after the create could have been served shows nothing it made: the
			// record is stale, and kept it would only mislead a later reconcile.
			wh.Status.PendingCreate = nil
		}
	}
	if err := cache.refreshIfOlder(ctx, conn.client, createFreshness); err != nil {
		return obs, tableauProblem("list webhooks", err)
	}
	candidates := cache.byName(wh.TableauName())
	if len(candidates) == 0 {
		obs.found = foundNothing
		return obs, nil
	}
	slices.SortFunc(candidates, func(a, b tableau.Webhook) int { return strings.Compare(a.ID, b.ID) })
	w := candidates[0]
	obs.webhook = w
	owner, err := r.recordedOwner(ctx, conn, w.ID, wh)
	if err != nil {
		return obs, err
	}
	switch {
	case owner != "":
		obs.found = foundOwned
		obs.refusal = fmt.Sprintf("the Tableau webhook named %q belongs to %s; choose another spec.webhookName", w.Name, owner)
	case wh.EffectiveAdoptionPolicy() != tableauv1.AdoptionPolicyAdopt:
		obs.found = foundForeign
		obs.refusal = fmt.Sprintf("Tableau already has a webhook named %q (%s) that this resource did not create; set adoptionPolicy: Adopt to take it over, or choose another spec.webhookName", w.Name, w.ID)
	default:
		allowed, err := r.access.mayAdopt(ctx, site, wh.Namespace)
		if err != nil {
			return obs, err
		}
		if allowed {
			obs.found = foundAdoptable
		} else {
			obs.found = foundForeign
			obs.refusal = fmt.Sprintf("Tableau already has a webhook named %q (%s) that the operator did not create, and TableauSite %s/%s does not let namespace %q adopt webhooks (spec.adoption.from is %s); ask the site's owners, or choose another spec.webhookName",
				w.Name, w.ID, site.Namespace, site.Name, wh.Namespace, site.AdoptionFrom())
		}
	}
	return obs, nil
}

// recordedOwner describes the other TableauWebhook whose status records the Tableau webhook id,
// on this Tableau site, as its own, or returns "" when none does. Such a webhook is never
// adopted or recovered by name, whatever this resource's spec says: status is written by the
// operator alone. A resource in another namespace is not named, only said to exist.
func (r *TableauWebhookReconciler) recordedOwner(ctx context.Context, conn *connection, id string, wh *tableauv1.TableauWebhook) (string, error) {
	recording, err := webhooksRecording(ctx, r, conn.session.SiteID, id)
	if err != nil {
		return "", err
	}
	for i := range recording {
		other := &recording[i]
		if other.UID == wh.UID {
			continue
		}
		// Only a resource whose own site leads to this Tableau site and admits it: anyone can
		// make a TableauSite that reports any LUID.
		claims, err := r.claimsOnSite(ctx, other, conn.identity)
		if err != nil {
			return "", err
		}
		if claims {
			return describeOther(other, wh), nil
		}
	}
	return "", nil
}

// describeOther names another TableauWebhook in a message for wh's owners: by namespace/name
// when it is in wh's namespace, and without a name otherwise, so that no tenant learns the names
// of another namespace's resources from its own resource's status.
func describeOther(other, wh *tableauv1.TableauWebhook) string {
	if other.Namespace == wh.Namespace {
		return "TableauWebhook " + other.Namespace + "/" + other.Name
	}
	return "a TableauWebhook in another namespace"
}

// pendingOn returns the resource's record of an interrupted create, if it is for the Tableau
// site conn signs in to and no webhook ID was stored since.
func pendingOn(wh *tableauv1.TableauWebhook, conn *connection) *tableauv1.PendingCreate {
	p := wh.Status.PendingCreate
	if p == nil || wh.Status.WebhookID != "" || p.SiteID != conn.session.SiteID {
		return nil
	}
	return p
}

// pendingDisproved reports whether a List fetched now, that holds no webhook findPendingCreate
// accepts, proves that the recorded create made nothing: it is later than the create could
// have been served.
func (r *TableauWebhookReconciler) pendingDisproved(pending *tableauv1.PendingCreate) bool {
	return time.Now().After(pending.Since.Add(r.Options.TableauTimeout + pendingClockSkew))
}

// findPendingCreate looks, in the cached List, for the webhook that an interrupted create of
// this resource may have made: named as the create named it, owned by the user the operator
// signs in as, dated while that create could still have been served (madeDuring), and recorded
// by no other TableauWebhook. A webhook made by hand by someone else is never taken for it.
func (r *TableauWebhookReconciler) findPendingCreate(ctx context.Context, wh *tableauv1.TableauWebhook, conn *connection, pending *tableauv1.PendingCreate) (tableau.Webhook, bool, error) {
	candidates := conn.webhooks.byName(pending.Name)
	slices.SortFunc(candidates, func(a, b tableau.Webhook) int { return strings.Compare(a.ID, b.ID) })
	for _, w := range candidates {
		if w.OwnerID != "" && conn.session.UserID != "" && w.OwnerID != conn.session.UserID {
			continue
		}
		if !madeDuring(w, pending.Since.Time, pending.Since.Add(r.Options.TableauTimeout)) {
			continue
		}
		owner, err := r.recordedOwner(ctx, conn, w.ID, wh)
		if err != nil {
			return tableau.Webhook{}, false, err
		}
		if owner == "" {
			return w, true, nil
		}
	}
	return tableau.Webhook{}, false, nil
}

// madeDuring reports whether the webhook may be the one a create call made between from and
// to (its start, and its start plus the client's timeout): Tableau dates it within that window,
// give or take pendingClockSkew, or does not date it. A same-named webhook made long before or
// after, by hand say, is not the one the record speaks of.
func madeDuring(w tableau.Webhook, from, to time.Time) bool {
	if w.CreatedAt == "" {
		return true
	}
	created, err := time.Parse(time.RFC3339, w.CreatedAt)
	if err != nil {
		return true
	}
	return !created.Before(from.Add(-pendingClockSkew)) && !created.After(to.Add(pendingClockSkew))
}
