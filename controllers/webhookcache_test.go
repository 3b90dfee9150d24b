package controllers

import (
	"slices"
	"strings"
	"testing"
	"unsafe"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// TestWebhookCacheByName follows the name index of the observation cache through puts, a
// rename, a removal and a List that replaces everything.
func TestWebhookCacheByName(t *testing.T) {
	c := newWebhookCache(func(types.NamespacedName) {})
	ids := func(name string) string {
		var out []string
		for _, w := range c.byName(name) {
			out = append(out, w.ID)
		}
		slices.Sort(out)
		return strings.Join(out, ",")
	}
	check := func(step, name, want string) {
		t.Helper()
		if got := ids(name); got != want {
			t.Errorf("%s: byName(%q) = %q, want %q", step, name, got, want)
		}
	}
	c.put(tableau.Webhook{ID: "1", Name: "a"})
	c.put(tableau.Webhook{ID: "2", Name: "a"})
	c.put(tableau.Webhook{ID: "3", Name: "b"})
	check("puts", "a", "1,2")
	check("puts", "b", "3")

	c.put(tableau.Webhook{ID: "2", Name: "b"})
	check("rename", "a", "1")
	check("rename", "b", "2,3")

	c.remove("3")
	check("remove", "b", "2")
	c.remove("1")
	check("remove", "a", "")
	if _, ok := c.names["a"]; ok {
		t.Errorf("an empty name is still indexed: %v", c.names)
	}

	// A List that started after those writes replaces all of it.
	c.replace([]tableau.Webhook{{ID: "4", Name: "a"}, {ID: "5", Name: "c"}}, c.seq)
	check("replace", "a", "4")
	check("replace", "b", "")
	check("replace", "c", "5")
}

// TestWebhookCacheReplace follows what a List does to the observation cache: the first one
// fills it silently; later ones notify the owners of webhooks that changed or vanished,
// keep an unchanged entry as it was (its strings too), and lose to local writes made after
// the List started.
func TestWebhookCacheReplace(t *testing.T) {
	var notified []string
	c := newWebhookCache(func(o types.NamespacedName) { notified = append(notified, o.Name) })
	owner := func(id string) { c.setOwner(id, types.NamespacedName{Namespace: "ns", Name: "owner-" + id}) }
	for _, id := range []string{"same", "changed", "vanished", "put-late", "removed-late", "never-listed"} {
		owner(id)
	}
	url := strings.Repeat("u", 3) // not a constant: its bytes are this call's
	first := []tableau.Webhook{
		{ID: "same", Name: "same", URL: url},
		{ID: "changed", Name: "old-name"},
		{ID: "vanished", Name: "vanished"},
		{ID: "put-late", Name: "put-late"},
		{ID: "removed-late", Name: "removed-late"},
	}
	c.replace(first, c.seq)
	if len(notified) != 0 {
		t.Fatalf("the first List notified %v", notified)
	}

	start := c.seq
	c.put(tableau.Webhook{ID: "put-late", Name: "put-late", URL: "written"})
	c.remove("removed-late")
	c.replace([]tableau.Webhook{
		{ID: "same", Name: "same", URL: strings.Repeat("u", 3)},
		{ID: "changed", Name: "new-name"},
		{ID: "put-late", Name: "put-late", URL: "listed before the write"},
		{ID: "removed-late", Name: "removed-late"},
		{ID: "new", Name: "new"},
	}, start)

	slices.Sort(notified)
	// removed-late's owner went with its removal; never-listed has an owner and no webhook.
	if want := []string{"owner-changed", "owner-never-listed", "owner-vanished"}; !slices.Equal(notified, want) {
		t.Errorf("notified %v, want %v", notified, want)
	}
	if w, _ := c.get("same"); unsafe.StringData(w.URL) != unsafe.StringData(url) {
		t.Error("an unchanged webhook took the List's copy of its strings")
	}
	if w, _ := c.get("put-late"); w.URL != "written" {
		t.Errorf("put-late = %+v: the List undid a write made after it started", w)
	}
	if _, ok := c.get("removed-late"); ok {
		t.Error("the List brought back a webhook removed after it started")
	}
	if _, ok := c.get("vanished"); ok {
		t.Error("a webhook the List no longer has is still cached")
	}
	for name, want := range map[string]int{"old-name": 0, "new-name": 1, "vanished": 0, "new": 1, "same": 1, "removed-late": 0} {
		if got := len(c.byName(name)); got != want {
			t.Errorf("byName(%q) has %d webhooks, want %d", name, got, want)
		}
	}
	if len(c.items) != 4 {
		t.Errorf("cached %d webhooks, want 4 (same, changed, put-late, new): %v", len(c.items), c.items)
	}
}
