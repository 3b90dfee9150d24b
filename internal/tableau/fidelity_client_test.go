/*
Copyright 2026 The tableau-webhook-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package tableau

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// A real Tableau Cloud 429 says when to come back in its error text, without a Retry-After
// header (REFERENCE 10.2): the client reads it from there; a header, when there is one, wins.
func TestRateLimitHintFromErrorText(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header map[string]string
		detail string
		want   time.Duration
	}{
		{"Tableau Cloud's words", nil, "Too many requests for 'api.rest.refresh_extracts'. Please retry after 29 minutes.", 29 * time.Minute},
		{"seconds", nil, "Please retry after 30 seconds", 30 * time.Second},
		{"one minute", nil, "please RETRY AFTER 1 minute.", time.Minute},
		{"hours", nil, "Retry after 2 hours", 2 * time.Hour},
		{"abbreviated", nil, "retry after 90s", 90 * time.Second},
		{"absurd is capped", nil, "retry after 99999999 hours", maxRetryAfter},
		{"no hint", nil, "Too many requests", 0},
		{"the header wins", map[string]string{"Retry-After": "7"}, "Please retry after 29 minutes.", 7 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			body := tsOpen + fmt.Sprintf(`<error code="429000"><summary>Too Many Requests</summary><detail>%s</detail></error></tsResponse>`, esc(tc.detail))
			f.fault("ListWebhooks", canned{status: 429, header: tc.header, body: body})
			c := mustClient(t, f.config())
			_, err := c.ListWebhooks(context.Background())
			d, ok := IsRateLimited(err)
			if !ok {
				t.Fatalf("ListWebhooks: %v, want a rate limit", err)
			}
			if d != tc.want {
				t.Errorf("retry after %v, want %v", d, tc.want)
			}
		})
	}
	// Not a 429: words in another error's text are not a rate limit's hint.
	f := newFake(t)
	f.fault("ListWebhooks", canned{status: 503, body: tsOpen + `<error code="503000"><summary>Unavailable</summary><detail>retry after 5 minutes</detail></error></tsResponse>`})
	c := mustClient(t, f.config())
	_, err := c.ListWebhooks(context.Background())
	if e, ok := asError(err); !ok || e.RetryAfter != 0 {
		t.Errorf("a 503's text set RetryAfter: %v", err)
	}
}

// A List may hold webhooks made by hand or by other tools with any legacy form of the event,
// including ones the schema lists but the catalogue has no API name for, the shorter
// "webhook-event-" prefix, and names nobody knows yet: each is decoded, known ones to their API
// name, the others reported as unknown, and none of them breaks the List.
func TestListWithEveryEventForm(t *testing.T) {
	type want struct {
		event string
		known bool
	}
	forms := map[string]want{}
	var hooks []string
	add := func(attr, legacy string, w want) {
		id := fmt.Sprintf("00000000-0000-0000-0000-%012d", len(hooks))
		src := ""
		if legacy != "" {
			src = "<webhook-source><" + legacy + "/></webhook-source>"
		}
		ev := ""
		if attr != "" {
			ev = ` event="` + attr + `"`
		}
		hooks = append(hooks, fmt.Sprintf(`<webhook id="%s" name="hook %d" isEnabled="true"%s>%s<webhook-destination><webhook-destination-http method="POST" url="https://hooks.example.com/%d"/></webhook-destination><owner id="u" name="someone"/></webhook>`,
			id, len(hooks), ev, src, len(hooks)))
		forms[id] = w
	}
	for _, e := range Events {
		add("", e.Legacy, want{e.Name, true})
		// The other prefix of the same event, as TSC accepts both.
		add("", swapLegacyPrefix(e.Legacy), want{e.Name, true})
		add(e.Name, e.Legacy, want{e.Name, true})
	}
	add("", "webhook-source-event-label-deleted", want{"LabelDeleted", true})
	add("", "WEBHOOK-SOURCE-EVENT-WORKBOOK-CREATED", want{"WorkbookCreated", true})
	// In Tableau's schema, with no documented API event name.
	add("", "webhook-source-event-flow-completed", want{"", false})
	// Invented: a newer Tableau's event, in either form.
	add("", "webhook-source-event-cube-exploded", want{"", false})
	add("CubeExploded", "", want{"CubeExploded", false})

	f := newFake(t)
	f.fault("ListWebhooks", canned{status: 200, body: tsOpen + "<webhooks>" + strings.Join(hooks, "") + "</webhooks></tsResponse>"})
	c := mustClient(t, f.config())
	got, err := c.ListWebhooks(context.Background())
	if err != nil {
		t.Fatalf("ListWebhooks: %v", err)
	}
	if len(got) != len(forms) {
		t.Fatalf("ListWebhooks returned %d webhooks, want %d", len(got), len(forms))
	}
	for _, w := range got {
		wt, ok := forms[w.ID]
		if !ok {
			t.Errorf("unexpected webhook %+v", w)
			continue
		}
		if w.Event != wt.event || w.KnownEvent() != wt.known {
			t.Errorf("webhook %s (legacy %q): event %q known %t, want %q known %t", w.Name, w.LegacyEvent, w.Event, w.KnownEvent(), wt.event, wt.known)
		}
		if w.URL == "" || w.OwnerName != "someone" {
			t.Errorf("webhook %s lost its other fields: %+v", w.Name, w)
		}
	}
}
