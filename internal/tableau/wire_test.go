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
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Bodies quoted in REFERENCE.md, verbatim or with only the elided schema location filled in.
const (
	refSignIn = `<?xml version='1.0' encoding='UTF-8'?>
<tsResponse xmlns="http://tableau.com/api" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://tableau.com/api http://tableau.com/api/ts-api-2.3.xsd">
    <credentials token="eIX6mvFsqyansa4KqEI1UwOpS8ggRs2l">
        <site id="6b7179ba-b82b-4f0f-91ed-812074ac5da6" contentUrl="Samples" />
        <user id="1a96d216-e9b8-497b-a82a-0b899a965e01" />
    </credentials>
</tsResponse>`
	refSignInModern = `<tsResponse xmlns="http://tableau.com/api"><credentials token="pi9TCS-4Ti-_xD0dN-H8ww|4qnj3HwbpVAdAdd7KkdnGGakiwxBnbcS|2ff64d57-b7c1-4e99-803c-13bb81ae0371" estimatedTimeToExpiration="173:21:12"><site id="2ff64d57-b7c1-4e99-803c-13bb81ae0371" contentUrl=""/><user id="u"/></credentials></tsResponse>`
	refServerInfo   = `<tsResponse xmlns="http://tableau.com/api" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://tableau.com/api http://tableau.com/api/ts-api_3_10.xsd">
<serverInfo>
<productVersion build="10100.16.1024.2100">10.1.0</productVersion>
<restApiVersion>3.10</restApiVersion>
</serverInfo>
</tsResponse>`
	refWebhookDoc = `<tsResponse>
  <webhook id="webhook-id" name="webhook-name" isEnabled="true" statusChangeReason="" event="api-event-name">
    <webhook-source>
      <webhook-source-api-event-name />
    </webhook-source>
    <webhook-destination>
      <webhook-destination-http method="POST" url="url"/>
    </webhook-destination>
    <owner id="webhook_owner_luid" name="webhook_owner_name"/>
  </webhook>
</tsResponse>`
	refWebhooksDoc = `<tsResponse>
  <webhooks>
    <webhook id="webhook-id" name="webhook-name" isEnabled="true" statusChangeReason="" event="api-event-name">
      <webhook-source><webhook-source-api-event-name /></webhook-source>
      <webhook-destination><webhook-destination-http method="POST" url="url"/></webhook-destination>
      <owner id="webhook_owner_luid" name="webhook_owner_name"/>
    </webhook>
    <!-- ... additional webhooks ... -->
  </webhooks>
</tsResponse>`
	refTestResult = `<tsResponse>
  <webhookTestResult id="9f9bcaf8-8c4c-403c-b7e1-10dd85620f00" status="200">
    <body></body>
  </webhookTestResult>
</tsResponse>`
	refError = `<?xml version="1.0" encoding="UTF-8"?>
<tsResponse xmlns="http://tableau.com/api">
  <error code="404002">
    <summary>Resource Not Found</summary>
    <detail>User '9f9e' could not be found.</detail>
  </error>
</tsResponse>`
	refServerInfo404 = `<tsResponse xmlns="http://tableau.com/api"><error code="404003"><summary>Resource Not Found</summary><detail>Unknown resource '/2.4/serverInfo' specified in URI.</detail></error></tsResponse>`
	refJSONError     = `{ "error": { "summary": "Resource Not Found", "detail": "Unknown resource '/exp/sites/x/webhooks/<Replace_Me>/test' specified in URI.", "code": "404003" } }`
	refPagination    = `<tsResponse xmlns="http://tableau.com/api"><pagination pageNumber="1" pageSize="10" totalAvailable="33"/><webhooks/></tsResponse>`
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeFixtures(t *testing.T) {
	created, err := decodeWebhook(readTestdata(t, "webhook_create.xml"))
	if err != nil {
		t.Fatalf("webhook_create.xml: %v", err)
	}
	// The placeholder legacy name is not in the catalogue: no event, no failure.
	want := Webhook{ID: "webhook-id", Name: "webhook-name", LegacyEvent: "webhook-source-api-event-name", URL: "url", Enabled: true, OwnerID: "webhook_owner_luid", OwnerName: "webhook_owner_name"}
	if created != want {
		t.Errorf("webhook_create.xml = %+v, want %+v", created, want)
	}

	page, err := decodeWebhookList(readTestdata(t, "webhook_get.xml"))
	if err != nil || len(page.Webhooks) != 1 || page.Paginated {
		t.Fatalf("webhook_get.xml = %+v, %v", page, err)
	}
	if w := page.Webhooks[0]; w.Event != "DatasourceCreated" || w.ID != "webhook-id" || !w.Enabled {
		t.Errorf("webhook_get.xml webhook = %+v, want the event derived from the legacy element", w)
	}

	// The request fixture has the same shape with a tsRequest root; it must decode too.
	req, err := decodeWebhook(readTestdata(t, "webhook_create_request.xml"))
	if err != nil || req.Name != "webhook-name" || req.Event != "" || req.LegacyEvent != "webhook-source-event-api-event-name" {
		t.Errorf("webhook_create_request.xml = %+v, %v", req, err)
	}
}

func TestDecodeWebhookForms(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    Webhook
		wantErr bool
	}{
		{
			name: "documented sample keeps the raw event attribute",
			body: refWebhookDoc,
			want: Webhook{ID: "webhook-id", Name: "webhook-name", Event: "api-event-name", LegacyEvent: "webhook-source-api-event-name", URL: "url", Enabled: true, OwnerID: "webhook_owner_luid", OwnerName: "webhook_owner_name"},
		},
		{
			name: "both forms, namespaced, disabled by Tableau, timestamps, unknown fields",
			body: `<tsResponse xmlns="http://tableau.com/api" xmlns:x="urn:x"><webhook id=" w1 " name="n" isEnabled="false" statusChangeReason="Webhook disabled due to repeated delivery failures" event="WorkbookDeleted" createdAt="2026-01-02T03:04:05Z" updatedAt="2026-01-03T03:04:05Z" x:extra="1" futureAttr="y"><webhook-source><webhook-source-event-workbook-deleted/></webhook-source><webhook-destination><webhook-destination-http method="POST" url="https://h/x"/></webhook-destination><owner id="o" name="admin@example.com"/><futureElement><deep/></futureElement></webhook></tsResponse>`,
			want: Webhook{ID: "w1", Name: "n", Event: "WorkbookDeleted", LegacyEvent: "webhook-source-event-workbook-deleted", URL: "https://h/x", StatusChangeReason: "Webhook disabled due to repeated delivery failures", OwnerID: "o", OwnerName: "admin@example.com", CreatedAt: "2026-01-02T03:04:05Z", UpdatedAt: "2026-01-03T03:04:05Z"},
		},
		{
			name: "legacy admin event without source- infix",
			body: `<tsResponse><webhook id="a" name="n"><webhook-source><webhook-event-user-promoted-admin/></webhook-source></webhook></tsResponse>`,
			want: Webhook{ID: "a", Name: "n", Event: "AdminPromoted", LegacyEvent: "webhook-event-user-promoted-admin", Enabled: true},
		},
		{
			name: "legacy LabelDeleted as documented",
			body: `<tsResponse><webhook id="a" name="n" isEnabled="true"><webhook-source><webhook-source-event-label-LabelDeleted/></webhook-source></webhook></tsResponse>`,
			want: Webhook{ID: "a", Name: "n", Event: "LabelDeleted", LegacyEvent: "webhook-source-event-label-LabelDeleted", Enabled: true},
		},
		{
			name: "prefixed namespace, capitalised boolean",
			body: `<t:tsResponse xmlns:t="http://tableau.com/api"><t:webhook id="a" name="n" isEnabled="False" event="SiteCreated"><t:webhook-destination><t:webhook-destination-http url="https://u"/></t:webhook-destination></t:webhook></t:tsResponse>`,
			want: Webhook{ID: "a", Name: "n", Event: "SiteCreated", URL: "https://u"},
		},
		{
			// A bare <webhook> root has no <webhook> child: an error, not a zero webhook.
			name:    "no webhook element",
			body:    `<webhook id="a" name="n"/>`,
			wantErr: true,
		},
		{name: "not XML", body: `{"webhook":{}}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeWebhook([]byte(tt.body))
			if tt.wantErr {
				if err == nil {
					t.Errorf("decoded %+v, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v\nwant %+v", got, err, tt.want)
			}
		})
	}
}

func TestDecodeList(t *testing.T) {
	page, err := decodeWebhookList([]byte(refWebhooksDoc))
	if err != nil || len(page.Webhooks) != 1 || page.Webhooks[0].ID != "webhook-id" {
		t.Errorf("documented list = %+v, %v", page, err)
	}
	page, err = decodeWebhookList([]byte(refPagination))
	if err != nil || !page.Paginated || page.PageNumber != 1 || page.PageSize != 10 || page.TotalAvailable != 33 || len(page.Webhooks) != 0 {
		t.Errorf("pagination = %+v, %v", page, err)
	}
	page, err = decodeWebhookList([]byte(`<tsResponse xmlns="http://tableau.com/api"><webhooks></webhooks></tsResponse>`))
	if err != nil || len(page.Webhooks) != 0 {
		t.Errorf("empty list = %+v, %v", page, err)
	}
	if _, err := decodeWebhookList([]byte(`<tsResponse/>`)); err == nil {
		t.Error("a response without <webhooks> decoded as an empty list")
	}
}

func TestDecodeTestResult(t *testing.T) {
	r, err := decodeTestResult([]byte(refTestResult))
	if err != nil || r != (TestResult{WebhookID: "9f9bcaf8-8c4c-403c-b7e1-10dd85620f00", Status: 200}) {
		t.Errorf("documented test result = %+v, %v", r, err)
	}
	for status, want := range map[string]int{"404": 404, " 408 ": 408, "401 Unauthorized": 401, "n/a": 0, "": 0, "99999999999999": 999999999} {
		body := `<tsResponse><webhookTestResult id="w" status="` + status + `"><body><![CDATA[<p>hi</p>]]></body></webhookTestResult></tsResponse>`
		r, err := decodeTestResult([]byte(body))
		if err != nil || r.Status != want || r.Body != "<p>hi</p>" {
			t.Errorf("status %q: %+v, %v; want %d", status, r, err, want)
		}
	}
}

func TestDecodeServerInfoAndSignIn(t *testing.T) {
	info, err := decodeServerInfo([]byte(refServerInfo))
	if err != nil || info != (ServerInfo{ProductVersion: "10.1.0", Build: "10100.16.1024.2100", RESTAPIVersion: "3.10"}) {
		t.Errorf("serverinfo = %+v, %v", info, err)
	}
	res, err := decodeSignIn([]byte(refSignIn))
	if err != nil || res.token != "eIX6mvFsqyansa4KqEI1UwOpS8ggRs2l" || res.session != (Session{SiteID: "6b7179ba-b82b-4f0f-91ed-812074ac5da6", SiteContentURL: "Samples", UserID: "1a96d216-e9b8-497b-a82a-0b899a965e01"}) {
		t.Errorf("sign-in = %+v, %v", res.session, err)
	}
	res, err = decodeSignIn([]byte(refSignInModern))
	if err != nil || res.session.SiteID != "2ff64d57-b7c1-4e99-803c-13bb81ae0371" || res.session.SiteContentURL != "" {
		t.Errorf("modern sign-in = %+v, %v", res.session, err)
	}
	if _, err := decodeSignIn([]byte(`<tsResponse><credentials><site id="s"/></credentials></tsResponse>`)); err == nil {
		t.Error("sign-in without a token accepted")
	}
}

func TestDecodeError(t *testing.T) {
	tests := []struct {
		name string
		body string
		want apiError
		ok   bool
	}{
		{"documented XML", refError, apiError{"404002", "Resource Not Found", "User '9f9e' could not be found."}, true},
		{"serverinfo 404", refServerInfo404, apiError{"404003", "Resource Not Found", "Unknown resource '/2.4/serverInfo' specified in URI."}, true},
		{"sign-in error", `<tsResponse><error code="401001"><summary>Signin Error</summary><detail>Error signing in to Tableau Server</detail></error></tsResponse>`, apiError{"401001", "Signin Error", "Error signing in to Tableau Server"}, true},
		{"bare error root", `<error code="401000"><summary>Unauthorized Access</summary></error>`, apiError{Code: "401000", Summary: "Unauthorized Access"}, true},
		{"JSON string code", refJSONError, apiError{"404003", "Resource Not Found", "Unknown resource '/exp/sites/x/webhooks/<Replace_Me>/test' specified in URI."}, true},
		{"JSON numeric code", `{"error":{"code":500000,"summary":"Internal Server Error"}}`, apiError{Code: "500000", Summary: "Internal Server Error"}, true},
		{"HTML 429", `<html><head><title>429</title></head><body>Too many requests<br></body></html>`, apiError{}, false},
		{"well-formed HTML", `<html><body>busy</body></html>`, apiError{}, false},
		{"plain text", `Too Many Requests`, apiError{}, false},
		{"empty", ``, apiError{}, false},
		{"other JSON", `{"message":"nope"}`, apiError{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := decodeError([]byte(tt.body))
			if ok != tt.ok || got != tt.want {
				t.Errorf("decodeError = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                              0,
		"30":                            30 * time.Second,
		" 0 ":                           0,
		"-5":                            0,
		"1.5":                           0,
		"Sun, 01 Nov 2026 12:01:30 GMT": 90 * time.Second,
		"Sun, 01 Nov 2026 11:00:00 GMT": 0, // in the past
		"99999999999999999999999":       maxRetryAfter,
		"soon":                          0,
	}
	for in, want := range tests {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestEncodeWebhookEscapes(t *testing.T) {
	spec := WebhookSpec{Name: `a"<b>&'`, Event: "WorkbookCreated", URL: "https://h/x?a=1&b=2", Enabled: false}
	body, err := encodeWebhook(spec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeWebhook(body)
	if err != nil || got.Name != spec.Name || got.URL != spec.URL || got.Event != spec.Event || got.Enabled {
		t.Errorf("round trip of %s = %+v, %v", body, got, err)
	}
}
