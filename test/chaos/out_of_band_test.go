package chaos

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// TestOutOfBandChanges changes webhooks in Tableau behind the operator's back (delete,
// rename, retarget, disable; one change per webhook) and expects every change corrected
// within one resync period (plus slack for the reconcile itself on a loaded machine), with
// exactly one Tableau write per change.
//
// The client-side rate limit is raised from its default (10 requests/s): 100 corrections
// cost 125 requests (a deleted webhook takes a Get and a Create), which the default spreads
// over 12 s, longer than the short resync period that keeps this test quick. The target is
// about detecting drift, not about that limit.
func TestOutOfBandChanges(t *testing.T) {
	changes, period := size(20, 100), size(5*time.Second, 10*time.Second)
	const slack = 5 * time.Second
	s := newScenario(t, "oob")
	s.applySite(nil)
	s.startManager("", "--resync-period="+period.String(), "--tableau-qps=100", "--tableau-burst=100")
	s.waitSiteReady()
	s.createWebhooks(changes)
	s.waitAllReady(changes, 3*time.Minute)
	if err := s.sim.ResetStats(s.ctx); err != nil {
		t.Fatal(err)
	}

	var list tableauv1.TableauWebhookList
	if err := s.env.Client.List(s.ctx, &list, client.InNamespace(s.ns)); err != nil {
		t.Fatal(err)
	}
	kinds := []string{"delete", "rename", "retarget", "disable"}
	changedAt := map[string]time.Time{}
	kindOf := map[string]string{}
	for i := range list.Items {
		wh := &list.Items[i]
		id, kind := wh.Status.WebhookID, kinds[len(changedAt)%len(kinds)]
		var err error
		switch kind {
		case "delete":
			err = s.sim.DeleteWebhook(s.ctx, s.site.ContentURL, id)
		case "rename":
			_, err = s.sim.EditWebhook(s.ctx, s.site.ContentURL, id, map[string]any{"name": "renamed-in-tableau-" + wh.Name})
		case "retarget":
			_, err = s.sim.EditWebhook(s.ctx, s.site.ContentURL, id, map[string]any{"url": "https://elsewhere.example.com/" + wh.Name})
		case "disable":
			_, err = s.sim.EditWebhook(s.ctx, s.site.ContentURL, id, map[string]any{"enabled": false, "statusChangeReason": "disabled by hand"})
		}
		if err != nil {
			t.Fatalf("%s %s: %v", kind, wh.Name, err)
		}
		changedAt[wh.Name], kindOf[wh.Name] = time.Now(), kind
	}
	if len(changedAt) != changes {
		t.Fatalf("changed %d webhooks, want %d", len(changedAt), changes)
	}

	// Poll until every change is corrected, noting when each one was first seen corrected.
	correctedAt := map[string]time.Time{}
	err := localenv.Poll(within(t, period+slack+30*time.Second), func(ctx context.Context) error {
		pending, err := s.uncorrected(ctx)
		if err != nil {
			return err
		}
		now := time.Now()
		for name := range changedAt {
			if _, done := correctedAt[name]; !done && !pending[name] {
				correctedAt[name] = now
			}
		}
		if len(pending) > 0 {
			return fmt.Errorf("%d changes not corrected yet", len(pending))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var latencies []time.Duration
	worst := map[string]time.Duration{}
	for name, at := range correctedAt {
		d := at.Sub(changedAt[name])
		latencies = append(latencies, d)
		worst[kindOf[name]] = max(worst[kindOf[name]], d)
	}
	slices.Sort(latencies)
	longest := latencies[len(latencies)-1]
	// Resyncs carry ±10% jitter; the List that reveals drift runs once per period.
	if limit := period*11/10 + slack; longest > limit {
		t.Errorf("the slowest correction took %s, more than one resync period (%s) + 10%% jitter + %s slack", longest, period, slack)
	}

	s.waitAllReady(changes, time.Minute)
	st := s.stats()
	creates, updates, deletes := st.Count(tableautest.OpCreateWebhook), st.Count(tableautest.OpUpdateWebhook), st.Count(tableautest.OpDeleteWebhook)
	if wantCreates, wantUpdates := changes/4, changes-changes/4; creates != wantCreates || updates != wantUpdates || deletes != 0 {
		t.Errorf("Tableau writes: %d creates, %d updates, %d deletes; want %d creates (for the deleted) and %d updates", creates, updates, deletes, wantCreates, wantUpdates)
	}
	s.assertConsistent(changes)
	result(t, "%d out-of-band changes (%d each of delete, rename, retarget, disable) with --resync-period=%s: all corrected, median %s, slowest %s (by kind: %v); Tableau writes %d creates + %d updates, %d Lists",
		changes, changes/4, period, latencies[len(latencies)/2].Round(100*time.Millisecond), longest.Round(100*time.Millisecond),
		roundAll(worst), creates, updates, st.Count(tableautest.OpListWebhooks))
}

// uncorrected returns the TableauWebhooks of the scenario whose webhook in Tableau is not
// (yet) the one status.webhookID names, with their Tableau name, URL, and enabled.
func (s *scenario) uncorrected(ctx context.Context) (map[string]bool, error) {
	var list tableauv1.TableauWebhookList
	if err := s.env.Client.List(ctx, &list, client.InNamespace(s.ns)); err != nil {
		return nil, err
	}
	hooks, err := s.sim.Webhooks(ctx, s.site.ContentURL)
	if err != nil {
		return nil, err
	}
	byName := map[string]int{}
	byID := map[string]localenv.SimWebhook{}
	for _, h := range hooks {
		byName[h.Name]++
		byID[h.ID] = h
	}
	pending := map[string]bool{}
	for i := range list.Items {
		wh := &list.Items[i]
		h, ok := byID[wh.Status.WebhookID]
		if !ok || h.Name != wh.TableauName() || byName[h.Name] != 1 || h.URL != wh.Spec.Destination.URL || !h.Enabled {
			pending[wh.Name] = true
		}
	}
	return pending, nil
}

func roundAll(m map[string]time.Duration) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v.Round(100 * time.Millisecond).String()
	}
	return out
}
