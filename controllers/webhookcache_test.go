package controllers

import (
	"slices"
	"strings"
	"testing"

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
