package tableautest

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

const hookURL = "https://example.com/hook"

func TestCreateWebhookFormAXML(t *testing.T) {
	srv := NewServer(WithPAT("op-pat", "s3cr3t"))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", "op-pat", "s3cr3t")

	r := call(t, srv, http.MethodPost, webhooksPath(siteID), xmlHeaders(token),
		formA("WEBHOOK_NAME", "DatasourceRefreshStarted", hookURL))
	wantStatus(t, r, http.StatusCreated)
	h := decodeXML(t, r).Webhook
	if h == nil || h.ID == "" {
		t.Fatalf("no webhook in %s", r.Body)
	}
	if want := "/api/" + apiVersion + "/sites/" + siteID + "/webhooks/" + h.ID; r.Header.Get("Location") != want {
		t.Fatalf("Location = %q, want %q", r.Header.Get("Location"), want)
	}
	// Both forms come back, with enablement and owner.
	if h.Name != "WEBHOOK_NAME" || h.Event != "DatasourceRefreshStarted" ||
		h.legacy(t) != "webhook-source-event-datasource-refresh-started" ||
		h.Destination.HTTP.Method != "POST" || h.Destination.HTTP.URL != hookURL ||
		h.IsEnabled == nil || *h.IsEnabled != "true" || h.StatusChangeReason == nil || *h.StatusChangeReason != "" ||
		h.Owner.ID == "" || h.Owner.Name != "op-pat" || h.CreatedAt == "" {
		t.Fatalf("webhook = %+v\n%s", h, r.Body)
	}
	stored, ok := srv.Webhook("", h.ID)
	if !ok || stored.Name != "WEBHOOK_NAME" || stored.Event != "DatasourceRefreshStarted" || !stored.Enabled || stored.URL != hookURL {
		t.Fatalf("stored = %+v, %v", stored, ok)
	}
}

func TestCreateWebhookFormAJSON(t *testing.T) {
	srv := NewServer(WithPAT("op-pat", "s3cr3t"))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", "op-pat", "s3cr3t")

	// REFERENCE §2.2 JSON sample; isEnabled as a JSON boolean, as Pipedream sends it.
	body := `{ "webhook": {
    "webhook-destination": { "webhook-destination-http": { "method": "POST", "url": "https://example.com/hook" } },
    "event": "DatasourceRefreshStarted",
    "name": "WEBHOOK_NAME", "isEnabled": true } }`
	r := call(t, srv, http.MethodPost, webhooksPath(siteID), jsonHeaders(token), body)
	wantStatus(t, r, http.StatusCreated)
	m := decodeJSON(t, r)
	if jget(t, m, "webhook", "isEnabled") != true || jget(t, m, "webhook", "statusChangeReason") != "" ||
		jget(t, m, "webhook", "event") != "DatasourceRefreshStarted" || jget(t, m, "webhook", "name") != "WEBHOOK_NAME" ||
		jget(t, m, "webhook", "webhook-destination", "webhook-destination-http", "url") != hookURL ||
		jget(t, m, "webhook", "owner", "name") != "op-pat" {
		t.Fatalf("webhook = %s", r.Body)
	}
	src, _ := jget(t, m, "webhook", "webhook-source").(map[string]any)
	if _, ok := src["webhook-source-event-datasource-refresh-started"]; !ok || len(src) != 1 {
		t.Fatalf("webhook-source = %v", src)
	}
}

func TestCreateWebhookFormB(t *testing.T) {
	srv := NewServer(WithPAT("op-pat", "s3cr3t"))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", "op-pat", "s3cr3t")

	// answered is the <webhook-source> element the simulator answers with: the events page's
	// name, except for LabelDeleted, where it follows Tableau's schema.
	for _, tc := range []struct{ legacy, event, answered string }{
		{"webhook-source-event-datasource-refresh-started", "DatasourceRefreshStarted", "webhook-source-event-datasource-refresh-started"},
		{"webhook-event-user-promoted-admin", "AdminPromoted", "webhook-event-user-promoted-admin"},
		{"webhook-event-user-demoted-admin", "AdminDemoted", "webhook-event-user-demoted-admin"},
		// The events page's spelling, and the schema's, which clients may send instead.
		{"webhook-source-event-label-LabelDeleted", "LabelDeleted", "webhook-source-event-label-deleted"},
		{"webhook-source-event-label-deleted", "LabelDeleted", "webhook-source-event-label-deleted"},
	} {
		t.Run(tc.legacy+"/xml", func(t *testing.T) {
			r := call(t, srv, http.MethodPost, webhooksPath(siteID), xmlHeaders(token), formB("b-"+tc.legacy, tc.legacy, hookURL))
			wantStatus(t, r, http.StatusCreated)
			h := decodeXML(t, r).Webhook
			if h.Event != tc.event || h.legacy(t) != tc.answered {
				t.Fatalf("event %q source %q, want %q %q", h.Event, h.legacy(t), tc.event, tc.answered)
			}
		})
		t.Run(tc.legacy+"/json", func(t *testing.T) {
			body := `{ "webhook": {
    "webhook-source": { "` + tc.legacy + `": {} },
    "webhook-destination": { "webhook-destination-http": { "method": "POST", "url": "https://example.com/hook" } },
    "name": "WEBHOOK_NAME" } }`
			r := call(t, srv, http.MethodPost, webhooksPath(siteID), jsonHeaders(token), body)
			wantStatus(t, r, http.StatusCreated)
			if got := jget(t, decodeJSON(t, r), "webhook", "event"); got != tc.event {
				t.Fatalf("event = %v, want %s", got, tc.event)
			}
		})
	}

	// Both forms naming the same event are accepted.
	body := `<tsRequest><webhook name="both" event="WorkbookDeleted"><webhook-source><webhook-source-event-workbook-deleted/></webhook-source>` +
		`<webhook-destination><webhook-destination-http method="POST" url="https://example.com/hook"/></webhook-destination></webhook></tsRequest>`
	wantStatus(t, call(t, srv, http.MethodPost, webhooksPath(siteID), xmlHeaders(token), body), http.StatusCreated)
}

func TestCreateWebhookValidation(t *testing.T) {
	srv := NewServer(WithPAT("op-pat", "s3cr3t"))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", "op-pat", "s3cr3t")
	dest := `<webhook-destination><webhook-destination-http method="POST" url="https://example.com/hook"/></webhook-destination>`

	xmlCases := map[string]string{
		"forms disagree": `<tsRequest><webhook name="n" event="WorkbookCreated"><webhook-source><webhook-source-event-workbook-deleted/></webhook-source>` + dest + `</webhook></tsRequest>`,
		"unknown event":  formA("n", "WorkbookExploded", hookURL),
		"unknown legacy": formB("n", "webhook-source-api-event-name", hookURL),
		"two sources":    `<tsRequest><webhook name="n"><webhook-source><webhook-source-event-workbook-deleted/><webhook-source-event-workbook-created/></webhook-source>` + dest + `</webhook></tsRequest>`,
		"no event":       `<tsRequest><webhook name="n">` + dest + `</webhook></tsRequest>`,
		"missing name":   `<tsRequest><webhook event="WorkbookCreated">` + dest + `</webhook></tsRequest>`,
		"empty name":     formA("  ", "WorkbookCreated", hookURL),
		"http URL":       formA("n", "WorkbookCreated", "http://example.com/hook"),
		"no host":        formA("n", "WorkbookCreated", "https:///hook"),
		"not a URL":      formA("n", "WorkbookCreated", "url"),
		"no destination": `<tsRequest><webhook name="n" event="WorkbookCreated"/></tsRequest>`,
		"no url":         `<tsRequest><webhook name="n" event="WorkbookCreated"><webhook-destination><webhook-destination-http method="POST"/></webhook-destination></webhook></tsRequest>`,
		"method GET":     `<tsRequest><webhook name="n" event="WorkbookCreated"><webhook-destination><webhook-destination-http method="GET" url="https://example.com/hook"/></webhook-destination></webhook></tsRequest>`,
		"bad isEnabled":  `<tsRequest><webhook name="n" event="WorkbookCreated" isEnabled="maybe">` + dest + `</webhook></tsRequest>`,
		"wrong root":     `<webhook name="n" event="WorkbookCreated">` + dest + `</webhook>`,
		"no webhook":     `<tsRequest/>`,
		"malformed":      `<tsRequest><webhook name="n"`,
		"empty body":     ``,
		"not XML":        `name=n`,
	}
	for name, body := range xmlCases {
		t.Run(name, func(t *testing.T) {
			wantXMLError(t, call(t, srv, http.MethodPost, webhooksPath(siteID), xmlHeaders(token), body),
				http.StatusBadRequest, CodeBadRequest)
		})
	}
	jsonCases := map[string]string{
		"forms disagree":  `{"webhook":{"name":"n","event":"WorkbookCreated","webhook-source":{"webhook-source-event-workbook-deleted":{}},"webhook-destination":{"webhook-destination-http":{"method":"POST","url":"https://example.com/hook"}}}}`,
		"http URL":        `{"webhook":{"name":"n","event":"WorkbookCreated","webhook-destination":{"webhook-destination-http":{"method":"POST","url":"http://example.com/hook"}}}}`,
		"name not string": `{"webhook":{"name":7,"event":"WorkbookCreated","webhook-destination":{"webhook-destination-http":{"url":"https://example.com/hook"}}}}`,
		"isEnabled 1":     `{"webhook":{"name":"n","isEnabled":1,"event":"WorkbookCreated","webhook-destination":{"webhook-destination-http":{"url":"https://example.com/hook"}}}}`,
		"with root":       `{"tsRequest":{"webhook":{"name":"n","event":"WorkbookCreated"}}}`,
		"trailing data":   `{"webhook":{}} {}`,
		"array":           `[]`,
	}
	for name, body := range jsonCases {
		t.Run("json/"+name, func(t *testing.T) {
			wantJSONError(t, call(t, srv, http.MethodPost, webhooksPath(siteID), jsonHeaders(token), body),
				http.StatusBadRequest, CodeBadRequest)
		})
	}
	if n := len(srv.Webhooks("")); n != 0 {
		t.Fatalf("invalid requests stored %d webhooks", n)
	}
	wantXMLError(t, call(t, srv, http.MethodPatch, webhooksPath(siteID), xmlHeaders(token), ""),
		http.StatusMethodNotAllowed, CodeMethodNotAllowed)
	// Webhooks appeared in API 3.6.
	wantXMLError(t, call(t, srv, http.MethodGet, "/api/3.5/sites/"+siteID+"/webhooks", xmlHeaders(token), ""),
		http.StatusNotFound, CodeUnknownResource)
}

func TestCreateDisabled(t *testing.T) {
	srv := NewServer(WithPAT("op-pat", "s3cr3t"))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", "op-pat", "s3cr3t")

	// isEnabled as a string, as Tableau's Postman collection sends it.
	r := call(t, srv, http.MethodPost, webhooksPath(siteID), jsonHeaders(token),
		`{"webhook":{"name":"off","isEnabled":"false","event":"WorkbookCreated","webhook-destination":{"webhook-destination-http":{"method":"POST","url":"https://example.com/hook"}}}}`)
	wantStatus(t, r, http.StatusCreated)
	m := decodeJSON(t, r)
	if jget(t, m, "webhook", "isEnabled") != false || jget(t, m, "webhook", "statusChangeReason") != ReasonDisabledByUser {
		t.Fatalf("webhook = %s", r.Body)
	}
	// A reason with isEnabled=true is ignored on Create (400127 is documented for Update only).
	r = call(t, srv, http.MethodPost, webhooksPath(siteID), xmlHeaders(token),
		`<tsRequest><webhook name="on" event="WorkbookCreated" isEnabled="true" statusChangeReason="why"><webhook-destination><webhook-destination-http method="POST" url="https://example.com/hook"/></webhook-destination></webhook></tsRequest>`)
	wantStatus(t, r, http.StatusCreated)
	if h := decodeXML(t, r).Webhook; *h.IsEnabled != "true" || *h.StatusChangeReason != "" {
		t.Fatalf("webhook = %s", r.Body)
	}
}

// TestTSCRequestShape sends what tableauserverclient sends: its request-factory body (bare
// <tsRequest>, legacy webhook-source built as "webhook-source-event-" + event), lowercase
// x-tableau-auth, text/xml, Accept */*, and the serverInfo spelling.
func TestTSCRequestShape(t *testing.T) {
	srv := NewServer(WithPAT("op-pat", "s3cr3t"))
	defer srv.Close()
	fixture, err := os.ReadFile("testdata/webhook_create_request.xml")
	if err != nil {
		t.Fatal(err)
	}
	tsc := func(token string) map[string]string {
		h := map[string]string{"content-type": "text/xml", "accept": "*/*", "user-agent": "Tableau Server Client/0.36"}
		if token != "" {
			h["x-tableau-auth"] = token
		}
		return h
	}

	wantStatus(t, call(t, srv, http.MethodGet, "/api/2.4/serverInfo", tsc(""), ""), http.StatusOK)
	r := call(t, srv, http.MethodPost, api("/auth/signin"), tsc(""),
		`<tsRequest><credentials personalAccessTokenName="op-pat" personalAccessTokenSecret="s3cr3t"><site contentUrl="" /></credentials></tsRequest>`)
	wantStatus(t, r, http.StatusOK)
	c := decodeXML(t, r).Credentials
	token, siteID := c.Token, c.Site.ID

	// The fixture verbatim carries placeholders (an unknown event, url="url"): rejected.
	wantXMLError(t, call(t, srv, http.MethodPost, webhooksPath(siteID), tsc(token), string(fixture)),
		http.StatusBadRequest, CodeBadRequest)

	body := strings.NewReplacer("webhook-source-event-api-event-name", "webhook-source-event-datasource-created",
		`url="url"`, `url="`+hookURL+`"`).Replace(string(fixture))
	r = call(t, srv, http.MethodPost, webhooksPath(siteID), tsc(token), body)
	wantStatus(t, r, http.StatusCreated)
	h := decodeXML(t, r).Webhook
	// TSC reads the event by stripping "webhook-source-event-" from the source element.
	if ev, ok := strings.CutPrefix(h.legacy(t), "webhook-source-event-"); !ok || ev != "datasource-created" ||
		h.Name != "webhook-name" || h.Event != "DatasourceCreated" {
		t.Fatalf("webhook = %+v", h)
	}

	r = call(t, srv, http.MethodGet, webhooksPath(siteID), tsc(token), "")
	wantStatus(t, r, http.StatusOK)
	if doc := decodeXML(t, r); len(doc.Webhooks.Webhook) != 1 {
		t.Fatalf("list = %s", r.Body)
	}
	wantStatus(t, call(t, srv, http.MethodGet, webhooksPath(siteID)+"/"+h.ID, tsc(token), ""), http.StatusOK)
	wantStatus(t, call(t, srv, http.MethodDelete, webhooksPath(siteID)+"/"+h.ID, tsc(token), ""), http.StatusNoContent)
	wantStatus(t, call(t, srv, http.MethodPost, api("/auth/signout"), tsc(token), ""), http.StatusNoContent)
}

func TestWebhookLifecycleXML(t *testing.T) {
	srv := NewServer(WithPAT("op-pat", "s3cr3t"))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", "op-pat", "s3cr3t")
	h := xmlHeaders(token)
	b := createXML(t, srv, token, siteID, "b-hook", "WorkbookCreated", hookURL)
	a := createXML(t, srv, token, siteID, "a-hook", "DatasourceRefreshFailed", "https://example.com/a")
	one := webhooksPath(siteID) + "/" + b.ID

	// List: sorted by name, every webhook, no <pagination> (Tableau's schema has none).
	r := call(t, srv, http.MethodGet, webhooksPath(siteID), h, "")
	wantStatus(t, r, http.StatusOK)
	doc := decodeXML(t, r)
	if len(doc.Webhooks.Webhook) != 2 || doc.Webhooks.Webhook[0].ID != a.ID || doc.Webhooks.Webhook[1].ID != b.ID {
		t.Fatalf("list = %s", r.Body)
	}
	if doc.Pagination != nil {
		t.Fatalf("pagination = %+v, want none", doc.Pagination)
	}

	// Get.
	r = call(t, srv, http.MethodGet, one, h, "")
	wantStatus(t, r, http.StatusOK)
	if got := decodeXML(t, r).Webhook; got.ID != b.ID || got.Event != "WorkbookCreated" || got.legacy(t) != "webhook-source-event-workbook-created" {
		t.Fatalf("get = %s", r.Body)
	}

	// Update with only a name: nothing else changes (PSTableauREST sends partial bodies).
	r = call(t, srv, http.MethodPut, one, h, `<tsRequest><webhook name="renamed"/></tsRequest>`)
	wantStatus(t, r, http.StatusOK)
	if got := decodeXML(t, r).Webhook; got.Name != "renamed" || got.Event != "WorkbookCreated" ||
		got.Destination.HTTP.URL != hookURL || *got.IsEnabled != "true" {
		t.Fatalf("partial update = %s", r.Body)
	}

	// REFERENCE §2.5 sample: disable with a reason, new event and URL.
	r = call(t, srv, http.MethodPut, one, h, `<tsRequest>
  <webhook name="NEW_NAME" isEnabled="false" statusChangeReason="paused for maintenance" event="WorkbookDeleted">
    <webhook-destination>
      <webhook-destination-http method="POST" url="https://example.com/new" />
    </webhook-destination>
  </webhook>
</tsRequest>`)
	wantStatus(t, r, http.StatusOK)
	got := decodeXML(t, r).Webhook
	if got.Name != "NEW_NAME" || got.Event != "WorkbookDeleted" || got.legacy(t) != "webhook-source-event-workbook-deleted" ||
		got.Destination.HTTP.URL != "https://example.com/new" || *got.IsEnabled != "false" ||
		*got.StatusChangeReason != "paused for maintenance" {
		t.Fatalf("update = %s", r.Body)
	}

	// 400127: a reason with isEnabled=true, or a reason alone on an enabled webhook.
	wantXMLError(t, call(t, srv, http.MethodPut, one, h, `<tsRequest><webhook isEnabled="true" statusChangeReason="x"/></tsRequest>`),
		http.StatusBadRequest, CodeReasonWithEnabled)
	wantXMLError(t, call(t, srv, http.MethodPut, webhooksPath(siteID)+"/"+a.ID, h, `<tsRequest><webhook statusChangeReason="x"/></tsRequest>`),
		http.StatusBadRequest, CodeReasonWithEnabled)
	if w, _ := srv.Webhook("", b.ID); w.Enabled || w.StatusChangeReason != "paused for maintenance" {
		t.Fatalf("a rejected update changed the webhook: %+v", w)
	}

	// Disable without a reason: Tableau's default reason. Re-enable: reason cleared.
	r = call(t, srv, http.MethodPut, one, h, `<tsRequest><webhook isEnabled="false"/></tsRequest>`)
	wantStatus(t, r, http.StatusOK)
	if got := decodeXML(t, r).Webhook; *got.StatusChangeReason != ReasonDisabledByUser {
		t.Fatalf("reason = %q", *got.StatusChangeReason)
	}
	r = call(t, srv, http.MethodPut, one, h, `<tsRequest><webhook isEnabled="true" statusChangeReason=""/></tsRequest>`)
	wantStatus(t, r, http.StatusOK)
	if got := decodeXML(t, r).Webhook; *got.IsEnabled != "true" || *got.StatusChangeReason != "" {
		t.Fatalf("re-enable = %s", r.Body)
	}

	// Update validation.
	for name, body := range map[string]string{
		"http URL":      `<tsRequest><webhook><webhook-destination><webhook-destination-http method="POST" url="http://x.example"/></webhook-destination></webhook></tsRequest>`,
		"unknown event": `<tsRequest><webhook event="Nope"/></tsRequest>`,
		"empty name":    `<tsRequest><webhook name=""/></tsRequest>`,
		"malformed":     `<tsRequest>`,
	} {
		t.Run("update "+name, func(t *testing.T) {
			wantXMLError(t, call(t, srv, http.MethodPut, one, h, body), http.StatusBadRequest, CodeBadRequest)
		})
	}

	// Delete twice; the unknown id is 404040 on Get, Update and Delete.
	r = call(t, srv, http.MethodDelete, one, h, "")
	wantStatus(t, r, http.StatusNoContent)
	if len(r.Body) != 0 {
		t.Fatalf("delete body = %q", r.Body)
	}
	wantXMLError(t, call(t, srv, http.MethodDelete, one, h, ""), http.StatusNotFound, CodeWebhookNotFound)
	wantXMLError(t, call(t, srv, http.MethodGet, one, h, ""), http.StatusNotFound, CodeWebhookNotFound)
	wantXMLError(t, call(t, srv, http.MethodPut, one, h, `<tsRequest><webhook name="x"/></tsRequest>`), http.StatusNotFound, CodeWebhookNotFound)
	if _, ok := srv.Webhook("", b.ID); ok {
		t.Fatal("deleted webhook still stored")
	}
	// Update appeared in API 3.8.
	wantXMLError(t, call(t, srv, http.MethodPut, "/api/3.7/sites/"+siteID+"/webhooks/"+a.ID, h, `<tsRequest><webhook name="x"/></tsRequest>`),
		http.StatusNotFound, CodeUnknownResource)
}

func TestWebhookLifecycleJSON(t *testing.T) {
	srv := NewServer(WithPAT("op-pat", "s3cr3t"))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", "op-pat", "s3cr3t")
	h := jsonHeaders(token)

	// Empty list: "webhooks": {}, and no pagination.
	r := call(t, srv, http.MethodGet, webhooksPath(siteID), h, "")
	wantStatus(t, r, http.StatusOK)
	m := decodeJSON(t, r)
	if hooks, ok := jget(t, m, "webhooks").(map[string]any); !ok || len(hooks) != 0 {
		t.Fatalf("empty list = %s", r.Body)
	}
	if _, ok := m["pagination"]; ok {
		t.Fatalf("pagination in %s", r.Body)
	}

	id := createXML(t, srv, token, siteID, "hook", "WorkbookCreated", hookURL).ID
	r = call(t, srv, http.MethodGet, webhooksPath(siteID), h, "")
	list, ok := jget(t, decodeJSON(t, r), "webhooks", "webhook").([]any)
	if !ok || len(list) != 1 { // a one-item list is still an array
		t.Fatalf("list = %s", r.Body)
	}

	// REFERENCE §2.5 JSON sample: isEnabled as the string "false".
	r = call(t, srv, http.MethodPut, webhooksPath(siteID)+"/"+id, h, `{ "webhook": {
    "webhook-destination": { "webhook-destination-http": { "method": "POST", "url": "https://example.com/hook2" } },
    "event": "WorkbookCreated", "name": "NEW_NAME",
    "isEnabled": "false", "statusChangeReason": "paused for maintenance" } }`)
	wantStatus(t, r, http.StatusOK)
	m = decodeJSON(t, r)
	if jget(t, m, "webhook", "isEnabled") != false || jget(t, m, "webhook", "statusChangeReason") != "paused for maintenance" ||
		jget(t, m, "webhook", "name") != "NEW_NAME" {
		t.Fatalf("update = %s", r.Body)
	}
	wantJSONError(t, call(t, srv, http.MethodPut, webhooksPath(siteID)+"/"+id, h, `{"webhook":{"isEnabled":true,"statusChangeReason":"x"}}`),
		http.StatusBadRequest, CodeReasonWithEnabled)
	wantJSONError(t, call(t, srv, http.MethodGet, webhooksPath(siteID)+"/nope", h, ""), http.StatusNotFound, CodeWebhookNotFound)
	wantStatus(t, call(t, srv, http.MethodDelete, webhooksPath(siteID)+"/"+id, h, ""), http.StatusNoContent)
	wantJSONError(t, call(t, srv, http.MethodDelete, webhooksPath(siteID)+"/"+id, h, ""), http.StatusNotFound, CodeWebhookNotFound)
}

func TestPagination(t *testing.T) {
	srv := NewServer(WithPAT("op-pat", "s3cr3t"), WithPageSize(2))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", "op-pat", "s3cr3t")
	for i := range 5 {
		createXML(t, srv, token, siteID, fmt.Sprintf("hook-%d", i), "WorkbookCreated", hookURL)
	}
	get := func(query string) tsResponse {
		r := call(t, srv, http.MethodGet, webhooksPath(siteID)+query, xmlHeaders(token), "")
		wantStatus(t, r, http.StatusOK)
		return decodeXML(t, r)
	}
	var names []string
	for page := 1; ; page++ {
		doc := get(fmt.Sprintf("?pageNumber=%d", page))
		if p := doc.Pagination; p.PageNumber != page || p.PageSize != 2 || p.TotalAvailable != 5 {
			t.Fatalf("page %d pagination = %+v", page, p)
		}
		for _, h := range doc.Webhooks.Webhook {
			names = append(names, h.Name)
		}
		if page*2 >= 5 {
			break
		}
	}
	if strings.Join(names, ",") != "hook-0,hook-1,hook-2,hook-3,hook-4" {
		t.Fatalf("pages gave %v", names)
	}
	if doc := get(""); len(doc.Webhooks.Webhook) != 2 {
		t.Fatalf("first page without params has %d webhooks, want 2", len(doc.Webhooks.Webhook))
	}
	if doc := get("?pageSize=4&pageNumber=2"); len(doc.Webhooks.Webhook) != 1 || doc.Pagination.PageSize != 4 {
		t.Fatalf("pageSize=4 page 2 = %+v", doc.Pagination)
	}
	if doc := get("?pageNumber=9"); len(doc.Webhooks.Webhook) != 0 || doc.Pagination.TotalAvailable != 5 {
		t.Fatalf("page past the end = %+v", doc)
	}
	if doc := get("?filter=name:eq:hook-3"); len(doc.Webhooks.Webhook) != 1 || doc.Webhooks.Webhook[0].Name != "hook-3" ||
		doc.Pagination.TotalAvailable != 1 {
		t.Fatalf("filter = %+v", doc)
	}
	for _, q := range []string{"?pageSize=0", "?pageSize=1001", "?pageNumber=0", "?pageSize=x", "?filter=owner:eq:x", "?filter=name:gt:x"} {
		wantXMLError(t, call(t, srv, http.MethodGet, webhooksPath(siteID)+q, xmlHeaders(token), ""), http.StatusBadRequest, CodeBadRequest)
	}

	// JSON pages carry pagination values as strings (REFERENCE §6).
	m := decodeJSON(t, call(t, srv, http.MethodGet, webhooksPath(siteID)+"?pageNumber=3", jsonHeaders(token), ""))
	if jget(t, m, "pagination", "pageNumber") != "3" || jget(t, m, "pagination", "pageSize") != "2" ||
		jget(t, m, "pagination", "totalAvailable") != "5" {
		t.Fatalf("JSON pagination = %v", m["pagination"])
	}
}

func TestUnpaginatedList(t *testing.T) {
	srv := NewServer(WithPAT("op-pat", "s3cr3t"))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", "op-pat", "s3cr3t")
	for i := range 120 {
		srv.AddWebhook("", Webhook{Name: fmt.Sprintf("hook-%03d", i), Event: "WorkbookCreated", URL: hookURL, Enabled: true})
	}
	// Everything in one <webhooks>, without <pagination>; paging parameters (PSTableauREST
	// sends them) change nothing, and a bad one is not an error, since there is no paging.
	for _, q := range []string{"", "?pageSize=10&pageNumber=2", "?pageSize=0"} {
		r := call(t, srv, http.MethodGet, webhooksPath(siteID)+q, xmlHeaders(token), "")
		wantStatus(t, r, http.StatusOK)
		doc := decodeXML(t, r)
		if len(doc.Webhooks.Webhook) != 120 || doc.Pagination != nil {
			t.Fatalf("%q: got %d webhooks, pagination %+v", q, len(doc.Webhooks.Webhook), doc.Pagination)
		}
	}
}

func TestOutOfBandEdits(t *testing.T) {
	srv := NewServer(WithPAT("op-pat", "s3cr3t"))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", "op-pat", "s3cr3t")
	id := createXML(t, srv, token, siteID, "mine", "WorkbookCreated", hookURL).ID

	ok := srv.EditWebhook("", id, func(w *Webhook) {
		w.Name, w.URL, w.Event, w.Enabled, w.StatusChangeReason = "drifted", "https://evil.example/x",
			"webhook-source-event-view-deleted", false, "someone"
		w.ID = "cannot-change"
	})
	if !ok {
		t.Fatal("EditWebhook reported a missing webhook")
	}
	r := call(t, srv, http.MethodGet, webhooksPath(siteID)+"/"+id, xmlHeaders(token), "")
	wantStatus(t, r, http.StatusOK)
	got := decodeXML(t, r).Webhook
	if got.Name != "drifted" || got.Destination.HTTP.URL != "https://evil.example/x" || got.Event != "ViewDeleted" ||
		*got.IsEnabled != "false" || *got.StatusChangeReason != "someone" {
		t.Fatalf("after edit = %s", r.Body)
	}

	foreign := srv.AddWebhook("", Webhook{Name: "theirs", Event: "SiteCreated", URL: hookURL, Enabled: true})
	r = call(t, srv, http.MethodGet, webhooksPath(siteID)+"/"+foreign.ID, xmlHeaders(token), "")
	if got := decodeXML(t, r).Webhook; got.Owner.Name != ForeignOwnerName || got.Owner.ID == "" || got.legacy(t) != "webhook-source-event-site-created" {
		t.Fatalf("foreign = %s", r.Body)
	}

	if !srv.DeleteWebhook("", id) || srv.DeleteWebhook("", id) || srv.EditWebhook("", id, func(*Webhook) {}) {
		t.Fatal("DeleteWebhook/EditWebhook results wrong")
	}
	wantXMLError(t, call(t, srv, http.MethodGet, webhooksPath(siteID)+"/"+id, xmlHeaders(token), ""), http.StatusNotFound, CodeWebhookNotFound)
	if ws := srv.Webhooks(""); len(ws) != 1 || ws[0].ID != foreign.ID {
		t.Fatalf("Webhooks = %+v", ws)
	}
	if srv.Webhooks("nope") != nil || srv.SiteID("nope") != "" {
		t.Fatal("unknown site answered")
	}
}

func TestConcurrentRequests(t *testing.T) {
	srv := NewServer(WithPAT("op-pat", "s3cr3t"))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", "op-pat", "s3cr3t")
	const n = 40
	var wg sync.WaitGroup
	ids := make([]string, n)
	for i := range n {
		wg.Go(func() {
			r := call(t, srv, http.MethodPost, webhooksPath(siteID), xmlHeaders(token), formA(fmt.Sprintf("h%d", i), "WorkbookCreated", hookURL))
			if r.Status != http.StatusCreated {
				t.Errorf("create %d: %d %s", i, r.Status, r.Body)
				return
			}
			if d := decodeXMLNoFatal(r); d != nil {
				ids[i] = d.Webhook.ID
			}
			call(t, srv, http.MethodGet, webhooksPath(siteID), xmlHeaders(token), "")
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" || seen[id] {
			t.Fatalf("missing or duplicate id %q", id)
		}
		seen[id] = true
	}
	if got := len(srv.Webhooks("")); got != n {
		t.Fatalf("stored %d webhooks, want %d", got, n)
	}
	if srv.Count(OpCreateWebhook) != n || srv.Count(OpListWebhooks) != n {
		t.Fatalf("stats = %+v", srv.Stats())
	}
}

// decodeXMLNoFatal is decodeXML for goroutines, where t.Fatal must not be called.
func decodeXMLNoFatal(r rawResponse) *tsResponse {
	var doc tsResponse
	if err := xml.Unmarshal(r.Body, &doc); err != nil || doc.Webhook == nil {
		return nil
	}
	return &doc
}

func TestTimestampsUseClock(t *testing.T) {
	clock := newFakeClock()
	srv := NewServer(WithPAT("op-pat", "s3cr3t"), WithClock(clock.Now))
	defer srv.Close()
	token, siteID := signInPAT(t, srv, "", "op-pat", "s3cr3t")
	h := createXML(t, srv, token, siteID, "x", "WorkbookCreated", hookURL)
	if h.CreatedAt != "2026-11-27T12:00:00Z" {
		t.Fatalf("createdAt = %q", h.CreatedAt)
	}
	clock.Advance(time.Hour)
	call(t, srv, http.MethodPut, webhooksPath(siteID)+"/"+h.ID, xmlHeaders(token), `<tsRequest><webhook name="y"/></tsRequest>`)
	if w, _ := srv.Webhook("", h.ID); !w.UpdatedAt.Equal(clock.Now()) || !w.CreatedAt.Equal(clock.Now().Add(-time.Hour)) {
		t.Fatalf("timestamps = %v %v", w.CreatedAt, w.UpdatedAt)
	}
}
