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
	"encoding/json"
	"encoding/xml"
	"html"
	"net/url"
	"strings"
)

// minURLPartLen is the shortest part of a URL (after its scheme, or its path+query) that is
// redacted on its own. The secret of a Slack or Teams webhook URL is its path, which a
// destination may echo without the host ("no_service for /services/T000/B000/XXXX"); a
// shorter part ("/", "/hook", "a.io") is too common to be a secret and would blank out
// unrelated text.
const minURLPartLen = 8

// forms returns secret and every encoding of it that a server or a destination may echo:
// for a URL, also the URL without its scheme and its path+query alone.
func forms(secret string) []string {
	var out []string
	for _, base := range urlParts(secret) {
		out = append(out, encodings(base)...)
	}
	return out
}

// urlParts returns s and, when s is an absolute URL, the parts of it that identify it as
// well: everything after "scheme://", and the path with query (and with fragment, when
// there is one), each if at least minURLPartLen long. The parts are cut from s itself
// rather than re-serialised by net/url, which would normalise escapes and so miss the bytes
// the server echoes.
func urlParts(s string) []string {
	parts := []string{s}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return parts
	}
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return parts
	}
	candidates := []string{rest}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		tail := rest[i:] // path?query#fragment as written
		pathQuery, _, _ := strings.Cut(tail, "#")
		candidates = append(candidates, pathQuery, tail)
	}
	for _, p := range candidates {
		if len(p) >= minURLPartLen {
			parts = append(parts, p)
		}
	}
	return parts
}

// encodings returns s raw, JSON-string-escaped, percent-encoded and XML/HTML-escaped, each
// in the variants common encoders write. Duplicates are fine: New keeps each form once.
func encodings(s string) []string {
	out := []string{s}

	// JSON: encoding/json escapes &, <, > (and U+2028/9) as \u00XX unless told not to;
	// many other encoders escape "/" as "\/"; some (.NET) write the hex digits in upper case.
	for _, escapeHTML := range []bool{true, false} {
		j := jsonString(s, escapeHTML)
		out = append(out, j, strings.ReplaceAll(j, "/", `\/`))
	}
	out = append(out, upperUnicodeEscapes(jsonString(s, true)))

	// Percent-encoding: Go writes upper-case hex, other stacks lower-case.
	for _, p := range []string{url.QueryEscape(s), url.PathEscape(s)} {
		out = append(out, p, lowerPercentHex(p))
	}

	// XML/HTML: encoding/xml (&#34; &#39; &#xA; ...), html.EscapeString (&#34; &#39;),
	// named entities (&quot; &apos;), and text-only escaping of &, <, > that most XML
	// writers use in element content.
	var x bytes.Buffer
	_ = xml.EscapeText(&x, []byte(s)) // writing to a bytes.Buffer cannot fail
	out = append(out,
		x.String(),
		html.EscapeString(s),
		strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s),
		strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s),
	)
	return out
}

// jsonString is s as encoding/json writes it inside a JSON string, without the quotes.
func jsonString(s string, escapeHTML bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(s) // a string always encodes
	out := strings.TrimSuffix(b.String(), "\n")
	return strings.TrimSuffix(strings.TrimPrefix(out, `"`), `"`)
}

// upperUnicodeEscapes rewrites the hex digits of every \uXXXX escape in upper case.
func upperUnicodeEscapes(s string) string {
	b := []byte(s)
	for i := 0; i+1 < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if b[i+1] == 'u' && i+6 <= len(b) {
			copy(b[i+2:i+6], bytes.ToUpper(b[i+2:i+6]))
			i += 5
		} else {
			i++ // skip the escaped character, which may itself be a backslash
		}
	}
	return string(b)
}

// lowerPercentHex rewrites the hex digits of every %XX escape in lower case.
func lowerPercentHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			copy(b[i+1:i+3], bytes.ToLower(b[i+1:i+3]))
			i += 2
		}
	}
	return string(b)
}
