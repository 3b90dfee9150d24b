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

// Package redact removes secret values (Secret-sourced webhook URLs, personal access token
// secrets, passwords, session tokens) from text before it reaches a log line, an Event, a
// condition or status. It is the one place that knows in which forms a server or a webhook
// destination may echo a value back: raw, JSON-escaped, percent-encoded, XML/HTML-escaped,
// and, for URLs, without their scheme or as their path and query alone.
package redact

import (
	"context"
	"sort"
	"strings"
)

// Pair is one secret value and the text shown in its place.
type Pair struct {
	// Secret is the value to remove. An empty Secret is ignored: it would match everywhere.
	Secret string
	// Display replaces every form of Secret, e.g. "<redacted>" or "secretKeyRef:name/key".
	// It should not itself contain a secret; if it does, Redact still never returns one
	// (see Redact).
	Display string
}

// Redactor replaces secret values, in every form in which they may be echoed, with a display
// text. The zero value and a nil *Redactor redact nothing. A Redactor is immutable and safe
// for concurrent use; With returns a new one.
type Redactor struct {
	// pairs are the non-empty pairs as given, so that With and NewContext can merge.
	pairs []Pair
	// needles are the forms of every secret, longest first, each at most once.
	needles []needle
	// fallback is returned in the pathological case that replacing cannot get rid of every
	// needle (display texts that recreate a secret); it contains no needle.
	fallback string
}

// needle is one form of one secret and the display text of the pair it came from.
type needle struct {
	text, display string
}

const (
	// maxPasses bounds the replace-and-rescan loop. One pass suffices unless display texts
	// combine with their surroundings into a secret again; more passes than that would only
	// mean displays and secrets feed each other.
	maxPasses = 4
	// defaultFallback is what Redact returns when maxPasses did not suffice, unless it
	// contains a secret itself (then Redact returns "").
	defaultFallback = "<redacted>"
)

// New returns a Redactor for pairs. Pairs with an empty Secret are ignored; when two pairs
// share a form, the earlier pair's Display is used.
func New(pairs ...Pair) *Redactor {
	r := &Redactor{}
	seen := map[string]bool{}
	for _, p := range pairs {
		if p.Secret == "" {
			continue
		}
		r.pairs = append(r.pairs, p)
		for _, f := range forms(p.Secret) {
			if !seen[f] {
				seen[f] = true
				r.needles = append(r.needles, needle{text: f, display: p.Display})
			}
		}
	}
	// Longest first, so that where forms overlap the display of the longest one is used;
	// stable, so that equal lengths keep the order of the pairs.
	sort.SliceStable(r.needles, func(i, j int) bool { return len(r.needles[i].text) > len(r.needles[j].text) })
	if !r.containsNeedle(defaultFallback) {
		r.fallback = defaultFallback
	}
	return r
}

// With returns a new Redactor that redacts r's pairs and pairs. r is not changed; a nil r
// is treated as empty.
func (r *Redactor) With(pairs ...Pair) *Redactor {
	if r == nil {
		return New(pairs...)
	}
	all := make([]Pair, 0, len(r.pairs)+len(pairs))
	all = append(all, r.pairs...)
	all = append(all, pairs...)
	return New(all...)
}

// Redact returns s with every form of every secret replaced by its pair's display text.
//
// Call it on the complete text, before truncating or splitting it: a secret cut in two no
// longer matches, and the part kept would survive. Wherever forms overlap or touch (a raw
// URL next to its escaped copy, one secret containing another), the whole covered span is
// replaced once, with the display of the longest form, so that no byte of any form is left
// visible. Text is scanned again after replacing, because a display text can combine with
// what surrounds it into a secret again; if that does not settle after a few passes, a
// fixed "<redacted>" (or "" if even that contains a secret) is returned instead of s. The
// result therefore never contains any form of any secret.
func (r *Redactor) Redact(s string) string {
	if r == nil || len(r.needles) == 0 || s == "" {
		return s
	}
	for range maxPasses {
		spans := r.find(s)
		if len(spans) == 0 {
			return s
		}
		s = replace(s, spans)
	}
	if r.containsNeedle(s) {
		return r.fallback
	}
	return s
}

// span is one occurrence of a needle in the text: [start, end).
type span struct {
	start, end int
	display    string
}

// find lists every occurrence of every needle, overlapping ones included, sorted by start
// and, at the same start, longest first.
func (r *Redactor) find(s string) []span {
	var spans []span
	for _, n := range r.needles {
		for from := 0; from < len(s); {
			i := strings.Index(s[from:], n.text)
			if i < 0 {
				break
			}
			start := from + i
			spans = append(spans, span{start: start, end: start + len(n.text), display: n.display})
			// Overlapping occurrences ("abab" twice in "ababab") must all be covered.
			from = start + 1
		}
	}
	sort.SliceStable(spans, func(i, j int) bool {
		if spans[i].start != spans[j].start {
			return spans[i].start < spans[j].start
		}
		return spans[i].end-spans[i].start > spans[j].end-spans[j].start
	})
	return spans
}

// replace substitutes each group of overlapping or adjacent spans with the display of its
// longest span. Adjacent spans are merged too, so that two display texts never touch and
// form a secret between them.
func replace(s string, spans []span) string {
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for i := 0; i < len(spans); {
		start, end := spans[i].start, spans[i].end
		display, longest := spans[i].display, spans[i].end-spans[i].start
		j := i + 1
		for ; j < len(spans) && spans[j].start <= end; j++ {
			if l := spans[j].end - spans[j].start; l > longest {
				display, longest = spans[j].display, l
			}
			end = max(end, spans[j].end)
		}
		b.WriteString(s[last:start])
		b.WriteString(display)
		last, i = end, j
	}
	b.WriteString(s[last:])
	return b.String()
}

// containsNeedle reports whether s contains any form of any secret.
func (r *Redactor) containsNeedle(s string) bool {
	for _, n := range r.needles {
		if strings.Contains(s, n.text) {
			return true
		}
	}
	return false
}

// contextKey is unexported so that only this package can set or read the redactor.
type contextKey struct{}

// NewContext returns a context carrying r merged with any Redactor already in ctx, so that
// code deep in a call (the Tableau client building an error from a response) redacts what
// its callers know to be secret. A nil or empty r returns ctx unchanged.
func NewContext(ctx context.Context, r *Redactor) context.Context {
	if r == nil || len(r.pairs) == 0 {
		return ctx
	}
	if prev := FromContext(ctx); prev != nil {
		r = prev.With(r.pairs...)
	}
	return context.WithValue(ctx, contextKey{}, r)
}

// FromContext returns the Redactor in ctx, or nil (which redacts nothing) if there is none.
func FromContext(ctx context.Context) *Redactor {
	r, _ := ctx.Value(contextKey{}).(*Redactor)
	return r
}
