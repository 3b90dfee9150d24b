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

// The XML wire format. Decoding is tolerant by construction: struct tags carry local names
// only, so encoding/xml matches them in any namespace (Tableau answers in
// xmlns="http://tableau.com/api", its fixtures sometimes without); unknown attributes and
// elements are skipped; every field is optional and validated by the caller that needs it.

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tsResponse is every response body the client reads; the root element's name is not
// checked, so a bare <webhook> or <error> root decodes as well as <tsResponse>.
type tsResponse struct {
	XMLName     xml.Name
	Error       *xmlError       `xml:"error"`
	Credentials *xmlCredentials `xml:"credentials"`
	ServerInfo  *xmlServerInfo  `xml:"serverInfo"`
	Pagination  *xmlPagination  `xml:"pagination"`
	Webhook     *xmlWebhook     `xml:"webhook"`
	Webhooks    *xmlWebhooks    `xml:"webhooks"`
	TestResult  *xmlTestResult  `xml:"webhookTestResult"`
}

type xmlError struct {
	Code    string `xml:"code,attr"`
	Summary string `xml:"summary"`
	Detail  string `xml:"detail"`
}

type xmlCredentials struct {
	Token string `xml:"token,attr"`
	Site  struct {
		ID         string `xml:"id,attr"`
		ContentURL string `xml:"contentUrl,attr"`
	} `xml:"site"`
	User struct {
		ID string `xml:"id,attr"`
	} `xml:"user"`
}

type xmlServerInfo struct {
	ProductVersion struct {
		Build string `xml:"build,attr"`
		Value string `xml:",chardata"`
	} `xml:"productVersion"`
	RESTAPIVersion string `xml:"restApiVersion"`
}

type xmlPagination struct {
	PageNumber     string `xml:"pageNumber,attr"`
	PageSize       string `xml:"pageSize,attr"`
	TotalAvailable string `xml:"totalAvailable,attr"`
}

type xmlWebhooks struct {
	Webhook []xmlWebhook `xml:"webhook"`
}

// xmlWebhook holds a webhook in either event form: the event attribute (3.9+) and the legacy
// <webhook-source> element whose only child is named after the event. Servers send both.
type xmlWebhook struct {
	ID                 string  `xml:"id,attr"`
	Name               string  `xml:"name,attr"`
	IsEnabled          *string `xml:"isEnabled,attr"`
	StatusChangeReason string  `xml:"statusChangeReason,attr"`
	Event              string  `xml:"event,attr"`
	CreatedAt          string  `xml:"createdAt,attr"`
	UpdatedAt          string  `xml:"updatedAt,attr"`
	Source             struct {
		Events []struct {
			XMLName xml.Name
		} `xml:",any"`
	} `xml:"webhook-source"`
	Destination struct {
		HTTP struct {
			Method string `xml:"method,attr"`
			URL    string `xml:"url,attr"`
		} `xml:"webhook-destination-http"`
	} `xml:"webhook-destination"`
	Owner struct {
		ID   string `xml:"id,attr"`
		Name string `xml:"name,attr"`
	} `xml:"owner"`
}

type xmlTestResult struct {
	ID     string `xml:"id,attr"`
	Status string `xml:"status,attr"`
	Body   string `xml:"body"`
}

// newXMLDecoder reads Tableau's UTF-8 XML; a declared charset other than UTF-8 is accepted
// for ASCII-compatible encodings rather than failing the whole response on the prolog.
func newXMLDecoder(body []byte) *xml.Decoder {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.CharsetReader = func(charset string, input io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return input, nil
		case "iso-8859-1", "latin1", "latin-1":
			return latin1Reader(input), nil
		}
		return nil, fmt.Errorf("unsupported charset %q", charset)
	}
	return d
}

func latin1Reader(r io.Reader) io.Reader {
	b, err := io.ReadAll(r)
	if err != nil {
		return errReader{err}
	}
	out := make([]byte, 0, len(b))
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return bytes.NewReader(out)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// decodeResponse parses a tsResponse body.
func decodeResponse(body []byte) (*tsResponse, error) {
	var r tsResponse
	if err := newXMLDecoder(body).Decode(&r); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	return &r, nil
}

// toWebhook converts the wire form. The API event name comes from the event attribute when
// present, else from the legacy <webhook-source> child through the catalogue; a legacy name
// the catalogue does not know leaves Event empty and is kept in LegacyEvent.
func (x *xmlWebhook) toWebhook() Webhook {
	w := Webhook{
		ID:                 strings.TrimSpace(x.ID),
		Name:               x.Name,
		Event:              strings.TrimSpace(x.Event),
		URL:                strings.TrimSpace(x.Destination.HTTP.URL),
		Enabled:            parseEnabled(x.IsEnabled),
		StatusChangeReason: x.StatusChangeReason,
		OwnerID:            x.Owner.ID,
		OwnerName:          x.Owner.Name,
		CreatedAt:          x.CreatedAt,
		UpdatedAt:          x.UpdatedAt,
	}
	if len(x.Source.Events) > 0 {
		w.LegacyEvent = x.Source.Events[0].XMLName.Local
	}
	if w.Event == "" && w.LegacyEvent != "" {
		if e, ok := LookupLegacyEvent(w.LegacyEvent); ok {
			w.Event = e.Name
		}
	}
	return w
}

// parseEnabled treats a missing isEnabled as enabled: it is Tableau's default, and servers
// before 3.8 (and Tableau's own fixtures) omit it.
func parseEnabled(v *string) bool {
	if v == nil {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(*v)) {
	case "false", "0", "no":
		return false
	}
	return true
}

// parseLeadingInt reads the digits at the start of s ("404", " 404 Not Found"); Tableau
// documents the test status as an int but JSON clients have seen it as a string.
func parseLeadingInt(s string) int {
	s = strings.TrimSpace(s)
	end := 0
	for end < len(s) && end < 9 && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, _ := strconv.Atoi(s[:end])
	return n
}

func parseCount(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// decodeWebhook reads a Create/Get/Update response.
func decodeWebhook(body []byte) (Webhook, error) {
	r, err := decodeResponse(body)
	if err != nil {
		return Webhook{}, err
	}
	if r.Webhook == nil {
		return Webhook{}, errors.New("decode response: no <webhook> element")
	}
	return r.Webhook.toWebhook(), nil
}

// webhookPage is one List response.
type webhookPage struct {
	Webhooks []Webhook
	// Paginated is set when the server sent <pagination>; then the other fields are read.
	Paginated                            bool
	PageNumber, PageSize, TotalAvailable int
}

// decodeWebhookList reads a List response. A body with neither <webhooks> nor <pagination>
// is an error (not an empty list), so that a proxy's stray 200 page cannot make every
// webhook look deleted. It reads the root's children one at a time and decodes each
// <webhook> as it comes: a site's list is the largest body the operator reads (10,000
// webhooks are ~5 MB), and decoding it whole held every webhook twice, once in wire form.
// What it reads is what decoding into tsResponse would: the root's <webhooks> and
// <pagination> children, whatever the root is called, and nothing after the root ends.
func decodeWebhookList(body []byte) (webhookPage, error) {
	d := newXMLDecoder(body)
	var p webhookPage
	found := false
	// depth is the number of open elements: the root's children are at 2, the webhooks of
	// a <webhooks> child at 3.
	depth, inList := 0, false
read:
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return webhookPage{}, fmt.Errorf("decode response: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 2 && t.Name.Local == "webhooks":
				found, inList = true, true
				continue
			case depth == 2 && t.Name.Local == "pagination":
				var x xmlPagination
				if err := d.DecodeElement(&x, &t); err != nil {
					return webhookPage{}, fmt.Errorf("decode response: %w", err)
				}
				found, p.Paginated = true, true
				p.PageNumber, p.PageSize, p.TotalAvailable = parseCount(x.PageNumber), parseCount(x.PageSize), parseCount(x.TotalAvailable)
			case depth == 3 && inList && t.Name.Local == "webhook":
				var x xmlWebhook
				if err := d.DecodeElement(&x, &t); err != nil {
					return webhookPage{}, fmt.Errorf("decode response: %w", err)
				}
				p.Webhooks = append(p.Webhooks, x.toWebhook())
			case depth == 1:
				continue
			default:
				if err := d.Skip(); err != nil {
					return webhookPage{}, fmt.Errorf("decode response: %w", err)
				}
			}
			depth-- // DecodeElement and Skip consumed the element's end
		case xml.EndElement:
			depth--
			inList = inList && depth >= 2
			if depth == 0 {
				break read // the root ended
			}
		}
	}
	if !found {
		return webhookPage{}, errors.New("decode response: no <webhooks> element")
	}
	return p, nil
}

// decodeTestResult reads a Test Webhook response.
func decodeTestResult(body []byte) (TestResult, error) {
	r, err := decodeResponse(body)
	if err != nil {
		return TestResult{}, err
	}
	if r.TestResult == nil {
		return TestResult{}, errors.New("decode response: no <webhookTestResult> element")
	}
	return TestResult{
		WebhookID: strings.TrimSpace(r.TestResult.ID),
		Status:    parseLeadingInt(r.TestResult.Status),
		Body:      r.TestResult.Body,
	}, nil
}

// decodeServerInfo reads a serverinfo response.
func decodeServerInfo(body []byte) (ServerInfo, error) {
	r, err := decodeResponse(body)
	if err != nil {
		return ServerInfo{}, err
	}
	if r.ServerInfo == nil {
		return ServerInfo{}, errors.New("decode response: no <serverInfo> element")
	}
	return ServerInfo{
		ProductVersion: strings.TrimSpace(r.ServerInfo.ProductVersion.Value),
		Build:          strings.TrimSpace(r.ServerInfo.ProductVersion.Build),
		RESTAPIVersion: strings.TrimSpace(r.ServerInfo.RESTAPIVersion),
	}, nil
}

// signInResult is a decoded sign-in response; the token stays inside the package.
type signInResult struct {
	token   secret
	session Session
}

// decodeSignIn reads a sign-in response; the token and site LUID are required because every
// later call needs them.
func decodeSignIn(body []byte) (signInResult, error) {
	r, err := decodeResponse(body)
	if err != nil {
		return signInResult{}, err
	}
	if r.Credentials == nil {
		return signInResult{}, errors.New("decode response: no <credentials> element")
	}
	c := r.Credentials
	res := signInResult{
		token: secret(strings.TrimSpace(c.Token)),
		session: Session{
			SiteID:         strings.TrimSpace(c.Site.ID),
			SiteContentURL: c.Site.ContentURL,
			UserID:         strings.TrimSpace(c.User.ID),
		},
	}
	if res.token == "" || res.session.SiteID == "" {
		return signInResult{}, errors.New("decode response: sign-in response lacks the token or the site id")
	}
	return res, nil
}

// apiError is the <error> block of a failed call.
type apiError struct {
	Code, Summary, Detail string
}

// decodeError finds Tableau's error block in an XML body (<tsResponse><error>, or a bare
// <error> root) or in a JSON body ({"error": {...}}, as a proxy or a JSON-speaking server
// may send). ok is false for anything else, e.g. the HTML page Tableau Cloud sends with 429.
func decodeError(body []byte) (apiError, bool) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return apiError{}, false
	}
	if trimmed[0] == '{' {
		return decodeJSONError(trimmed)
	}
	d := newXMLDecoder(trimmed)
	for {
		tok, err := d.Token()
		if err != nil {
			return apiError{}, false
		}
		if se, isStart := tok.(xml.StartElement); isStart && se.Name.Local == "error" {
			var x xmlError
			if err := d.DecodeElement(&x, &se); err != nil {
				return apiError{}, false
			}
			return apiError{
				Code:    strings.TrimSpace(x.Code),
				Summary: strings.TrimSpace(x.Summary),
				Detail:  strings.TrimSpace(x.Detail),
			}, true
		}
	}
}

func decodeJSONError(body []byte) (apiError, bool) {
	var v struct {
		Error *struct {
			Code    json.RawMessage `json:"code"`
			Summary string          `json:"summary"`
			Detail  string          `json:"detail"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Error == nil {
		return apiError{}, false
	}
	// Tableau sends the code as a string ("404003"); accept a number too.
	code := strings.TrimSpace(string(v.Error.Code))
	var s string
	if json.Unmarshal(v.Error.Code, &s) == nil {
		code = strings.TrimSpace(s)
	} else if _, err := strconv.ParseUint(code, 10, 64); err != nil {
		code = ""
	}
	return apiError{Code: code, Summary: strings.TrimSpace(v.Error.Summary), Detail: strings.TrimSpace(v.Error.Detail)}, true
}

// Requests. encoding/xml escapes every value, so names and URLs cannot break the document.

type tsRequestSignIn struct {
	XMLName     xml.Name `xml:"tsRequest"`
	Credentials struct {
		PATName   string `xml:"personalAccessTokenName,attr,omitempty"`
		PATSecret string `xml:"personalAccessTokenSecret,attr,omitempty"`
		Name      string `xml:"name,attr,omitempty"`
		Password  string `xml:"password,attr,omitempty"`
		Site      struct {
			// Not omitempty: contentUrl="" names the Default site.
			ContentURL string `xml:"contentUrl,attr"`
		} `xml:"site"`
	} `xml:"credentials"`
}

func encodeSignIn(c Credentials, site string) ([]byte, error) {
	var r tsRequestSignIn
	r.Credentials.PATName = c.PATName
	r.Credentials.PATSecret = c.PATSecret
	r.Credentials.Name = c.Username
	r.Credentials.Password = c.Password
	r.Credentials.Site.ContentURL = site
	return xml.Marshal(r)
}

// tsRequestWebhook uses the event attribute form (API 3.9+), always states isEnabled, and
// never sends statusChangeReason: Tableau rejects a reason with isEnabled=true (400127) and
// fills in "Webhook disabled by user" when disabling without one.
type tsRequestWebhook struct {
	XMLName xml.Name `xml:"tsRequest"`
	Webhook struct {
		Name        string `xml:"name,attr"`
		IsEnabled   string `xml:"isEnabled,attr"`
		Event       string `xml:"event,attr"`
		Destination struct {
			HTTP struct {
				Method string `xml:"method,attr"`
				URL    string `xml:"url,attr"`
			} `xml:"webhook-destination-http"`
		} `xml:"webhook-destination"`
	} `xml:"webhook"`
}

func encodeWebhook(spec WebhookSpec) ([]byte, error) {
	var r tsRequestWebhook
	r.Webhook.Name = spec.Name
	r.Webhook.IsEnabled = strconv.FormatBool(spec.Enabled)
	r.Webhook.Event = spec.Event
	r.Webhook.Destination.HTTP.Method = "POST"
	r.Webhook.Destination.HTTP.URL = spec.URL
	return xml.Marshal(r)
}
