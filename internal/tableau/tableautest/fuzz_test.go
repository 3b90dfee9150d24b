package tableautest

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// The decoders face whatever a client sends; they must reject garbage with an error, never
// panic. Seeds are REFERENCE.md's samples.

var webhookXMLSeeds = []string{
	formA("WEBHOOK_NAME", "DatasourceRefreshStarted", "https://example.com/hook"),
	formB("WEBHOOK_NAME", "webhook-source-event-datasource-refresh-started", "https://example.com/hook"),
	formB("WEBHOOK_NAME", "webhook-event-user-promoted-admin", "https://example.com/hook"),
	`<tsRequest>
  <webhook name="NEW_NAME" isEnabled="false" statusChangeReason="paused for maintenance" event="WorkbookCreated">
    <webhook-destination>
      <webhook-destination-http method="POST" url="https://example.com/hook" />
    </webhook-destination>
  </webhook>
</tsRequest>`,
	`<tsRequest xmlns="http://tableau.com/api"><webhook name="n"/></tsRequest>`,
	"\xef\xbb\xbf<tsRequest><webhook/></tsRequest>",
	`<tsRequest><webhook><webhook-destination><webhook-destination-http/><webhook-destination-http/></webhook-destination></webhook></tsRequest>`,
	``, `<`, `<tsRequest>`,
}

var webhookJSONSeeds = []string{
	`{ "webhook": {
    "webhook-destination": { "webhook-destination-http": { "method": "POST", "url": "https://example.com/hook" } },
    "event": "DatasourceRefreshStarted",
    "name": "WEBHOOK_NAME" } }`,
	`{ "webhook": {
    "webhook-source": { "webhook-source-event-datasource-refresh-started": {} },
    "webhook-destination": { "webhook-destination-http": { "method": "POST", "url": "https://example.com/hook" } },
    "name": "WEBHOOK_NAME" } }`,
	`{ "webhook": {
    "webhook-destination": { "webhook-destination-http": { "method": "POST", "url": "https://example.com/hook" } },
    "event": "WorkbookCreated", "name": "NEW_NAME",
    "isEnabled": "false", "statusChangeReason": "paused for maintenance" } }`,
	`{"webhook":{"isEnabled":true}}`, `{"webhook":null}`, `null`, `[]`, `{`, ``,
}

// checkWebhookFields runs everything the handlers do with a decoded body.
func checkWebhookFields(f webhookFields) {
	_, _, _ = resolveEvent(f)
	_ = validateDestination(f.Method, f.URL)
}

func FuzzDecodeWebhookRequestXML(f *testing.F) {
	for _, s := range webhookXMLSeeds {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile("testdata/webhook_create_request.xml"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if fields, err := decodeWebhookXML(body); err == nil {
			checkWebhookFields(fields)
		}
		_, _ = requestFormat("", body)
	})
}

func FuzzDecodeWebhookRequestJSON(f *testing.F) {
	for _, s := range webhookJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if fields, err := decodeWebhookJSON(body); err == nil {
			checkWebhookFields(fields)
		}
	})
}

func FuzzDecodeSignInXML(f *testing.F) {
	for _, s := range []string{
		`<tsRequest>
  <credentials personalAccessTokenName="PAT_NAME" personalAccessTokenSecret="PAT_SECRET">
    <site contentUrl="SITE_CONTENT_URL" />
  </credentials>
</tsRequest>`,
		`<tsRequest>
  <credentials name="USERNAME" password="PASSWORD">
    <site contentUrl="SITE_CONTENT_URL" />
  </credentials>
</tsRequest>`,
		`<tsRequest><credentials name="a" password="b"><site contentUrl=""/><user id="x"/></credentials></tsRequest>`,
		`<tsRequest><credentials jwt="e30.e30."/></tsRequest>`,
		``, `<tsRequest/>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = decodeSignInXML(body)
	})
}

func FuzzDecodeSignInJSON(f *testing.F) {
	for _, s := range []string{
		`{ "credentials": {
    "site": { "contentUrl": "SITE_CONTENT_URL" },
    "personalAccessTokenName": "PAT_NAME",
    "personalAccessTokenSecret": "PAT_SECRET" } }`,
		`{ "credentials": {
    "site": { "contentUrl": "SITE_CONTENT_URL" },
    "name": "USERNAME", "password": "PASSWORD" } }`,
		`{"credentials":{"site":null}}`, `{"credentials":[]}`, `{}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = decodeSignInJSON(body)
	})
}

// FuzzHandler sends arbitrary bodies and content types to every endpoint of a live
// simulator: whatever arrives, it answers with a status and never panics.
func FuzzHandler(f *testing.F) {
	for _, s := range append(append([]string{}, webhookXMLSeeds...), webhookJSONSeeds...) {
		f.Add("POST", "webhooks", "application/xml", []byte(s))
		f.Add("PUT", "webhook", "application/json", []byte(s))
	}
	f.Add("POST", "signin", "text/xml", []byte(`<tsRequest><credentials personalAccessTokenName="other" personalAccessTokenSecret="x"/></tsRequest>`))
	srv := NewServer(WithPAT("op", "s3cr3t"), WithPAT("other", "x"))
	defer srv.Close()
	token, siteID := signInPAT(f, srv, "", "op", "s3cr3t")
	hook := srv.AddWebhook("", Webhook{Name: "h", Event: "WorkbookCreated", URL: hookURL, Enabled: true})
	paths := map[string]string{
		"webhooks": webhooksPath(siteID), "webhook": webhooksPath(siteID) + "/" + hook.ID,
		"signin": api("/auth/signin"), "serverinfo": api("/serverinfo"),
	}
	// A client timeout turns a request the simulator never answers into a failure.
	client := srv.Client()
	client.Timeout = 10 * time.Second
	f.Fuzz(func(t *testing.T, method, target, contentType string, body []byte) {
		path, ok := paths[target]
		if !ok || (method != "POST" && method != "PUT" && method != "GET") ||
			strings.ContainsFunc(contentType, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return // not a request net/http's client can send
		}
		req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("X-Tableau-Auth", token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s %q %q: %v", method, target, contentType, body, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body) // drained, so the connection is reused
		_ = resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 599 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if target == "webhook" && method == "PUT" && resp.StatusCode == http.StatusOK {
			// Updates may rename or retarget, never lose the webhook.
			if _, ok := srv.Webhook("", hook.ID); !ok {
				t.Fatal("update lost the webhook")
			}
		}
	})
}
