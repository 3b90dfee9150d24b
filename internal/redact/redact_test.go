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

package redact

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"html"
	"net/url"
	"strings"
	"testing"
)

const (
	slackURL     = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"
	slackDisplay = "secretKeyRef:slack/url"
	// trickyURL has every character the escapes treat specially.
	trickyURL = `https://hooks.example.com/hook/abc?token=s3cr3t&sig=x'y"z<w>`
	// patSecret is not a URL, and has HTML-special characters and a slash.
	patSecret = `p&ss<w>rd"/'0123456789`
)

// The echoed forms are built here with the standard library, independently of forms.go, so
// that a form the package forgets makes a test fail.

func jsonHTML(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b[1 : len(b)-1])
}

func jsonNoHTML(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err)
	}
	out := strings.TrimSpace(b.String())
	return out[1 : len(out)-1]
}

func jsonSlash(s string) string { return strings.ReplaceAll(jsonHTML(s), "/", `\/`) }

func xmlText(s string) string {
	var b bytes.Buffer
	if err := xml.EscapeText(&b, []byte(s)); err != nil {
		panic(err)
	}
	return b.String()
}

// lowerHex percent-encodes like url.QueryEscape but with lower-case hex, as other stacks do.
func lowerHex(escaped string) string {
	var b strings.Builder
	for i := 0; i < len(escaped); i++ {
		if escaped[i] == '%' && i+2 < len(escaped) {
			b.WriteByte('%')
			b.WriteString(strings.ToLower(escaped[i+1 : i+3]))
			i += 2
			continue
		}
		b.WriteByte(escaped[i])
	}
	return b.String()
}

func withoutScheme(u string) string { _, rest, _ := strings.Cut(u, "://"); return rest }

func pathQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	return u.RequestURI()
}

func TestRedactForms(t *testing.T) {
	for _, tc := range []struct {
		name, secret string
		echo         func(string) string
	}{
		{"raw URL", slackURL, func(s string) string { return s }},
		{"raw tricky URL", trickyURL, func(s string) string { return s }},
		{"raw PAT secret", patSecret, func(s string) string { return s }},
		{"JSON with HTML escaping", trickyURL, jsonHTML},
		{"JSON with HTML escaping, PAT", patSecret, jsonHTML},
		{"JSON without HTML escaping", trickyURL, jsonNoHTML},
		{"JSON with escaped slashes", slackURL, jsonSlash},
		{"JSON with escaped slashes, tricky", trickyURL, jsonSlash},
		{"JSON without HTML escaping, escaped slashes", trickyURL, func(s string) string { return strings.ReplaceAll(jsonNoHTML(s), "/", `\/`) }},
		{"JSON with upper-case unicode escapes", patSecret, func(s string) string {
			return strings.NewReplacer(`\u003c`, `\u003C`, `\u003e`, `\u003E`).Replace(jsonHTML(s))
		}},
		{"query-escaped", slackURL, url.QueryEscape},
		{"query-escaped, lower-case hex", slackURL, func(s string) string { return lowerHex(url.QueryEscape(s)) }},
		{"query-escaped tricky", trickyURL, url.QueryEscape},
		{"path-escaped", slackURL, url.PathEscape},
		{"path-escaped, lower-case hex", trickyURL, func(s string) string { return lowerHex(url.PathEscape(s)) }},
		{"path-escaped PAT", patSecret, url.PathEscape},
		{"encoding/xml", trickyURL, xmlText},
		{"encoding/xml PAT", patSecret, xmlText},
		{"html.EscapeString", trickyURL, html.EscapeString},
		{"named entities", trickyURL, strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace},
		{"text-only XML escaping", trickyURL, strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace},
		{"without scheme", slackURL, withoutScheme},
		{"without scheme, JSON", slackURL, func(s string) string { return jsonSlash(withoutScheme(s)) }},
		{"without scheme, query-escaped", slackURL, func(s string) string { return url.QueryEscape(withoutScheme(s)) }},
		{"without scheme, XML", trickyURL, func(s string) string { return xmlText(withoutScheme(s)) }},
		{"path only", slackURL, pathQuery},
		{"path and query", trickyURL, func(s string) string { return "/hook/abc?token=s3cr3t&sig=x'y\"z<w>" }},
		{"path and query, XML", trickyURL, func(s string) string { return xmlText("/hook/abc?token=s3cr3t&sig=x'y\"z<w>") }},
		{"path, path-escaped", slackURL, func(s string) string { return url.PathEscape(pathQuery(s)) }},
		{"path, lower-case query-escaped", slackURL, func(s string) string { return lowerHex(url.QueryEscape(pathQuery(s))) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := tc.echo(tc.secret)
			r := New(Pair{Secret: tc.secret, Display: slackDisplay})
			got := r.Redact("error: " + form + " (400)")
			if want := "error: " + slackDisplay + " (400)"; got != want {
				t.Errorf("Redact(%q)\n = %q\nwant %q", form, got, want)
			}
		})
	}
}

func TestRedactLongestFormFirst(t *testing.T) {
	r := New(Pair{Secret: slackURL, Display: slackDisplay})
	// The path and the scheme-less form are inside the full URL; matching them first would
	// leave "https://hooks.slack.com" next to the display text.
	got := r.Redact("posting to " + slackURL + " failed")
	if want := "posting to " + slackDisplay + " failed"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRedactOverlappingSecrets(t *testing.T) {
	r := New(Pair{Secret: "abcdef123456", Display: "<a>"}, Pair{Secret: "123456ghijkl", Display: "<b>"})
	got := r.Redact("x abcdef123456ghijkl y")
	if got != "x <a> y" {
		t.Errorf("got %q: overlapping secrets must be replaced as one span", got)
	}
	for _, part := range []string{"abc", "123", "ghi"} {
		if strings.Contains(got, part) {
			t.Errorf("%q survives in %q", part, got)
		}
	}
}

func TestRedactSelfOverlappingSecret(t *testing.T) {
	got := New(Pair{Secret: "abab", Display: "<s>"}).Redact("ababab")
	if got != "<s>" {
		t.Errorf("got %q, want every occurrence, overlapping ones too, covered", got)
	}
}

func TestRedactShortPathIsNotASecret(t *testing.T) {
	// "/ab" is a path any URL may have; redacting it alone would blank out unrelated text.
	r := New(Pair{Secret: "https://h.example.com/ab", Display: "<url>"})
	if got := r.Redact("GET /ab"); got != "GET /ab" {
		t.Errorf("got %q", got)
	}
	if got := r.Redact("to h.example.com/ab"); got != "to <url>" {
		t.Errorf("scheme-less form: got %q", got)
	}
}

func TestRedactDisplayCannotRecreateSecret(t *testing.T) {
	// "<redacted>" ends in "d>", so replacing "d>x" in "d>xx" makes "<redacted>x", which holds
	// the secret again.
	r := New(Pair{Secret: "d>x", Display: "<redacted>"})
	for _, in := range []string{"d>xx", "d>xd>xx", "aad>xxxx"} {
		if got := r.Redact(in); strings.Contains(got, "d>x") {
			t.Errorf("Redact(%q) = %q", in, got)
		}
	}
	// A display that contains its secret can only be honoured by giving up.
	if got := New(Pair{Secret: "red", Display: "<redacted>"}).Redact("a red car"); strings.Contains(got, "red") {
		t.Errorf("got %q", got)
	}
}

func TestRedactNothing(t *testing.T) {
	const s = "nothing " + slackURL
	var zero Redactor
	var nilR *Redactor
	for name, r := range map[string]*Redactor{"zero": &zero, "nil": nilR, "empty secret": New(Pair{Secret: "", Display: "x"})} {
		if got := r.Redact(s); got != s {
			t.Errorf("%s: Redact changed %q to %q", name, s, got)
		}
	}
}

func TestWithKeepsReceiver(t *testing.T) {
	a := New(Pair{Secret: "secret-a-0123", Display: "<a>"})
	ab := a.With(Pair{Secret: "secret-b-0123", Display: "<b>"})
	if got := a.Redact("secret-a-0123 secret-b-0123"); got != "<a> secret-b-0123" {
		t.Errorf("original after With: %q", got)
	}
	if got := ab.Redact("secret-a-0123 secret-b-0123"); got != "<a> <b>" {
		t.Errorf("With: %q", got)
	}
	var nilR *Redactor
	if got := nilR.With(Pair{Secret: "secret-b-0123", Display: "<b>"}).Redact("secret-b-0123"); got != "<b>" {
		t.Errorf("nil.With: %q", got)
	}
}

func TestContextMerges(t *testing.T) {
	bg := context.Background()
	if FromContext(bg) != nil {
		t.Fatal("FromContext of an empty context is not nil")
	}
	if NewContext(bg, nil) != bg {
		t.Error("NewContext with nothing to add made a new context")
	}
	outer := NewContext(bg, New(Pair{Secret: "outer-secret-1", Display: "<outer>"}))
	inner := NewContext(outer, New(Pair{Secret: "inner-secret-2", Display: "<inner>"}))
	const s = "outer-secret-1 inner-secret-2"
	if got := FromContext(inner).Redact(s); got != "<outer> <inner>" {
		t.Errorf("inner context: %q", got)
	}
	if got := FromContext(outer).Redact(s); got != "<outer> inner-secret-2" {
		t.Errorf("outer context changed by NewContext on a child: %q", got)
	}
}

// FuzzRedact checks that, whatever the secret, the display text and the text around it,
// Redact's output holds neither the secret nor any of its escaped forms, and that text
// without any form comes back unchanged.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{slackURL, trickyURL, patSecret, "d>x", "a", "%", `\`, "&amp;", "https://x.example/" + "\u2028<>"} {
		f.Add(s, "<redacted>", "before ", " after")
		f.Add(s, slackDisplay, `{"detail":"`, `"}`)
	}
	f.Add("abab", "ba", "ab", "ab")
	f.Fuzz(func(t *testing.T, secret, display, prefix, suffix string) {
		if secret == "" {
			return
		}
		r := New(Pair{Secret: secret, Display: display})
		bases := []string{secret}
		if u, err := url.Parse(secret); err == nil && u.Scheme != "" && u.Host != "" {
			if rest := withoutScheme(secret); len(rest) >= minURLPartLen {
				bases = append(bases, rest)
			}
		}
		var echoed []string
		for _, b := range bases {
			echoed = append(echoed, b, jsonHTML(b), jsonNoHTML(b), jsonSlash(b), url.QueryEscape(b), lowerHex(url.QueryEscape(b)),
				url.PathEscape(b), lowerHex(url.PathEscape(b)), xmlText(b), html.EscapeString(b))
		}
		for _, form := range echoed {
			in := prefix + form + suffix
			out := r.Redact(in)
			for _, leak := range echoed {
				if strings.Contains(out, leak) {
					t.Fatalf("Redact(%q) = %q still contains %q", in, out, leak)
				}
			}
		}
		if in := prefix + suffix; !r.containsNeedle(in) {
			if out := r.Redact(in); out != in {
				t.Fatalf("Redact(%q) = %q, but the text holds no secret", in, out)
			}
		}
	})
}
