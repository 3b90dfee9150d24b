package tableautest

// The simulator's own encoding and decoding of Tableau's XML and JSON bodies. It deliberately
// shares nothing with the client in package tableau: the simulator is the independent
// reference the client is tested against, so a misreading of REFERENCE.md in one of them
// shows up as a failing test instead of being baked into both.

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"mime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// format is a wire format of the REST API.
type format int

const (
	formatXML format = iota
	formatJSON
)

// mediaType returns the lowercase media type of a Content-Type or Accept item, without parameters.
func mediaType(v string) string {
	if mt, _, err := mime.ParseMediaType(v); err == nil {
		return mt
	}
	mt, _, _ := strings.Cut(v, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

func isJSONType(mt string) bool { return mt == "application/json" || strings.HasSuffix(mt, "+json") }

func isXMLType(mt string) bool {
	return mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml")
}

// responseFormat picks the response format as Tableau does: the first XML or JSON type in
// Accept; wildcards (python-requests sends "*/*") fall back to the request's Content-Type,
// and XML is the default.
func responseFormat(accept []string, contentType string) format {
	for _, header := range accept {
		for item := range strings.SplitSeq(header, ",") {
			mt := mediaType(item)
			switch {
			case isJSONType(mt):
				return formatJSON
			case isXMLType(mt):
				return formatXML
			}
		}
	}
	if isJSONType(mediaType(contentType)) {
		return formatJSON
	}
	return formatXML
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// requestFormat picks how to decode a request body: by Content-Type when it names XML or JSON,
// else by sniffing, because TSC and curl users send text/xml, text/plain or nothing at all.
func requestFormat(contentType string, body []byte) (format, bool) {
	mt := mediaType(contentType)
	switch {
	case isJSONType(mt):
		return formatJSON, true
	case isXMLType(mt):
		return formatXML, true
	}
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(body, utf8BOM))
	switch {
	case len(trimmed) == 0:
		return formatXML, false
	case trimmed[0] == '{':
		return formatJSON, true
	case trimmed[0] == '<':
		return formatXML, true
	}
	return formatXML, false
}

// ---------------------------------------------------------------------------------------------
// Requests.

// webhookFields is a decoded Create or Update Webhook request, format-independent. Pointers are
// nil when the field was absent, because Update changes only the fields that are given.
type webhookFields struct {
	Name               *string
	Event              *string
	Sources            []string // element names inside <webhook-source>; empty when absent
	IsEnabled          *bool
	StatusChangeReason *string
	HasDestination     bool // a <webhook-destination> with a <webhook-destination-http> was given
	Method             *string
	URL                *string
}

type xmlWebhookRequest struct {
	XMLName xml.Name
	Webhook *xmlWebhookIn `xml:"webhook"`
}

type xmlWebhookIn struct {
	Name               *string           `xml:"name,attr"`
	Event              *string           `xml:"event,attr"`
	IsEnabled          *string           `xml:"isEnabled,attr"`
	StatusChangeReason *string           `xml:"statusChangeReason,attr"`
	Source             *xmlSourceIn      `xml:"webhook-source"`
	Destination        *xmlDestinationIn `xml:"webhook-destination"`
}

type xmlSourceIn struct {
	Events []xmlElement `xml:",any"`
}

// xmlElement is an element known only by its name: the legacy event inside <webhook-source>.
type xmlElement struct {
	XMLName xml.Name
}

type xmlDestinationIn struct {
	HTTP []xmlDestinationHTTPIn `xml:"webhook-destination-http"`
}

type xmlDestinationHTTPIn struct {
	Method *string `xml:"method,attr"`
	URL    *string `xml:"url,attr"`
}

// unmarshalTSRequest decodes an XML body whose root must be <tsRequest>, namespaced or bare.
func unmarshalTSRequest(body []byte, v any, root *xml.Name) error {
	body = bytes.TrimPrefix(body, utf8BOM)
	if err := xml.Unmarshal(body, v); err != nil {
		return fmt.Errorf("malformed XML: %w", err)
	}
	if root.Local != "tsRequest" {
		return fmt.Errorf("root element is <%s>, want <tsRequest>", root.Local)
	}
	return nil
}

// decodeWebhookXML decodes <tsRequest><webhook …/></tsRequest> in either event form.
func decodeWebhookXML(body []byte) (webhookFields, error) {
	var req xmlWebhookRequest
	if err := unmarshalTSRequest(body, &req, &req.XMLName); err != nil {
		return webhookFields{}, err
	}
	in := req.Webhook
	if in == nil {
		return webhookFields{}, errors.New("missing <webhook> element")
	}
	f := webhookFields{Name: in.Name, Event: in.Event, StatusChangeReason: in.StatusChangeReason}
	if in.IsEnabled != nil {
		b, err := parseBool(*in.IsEnabled)
		if err != nil {
			return webhookFields{}, err
		}
		f.IsEnabled = &b
	}
	if in.Source != nil {
		for _, e := range in.Source.Events {
			f.Sources = append(f.Sources, e.XMLName.Local)
		}
	}
	if in.Destination != nil {
		switch len(in.Destination.HTTP) {
		case 0:
		case 1:
			f.HasDestination = true
			f.Method, f.URL = in.Destination.HTTP[0].Method, in.Destination.HTTP[0].URL
		default:
			return webhookFields{}, errors.New("more than one <webhook-destination-http> element")
		}
	}
	return f, nil
}

type jsonWebhookRequest struct {
	Webhook *jsonWebhookIn `json:"webhook"`
}

type jsonWebhookIn struct {
	Name               *string                    `json:"name"`
	Event              *string                    `json:"event"`
	IsEnabled          json.RawMessage            `json:"isEnabled"`
	StatusChangeReason *string                    `json:"statusChangeReason"`
	Source             map[string]json.RawMessage `json:"webhook-source"`
	Destination        *jsonDestinationIn         `json:"webhook-destination"`
}

type jsonDestinationIn struct {
	HTTP *jsonDestinationHTTPIn `json:"webhook-destination-http"`
}

type jsonDestinationHTTPIn struct {
	Method *string `json:"method"`
	URL    *string `json:"url"`
}

// decodeWebhookJSON decodes {"webhook": {…}}: the XML mapping with the root dropped.
func decodeWebhookJSON(body []byte) (webhookFields, error) {
	var req jsonWebhookRequest
	if err := json.Unmarshal(bytes.TrimPrefix(body, utf8BOM), &req); err != nil {
		return webhookFields{}, fmt.Errorf("malformed JSON: %w", err)
	}
	in := req.Webhook
	if in == nil {
		return webhookFields{}, errors.New(`missing "webhook" object`)
	}
	f := webhookFields{Name: in.Name, Event: in.Event, StatusChangeReason: in.StatusChangeReason}
	enabled, err := jsonBool(in.IsEnabled)
	if err != nil {
		return webhookFields{}, err
	}
	f.IsEnabled = enabled
	for name := range in.Source {
		f.Sources = append(f.Sources, name)
	}
	sort.Strings(f.Sources) // map order is random; keep error messages stable
	if in.Destination != nil && in.Destination.HTTP != nil {
		f.HasDestination = true
		f.Method, f.URL = in.Destination.HTTP.Method, in.Destination.HTTP.URL
	}
	return f, nil
}

// decodeWebhook decodes a Create or Update Webhook body in the given format.
func decodeWebhook(f format, body []byte) (webhookFields, error) {
	if f == formatJSON {
		return decodeWebhookJSON(body)
	}
	return decodeWebhookXML(body)
}

// parseBool accepts the spellings Tableau's clients send for isEnabled.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("isEnabled must be true or false, got %q", s)
}

// jsonBool decodes isEnabled sent as a JSON boolean (Pipedream, Prismatic) or as a string
// (Tableau's Postman collection); null and absence both mean "not given".
func jsonBool(raw json.RawMessage) (*bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return &b, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("isEnabled must be a boolean or a string, got %s", raw)
	}
	b, err := parseBool(s)
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// signInFields is a decoded sign-in request. Pointers are nil when the attribute was absent,
// which tells PAT, password and JWT sign-ins apart.
type signInFields struct {
	PATName, PATSecret *string
	Name, Password     *string
	JWT                *string
	ContentURL         string
}

type xmlSignInRequest struct {
	XMLName     xml.Name
	Credentials *struct {
		Name      *string `xml:"name,attr"`
		Password  *string `xml:"password,attr"`
		PATName   *string `xml:"personalAccessTokenName,attr"`
		PATSecret *string `xml:"personalAccessTokenSecret,attr"`
		JWT       *string `xml:"jwt,attr"`
		Site      *struct {
			ContentURL string `xml:"contentUrl,attr"`
		} `xml:"site"`
	} `xml:"credentials"`
}

// decodeSignInXML decodes <tsRequest><credentials …><site contentUrl/></credentials></tsRequest>.
func decodeSignInXML(body []byte) (signInFields, error) {
	var req xmlSignInRequest
	if err := unmarshalTSRequest(body, &req, &req.XMLName); err != nil {
		return signInFields{}, err
	}
	c := req.Credentials
	if c == nil {
		return signInFields{}, errors.New("missing <credentials> element")
	}
	f := signInFields{PATName: c.PATName, PATSecret: c.PATSecret, Name: c.Name, Password: c.Password, JWT: c.JWT}
	if c.Site != nil {
		f.ContentURL = c.Site.ContentURL
	}
	return f, nil
}

type jsonSignInRequest struct {
	Credentials *struct {
		Name      *string `json:"name"`
		Password  *string `json:"password"`
		PATName   *string `json:"personalAccessTokenName"`
		PATSecret *string `json:"personalAccessTokenSecret"`
		JWT       *string `json:"jwt"`
		Site      *struct {
			ContentURL string `json:"contentUrl"`
		} `json:"site"`
	} `json:"credentials"`
}

// decodeSignInJSON decodes {"credentials": {…, "site": {"contentUrl": …}}}.
func decodeSignInJSON(body []byte) (signInFields, error) {
	var req jsonSignInRequest
	if err := json.Unmarshal(bytes.TrimPrefix(body, utf8BOM), &req); err != nil {
		return signInFields{}, fmt.Errorf("malformed JSON: %w", err)
	}
	c := req.Credentials
	if c == nil {
		return signInFields{}, errors.New(`missing "credentials" object`)
	}
	f := signInFields{PATName: c.PATName, PATSecret: c.PATSecret, Name: c.Name, Password: c.Password, JWT: c.JWT}
	if c.Site != nil {
		f.ContentURL = c.Site.ContentURL
	}
	return f, nil
}

// decodeSignIn decodes a sign-in body in the given format.
func decodeSignIn(f format, body []byte) (signInFields, error) {
	if f == formatJSON {
		return decodeSignInJSON(body)
	}
	return decodeSignInXML(body)
}

// ---------------------------------------------------------------------------------------------
// Responses.

const (
	tableauNS = "http://tableau.com/api"
	xsiNS     = "http://www.w3.org/2001/XMLSchema-instance"
	xmlDecl   = "<?xml version='1.0' encoding='UTF-8'?>\n"
)

// tsResponseOpen is the namespaced response root Tableau sends, with the schema of apiVersion.
func tsResponseOpen(apiVersion string) string {
	xsd := "ts-api_" + strings.ReplaceAll(apiVersion, ".", "_") + ".xsd"
	return `<tsResponse xmlns="` + tableauNS + `" xmlns:xsi="` + xsiNS +
		`" xsi:schemaLocation="` + tableauNS + ` https://help.tableau.com/samples/en-us/rest_api/` + xsd + `">`
}

// encodeXML renders the children of <tsResponse>, in order.
func encodeXML(apiVersion string, children ...any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(xmlDecl)
	buf.WriteString(tsResponseOpen(apiVersion))
	enc := xml.NewEncoder(&buf)
	for _, c := range children {
		if err := enc.Encode(c); err != nil {
			return nil, err
		}
	}
	buf.WriteString("</tsResponse>")
	return buf.Bytes(), nil
}

// The response documents below each have an XML form and a JSON form; the JSON form follows
// REFERENCE.md §0: root dropped, attributes as keys, text as "value" (or the bare string for
// a text-only element), lists wrapped as {"webhooks": {"webhook": […]}}, booleans as JSON
// booleans, numbers as strings. The XML forms follow Tableau's schema (ts-api_3_29.xsd):
// children in the order its sequences give, every element it requires.

type xmlError struct {
	XMLName xml.Name `xml:"error"`
	Code    string   `xml:"code,attr"`
	Summary string   `xml:"summary"`
	Detail  string   `xml:"detail"`
}

type jsonError struct {
	Error struct {
		Summary string `json:"summary"`
		Detail  string `json:"detail"`
		Code    string `json:"code"`
	} `json:"error"`
}

func encodeError(f format, apiVersion string, e *apiError) ([]byte, error) {
	if f == formatJSON {
		var j jsonError
		j.Error.Summary, j.Error.Detail, j.Error.Code = e.summary, e.detail, e.code
		return json.Marshal(j)
	}
	return encodeXML(apiVersion, xmlError{Code: e.code, Summary: e.summary, Detail: e.detail})
}

// serverInfoOut is what serverinfo reports.
type serverInfoOut struct {
	APIVersion, Product, Build string
	PrepConductor, Platform    string
}

// The serverSettings values serverinfo reports. Tableau documents none of them; these are the
// simulator's choice, present because the schema's serverInfo requires the element.
const (
	settingOAuthEnabled            = true
	settingSheetImageMaxAgeFloor   = 1
	settingSheetImageMaxAgeCeiling = 60
	settingOfflineInteractionPhase = 0
)

// xmlServerInfo follows the schema's serverInfo sequence: productVersion,
// prepConductorVersion, restApiVersion, platform, serverSettings, in that order.
type xmlServerInfo struct {
	XMLName        xml.Name `xml:"serverInfo"`
	ProductVersion struct {
		Build string `xml:"build,attr"`
		Value string `xml:",chardata"`
	} `xml:"productVersion"`
	PrepConductorVersion string `xml:"prepConductorVersion"`
	RestAPIVersion       string `xml:"restApiVersion"`
	Platform             string `xml:"platform"`
	ServerSettings       struct {
		OAuthEnabled                     bool `xml:"oAuthEnabled"`
		SheetImageMaxAgeFloor            int  `xml:"sheetImageMaxAgeFloor"`
		SheetImageMaxAgeCeiling          int  `xml:"sheetImageMaxAgeCeiling"`
		OfflineInteractionSupportedPhase int  `xml:"offlineInteractionSupportedPhase"`
	} `xml:"serverSettings"`
}

// jsonServerInfo is xmlServerInfo by REFERENCE §0's mapping: the boolean as a JSON boolean,
// the integers as strings like every other number Tableau's JSON is seen to carry.
type jsonServerInfo struct {
	ServerInfo struct {
		ProductVersion struct {
			Value string `json:"value"`
			Build string `json:"build"`
		} `json:"productVersion"`
		PrepConductorVersion string `json:"prepConductorVersion"`
		RestAPIVersion       string `json:"restApiVersion"`
		Platform             string `json:"platform"`
		ServerSettings       struct {
			OAuthEnabled                     bool   `json:"oAuthEnabled"`
			SheetImageMaxAgeFloor            string `json:"sheetImageMaxAgeFloor"`
			SheetImageMaxAgeCeiling          string `json:"sheetImageMaxAgeCeiling"`
			OfflineInteractionSupportedPhase string `json:"offlineInteractionSupportedPhase"`
		} `json:"serverSettings"`
	} `json:"serverInfo"`
}

func encodeServerInfo(f format, info serverInfoOut) ([]byte, error) {
	if f == formatJSON {
		var j jsonServerInfo
		si := &j.ServerInfo
		si.ProductVersion.Value, si.ProductVersion.Build = info.Product, info.Build
		si.PrepConductorVersion, si.RestAPIVersion, si.Platform = info.PrepConductor, info.APIVersion, info.Platform
		si.ServerSettings.OAuthEnabled = settingOAuthEnabled
		si.ServerSettings.SheetImageMaxAgeFloor = strconv.Itoa(settingSheetImageMaxAgeFloor)
		si.ServerSettings.SheetImageMaxAgeCeiling = strconv.Itoa(settingSheetImageMaxAgeCeiling)
		si.ServerSettings.OfflineInteractionSupportedPhase = strconv.Itoa(settingOfflineInteractionPhase)
		return json.Marshal(j)
	}
	var x xmlServerInfo
	x.ProductVersion.Value, x.ProductVersion.Build = info.Product, info.Build
	x.PrepConductorVersion, x.RestAPIVersion, x.Platform = info.PrepConductor, info.APIVersion, info.Platform
	x.ServerSettings.OAuthEnabled = settingOAuthEnabled
	x.ServerSettings.SheetImageMaxAgeFloor = settingSheetImageMaxAgeFloor
	x.ServerSettings.SheetImageMaxAgeCeiling = settingSheetImageMaxAgeCeiling
	x.ServerSettings.OfflineInteractionSupportedPhase = settingOfflineInteractionPhase
	return encodeXML(info.APIVersion, x)
}

// credentialsOut is a successful sign-in.
type credentialsOut struct {
	Token, Expiration  string
	SiteID, ContentURL string
	UserID             string
}

type xmlCredentials struct {
	XMLName    xml.Name `xml:"credentials"`
	Token      string   `xml:"token,attr"`
	Expiration string   `xml:"estimatedTimeToExpiration,attr"`
	Site       struct {
		ID         string `xml:"id,attr"`
		ContentURL string `xml:"contentUrl,attr"`
	} `xml:"site"`
	User struct {
		ID string `xml:"id,attr"`
	} `xml:"user"`
}

type jsonCredentials struct {
	Credentials struct {
		Site struct {
			ID         string `json:"id"`
			ContentURL string `json:"contentUrl"`
		} `json:"site"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		Token      string `json:"token"`
		Expiration string `json:"estimatedTimeToExpiration"`
	} `json:"credentials"`
}

func encodeCredentials(f format, apiVersion string, c credentialsOut) ([]byte, error) {
	if f == formatJSON {
		var j jsonCredentials
		j.Credentials.Site.ID, j.Credentials.Site.ContentURL = c.SiteID, c.ContentURL
		j.Credentials.User.ID = c.UserID
		j.Credentials.Token, j.Credentials.Expiration = c.Token, c.Expiration
		return json.Marshal(j)
	}
	x := xmlCredentials{Token: c.Token, Expiration: c.Expiration}
	x.Site.ID, x.Site.ContentURL, x.User.ID = c.SiteID, c.ContentURL, c.UserID
	return encodeXML(apiVersion, x)
}

// formatExpiration renders a remaining session lifetime as Tableau's "H:MM:SS" string
// (hours are not bounded to 24: real servers send values like "173:21:12").
func formatExpiration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}

type xmlWebhookOut struct {
	XMLName            xml.Name          `xml:"webhook"`
	ID                 string            `xml:"id,attr"`
	Name               string            `xml:"name,attr"`
	IsEnabled          bool              `xml:"isEnabled,attr"`
	StatusChangeReason string            `xml:"statusChangeReason,attr"`
	Event              string            `xml:"event,attr"`
	CreatedAt          string            `xml:"createdAt,attr,omitempty"`
	UpdatedAt          string            `xml:"updatedAt,attr,omitempty"`
	Source             xmlSourceOut      `xml:"webhook-source"`
	Destination        xmlDestinationOut `xml:"webhook-destination"`
	Owner              xmlOwner          `xml:"owner"`
}

// xmlSourceOut holds one empty element named after the legacy event; encoding/xml takes the
// element name from the value's XMLName.
type xmlSourceOut struct {
	Event *xmlElement
}

type xmlDestinationOut struct {
	HTTP struct {
		Method string `xml:"method,attr"`
		URL    string `xml:"url,attr"`
	} `xml:"webhook-destination-http"`
}

type xmlOwner struct {
	ID   string `xml:"id,attr"`
	Name string `xml:"name,attr"`
}

type xmlWebhooks struct {
	XMLName  xml.Name        `xml:"webhooks"`
	Webhooks []xmlWebhookOut `xml:"webhook"`
}

type xmlPagination struct {
	XMLName        xml.Name `xml:"pagination"`
	PageNumber     int      `xml:"pageNumber,attr"`
	PageSize       int      `xml:"pageSize,attr"`
	TotalAvailable int      `xml:"totalAvailable,attr"`
}

type jsonWebhookOut struct {
	ID                 string              `json:"id"`
	Name               string              `json:"name"`
	IsEnabled          bool                `json:"isEnabled"`
	StatusChangeReason string              `json:"statusChangeReason"`
	Event              string              `json:"event"`
	CreatedAt          string              `json:"createdAt,omitempty"`
	UpdatedAt          string              `json:"updatedAt,omitempty"`
	Source             map[string]struct{} `json:"webhook-source"`
	Destination        struct {
		HTTP struct {
			Method string `json:"method"`
			URL    string `json:"url"`
		} `json:"webhook-destination-http"`
	} `json:"webhook-destination"`
	Owner struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"owner"`
}

type jsonPagination struct {
	PageNumber     string `json:"pageNumber"`
	PageSize       string `json:"pageSize"`
	TotalAvailable string `json:"totalAvailable"`
}

type jsonWebhookList struct {
	Pagination *jsonPagination `json:"pagination,omitempty"`
	Webhooks   struct {
		// Omitted when empty: Tableau renders an empty list as "webhooks": {} [INF].
		Webhook []jsonWebhookOut `json:"webhook,omitempty"`
	} `json:"webhooks"`
}

// timestamp renders createdAt/updatedAt as ISO-8601 UTC, the XSD's dateTime.
func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

func toXMLWebhook(w Webhook) xmlWebhookOut {
	x := xmlWebhookOut{
		ID: w.ID, Name: w.Name, IsEnabled: w.Enabled, StatusChangeReason: w.StatusChangeReason,
		Event: w.Event, CreatedAt: timestamp(w.CreatedAt), UpdatedAt: timestamp(w.UpdatedAt),
		Owner: xmlOwner{ID: w.OwnerID, Name: w.OwnerName},
	}
	if legacy := legacyName(w.Event); legacy != "" {
		x.Source.Event = &xmlElement{XMLName: xml.Name{Local: legacy}}
	}
	x.Destination.HTTP.Method, x.Destination.HTTP.URL = "POST", w.URL
	return x
}

func toJSONWebhook(w Webhook) jsonWebhookOut {
	j := jsonWebhookOut{
		ID: w.ID, Name: w.Name, IsEnabled: w.Enabled, StatusChangeReason: w.StatusChangeReason,
		Event: w.Event, CreatedAt: timestamp(w.CreatedAt), UpdatedAt: timestamp(w.UpdatedAt),
		Source: map[string]struct{}{},
	}
	if legacy := legacyName(w.Event); legacy != "" {
		j.Source[legacy] = struct{}{}
	}
	j.Destination.HTTP.Method, j.Destination.HTTP.URL = "POST", w.URL
	j.Owner.ID, j.Owner.Name = w.OwnerID, w.OwnerName
	return j
}

func encodeWebhook(f format, apiVersion string, w Webhook) ([]byte, error) {
	if f == formatJSON {
		return json.Marshal(struct {
			Webhook jsonWebhookOut `json:"webhook"`
		}{toJSONWebhook(w)})
	}
	return encodeXML(apiVersion, toXMLWebhook(w))
}

// page is one List Webhooks answer.
type page struct {
	// Paginated adds <pagination> (WithPageSize only): Tableau's schema has no pagination for
	// webhooks, so a faithful List is one unpaginated <webhooks> element.
	Paginated           bool
	Number, Size, Total int
	Webhooks            []Webhook
}

func encodeWebhookList(f format, apiVersion string, p page) ([]byte, error) {
	if f == formatJSON {
		var j jsonWebhookList
		if p.Paginated {
			j.Pagination = &jsonPagination{
				PageNumber: strconv.Itoa(p.Number), PageSize: strconv.Itoa(p.Size), TotalAvailable: strconv.Itoa(p.Total),
			}
		}
		for _, w := range p.Webhooks {
			j.Webhooks.Webhook = append(j.Webhooks.Webhook, toJSONWebhook(w))
		}
		return json.Marshal(j)
	}
	list := xmlWebhooks{}
	for _, w := range p.Webhooks {
		list.Webhooks = append(list.Webhooks, toXMLWebhook(w))
	}
	if !p.Paginated {
		return encodeXML(apiVersion, list)
	}
	return encodeXML(apiVersion, xmlPagination{PageNumber: p.Number, PageSize: p.Size, TotalAvailable: p.Total}, list)
}

type xmlTestResult struct {
	XMLName xml.Name `xml:"webhookTestResult"`
	ID      string   `xml:"id,attr"`
	Status  int      `xml:"status,attr"`
	Body    string   `xml:"body"`
}

func encodeTestResult(f format, apiVersion, id string, status int, body string) ([]byte, error) {
	if f == formatJSON {
		var j struct {
			Result struct {
				ID     string `json:"id"`
				Status string `json:"status"`
				Body   string `json:"body"`
			} `json:"webhookTestResult"`
		}
		j.Result.ID, j.Result.Status, j.Result.Body = id, strconv.Itoa(status), body
		return json.Marshal(j)
	}
	return encodeXML(apiVersion, xmlTestResult{ID: id, Status: status, Body: body})
}
