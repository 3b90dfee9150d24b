package localenv

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
)

// Consistency compares the TableauWebhooks of a namespace with the webhooks of the Tableau
// site they use.
type Consistency struct {
	// Resources and Webhooks are the numbers of TableauWebhooks and of webhooks in Tableau.
	Resources, Webhooks int
	// NotReady lists resources whose Ready condition is not True for their generation.
	NotReady []string
	// Missing lists resources with no webhook of their ID and name in Tableau.
	Missing []string
	// Duplicates lists Tableau names held by more than one webhook.
	Duplicates []string
	// Orphans lists webhooks in Tableau that no resource claims (by status.webhookID).
	Orphans []string
	// Mismatched lists resources whose webhook differs from the spec (event, URL, enabled).
	Mismatched []string
}

// Err returns nil when every resource has exactly one webhook in Tableau (by name and by
// status.webhookID) that matches its spec, there are no duplicates and no orphans, and every
// resource is Ready; otherwise an error that says what is wrong.
func (c Consistency) Err() error {
	var problems []string
	add := func(what string, items []string) {
		if len(items) == 0 {
			return
		}
		sort.Strings(items)
		shown := items
		if len(shown) > 5 {
			shown = append(shown[:5:5], fmt.Sprintf("and %d more", len(items)-5))
		}
		problems = append(problems, fmt.Sprintf("%d %s: %s", len(items), what, strings.Join(shown, ", ")))
	}
	add("not Ready", c.NotReady)
	add("missing in Tableau", c.Missing)
	add("duplicated names in Tableau", c.Duplicates)
	add("orphaned webhooks in Tableau", c.Orphans)
	add("webhooks different from their spec", c.Mismatched)
	if c.Resources != c.Webhooks {
		problems = append(problems, fmt.Sprintf("%d TableauWebhooks but %d webhooks in Tableau", c.Resources, c.Webhooks))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("TableauWebhooks and Tableau disagree: %s", strings.Join(problems, "; "))
}

// CheckConsistency lists the TableauWebhooks of namespace (all on the simulator's site
// contentURL, with destination.url) and the site's webhooks, and compares them.
func CheckConsistency(ctx context.Context, c client.Client, sim *Simulator, namespace, contentURL string) (Consistency, error) {
	var list tableauv1.TableauWebhookList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return Consistency{}, err
	}
	hooks, err := sim.Webhooks(ctx, contentURL)
	if err != nil {
		return Consistency{}, err
	}
	res := Consistency{Resources: len(list.Items), Webhooks: len(hooks)}
	byID := map[string]SimWebhook{}
	byName := map[string][]SimWebhook{}
	for _, h := range hooks {
		byID[h.ID] = h
		byName[h.Name] = append(byName[h.Name], h)
	}
	for name, hs := range byName {
		if len(hs) > 1 {
			res.Duplicates = append(res.Duplicates, fmt.Sprintf("%q (%d)", name, len(hs)))
		}
	}
	claimed := map[string]bool{}
	for i := range list.Items {
		wh := &list.Items[i]
		key := wh.Namespace + "/" + wh.Name
		cond := meta.FindStatusCondition(wh.Status.Conditions, tableauv1.ConditionReady)
		if cond == nil || cond.Status != metav1.ConditionTrue || cond.ObservedGeneration != wh.Generation || wh.Status.ObservedGeneration != wh.Generation {
			reason := "no Ready condition"
			if cond != nil {
				reason = cond.Reason
			}
			res.NotReady = append(res.NotReady, key+" ("+reason+")")
		}
		id := wh.Status.WebhookID
		h, ok := byID[id]
		if id == "" || !ok || h.Name != wh.TableauName() {
			res.Missing = append(res.Missing, fmt.Sprintf("%s (webhookID %q)", key, id))
			continue
		}
		claimed[id] = true
		if h.Event != wh.Spec.Event || (wh.Spec.Destination.URL != "" && h.URL != wh.Spec.Destination.URL) || h.Enabled != wh.WantEnabled() {
			res.Mismatched = append(res.Mismatched, fmt.Sprintf("%s (event %s, url %s, enabled %t)", key, h.Event, h.URL, h.Enabled))
		}
	}
	for _, h := range hooks {
		if !claimed[h.ID] {
			res.Orphans = append(res.Orphans, fmt.Sprintf("%s %q", h.ID, h.Name))
		}
	}
	return res, nil
}
