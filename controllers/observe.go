package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// createFreshness bounds the age of the site's webhook list that a create may rely on: a
// webhook made by hand a moment before the resource was applied must be seen (adopted or
// refused), not duplicated. Resources created together share one List within this window.
const createFreshness = 5 * time.Second

// pendingClockSkew is how much earlier than the create-pending mark Tableau may date a webhook
// that the interrupted create made: the two clocks are not the same. A same-named webhook
// created before that is not the one the mark speaks of.
const pendingClockSkew = 10 * time.Minute

// found says how the webhook a TableauWebhook stands for was found in Tableau.
type found int

const (
	// foundNothing: Tableau has no webhook for the resource; it is to be created.
	foundNothing found = iota
	// foundByID: the webhook whose ID the operator recorded in status.
	foundByID
	// foundPendingCreate: a same-named webhook that an interrupted create of this resource
	// made (the create-pending mark, which only the operator may write, says one was under way).
	foundPendingCreate
	// foundAdoptable: a same-named webhook the operator did not create, which this resource
	// asks to adopt and the site's owner lets its namespace adopt.
	foundAdoptable
	// foundForeign: a same-named webhook the resource may not take; refusal says why.
	foundForeign
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
		if !tableau.IsNotFound(err) {
			return obs, tableauProblem("get webhook "+id, err)
		}
		cache.remove(id)
		obs.vanished = id
	}

	pending, pendingSince := createPending(wh)
	maxAge := createFreshness
	if pending {
		maxAge = 0 // a create whose answer was lost: only a new List can tell
	}
	if err := cache.refreshIfOlder(ctx, conn.client, maxAge); err != nil {
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
	owner, err := r.recordedOwner(ctx, w.ID, wh)
	if err != nil {
		return obs, err
	}
	switch {
	case owner != "":
		obs.found = foundForeign
		obs.refusal = fmt.Sprintf("Tableau webhook %s named %q belongs to TableauWebhook %s; choose another spec.webhookName", w.ID, w.Name, owner)
	case pending && madeSince(w, pendingSince):
		obs.found = foundPendingCreate
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

// recordedOwner names the other TableauWebhook whose status records the Tableau webhook id as
// its own, or "" when none does. Such a webhook is never adopted or recovered by name, whatever
// this resource's spec says: status is written by the operator alone.
func (r *TableauWebhookReconciler) recordedOwner(ctx context.Context, id string, wh *tableauv1.TableauWebhook) (string, error) {
	var list tableauv1.TableauWebhookList
	if err := r.List(ctx, &list, client.MatchingFields{indexWebhookID: id}); err != nil {
		return "", err
	}
	for i := range list.Items {
		if other := &list.Items[i]; other.UID != wh.UID {
			return other.Namespace + "/" + other.Name, nil
		}
	}
	return "", nil
}

// createPending reports the create-pending mark and when it was set. The mark is trusted
// because only those who may write the resource's status may write it (the
// ValidatingAdmissionPolicy in config/crd/policy), and it matters only until the created
// webhook's ID is in status.
func createPending(wh *tableauv1.TableauWebhook) (bool, time.Time) {
	v := wh.Annotations[tableauv1.AnnotationCreatePending]
	if v == "" || wh.Status.WebhookID != "" {
		return false, time.Time{}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return true, time.Time{}
	}
	return true, t
}

// madeSince reports whether the webhook may be the one a create begun at since made: Tableau
// dates it no earlier than since (with slack for the two clocks), or does not date it.
func madeSince(w tableau.Webhook, since time.Time) bool {
	if since.IsZero() || w.CreatedAt == "" {
		return true
	}
	created, err := time.Parse(time.RFC3339, w.CreatedAt)
	if err != nil {
		return true
	}
	return !created.Before(since.Add(-pendingClockSkew))
}
