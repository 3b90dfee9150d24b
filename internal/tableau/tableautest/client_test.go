package tableautest

// Raw HTTP requests and independent response decoders: the tests speak to the simulator the
// way Tableau's clients do, and read its answers with their own structs rather than the
// simulator's encoders, so that a symmetric encode/decode bug cannot hide.

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	xmlCT  = "application/xml"
	jsonCT = "application/json"
)

type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// call sends one request. Header keys are sent exactly as given (TSC sends lowercase
// "x-tableau-auth"), so the simulator's case-insensitivity is really exercised.
func call(t testing.TB, srv *Server, method, path string, header map[string]string, body string) rawResponse {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = []string{v}
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{resp.StatusCode, resp.Header, b}
}

func xmlHeaders(token string) map[string]string {
	h := map[string]string{"Content-Type": xmlCT, "Accept": xmlCT}
	if token != "" {
		h["X-Tableau-Auth"] = token
	}
	return h
}

func jsonHeaders(token string) map[string]string {
	h := map[string]string{"Content-Type": jsonCT, "Accept": jsonCT}
	if token != "" {
		h["X-Tableau-Auth"] = token
	}
	return h
}

// tsResponse reads every response document the tests look at.
type tsResponse struct {
	XMLName xml.Name
	Error   *struct {
		Code    string `xml:"code,attr"`
		Summary string `xml:"summary"`
		Detail  string `xml:"detail"`
	} `xml:"error"`
	Credentials *struct {
		Token      string `xml:"token,attr"`
		Expiration string `xml:"estimatedTimeToExpiration,attr"`
		Site       struct {
			ID         string `xml:"id,attr"`
			ContentURL string `xml:"contentUrl,attr"`
		} `xml:"site"`
		User struct {
			ID string `xml:"id,attr"`
		} `xml:"user"`
	} `xml:"credentials"`
	ServerInfo *struct {
		ProductVersion struct {
			Build string `xml:"build,attr"`
			Value string `xml:",chardata"`
		} `xml:"productVersion"`
		RestAPIVersion string `xml:"restApiVersion"`
	} `xml:"serverInfo"`
	Pagination *struct {
		PageNumber     int `xml:"pageNumber,attr"`
		PageSize       int `xml:"pageSize,attr"`
		TotalAvailable int `xml:"totalAvailable,attr"`
	} `xml:"pagination"`
	Webhook  *xmlHook `xml:"webhook"`
	Webhooks *struct {
		Webhook []xmlHook `xml:"webhook"`
	} `xml:"webhooks"`
	TestResult *struct {
		ID     string `xml:"id,attr"`
		Status string `xml:"status,attr"`
		Body   string `xml:"body"`
	} `xml:"webhookTestResult"`
}

type xmlHook struct {
	ID                 string  `xml:"id,attr"`
	Name               string  `xml:"name,attr"`
	IsEnabled          *string `xml:"isEnabled,attr"`
	StatusChangeReason *string `xml:"statusChangeReason,attr"`
	Event              string  `xml:"event,attr"`
	CreatedAt          string  `xml:"createdAt,attr"`
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

// legacy returns the single element name inside <webhook-source>.
func (h xmlHook) legacy(t *testing.T) string {
	t.Helper()
	if len(h.Source.Events) != 1 {
		t.Fatalf("webhook-source has %d children, want 1", len(h.Source.Events))
	}
	return h.Source.Events[0].XMLName.Local
}

// decodeXML decodes a response and checks it is Tableau's namespaced tsResponse.
func decodeXML(t testing.TB, r rawResponse) tsResponse {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.Contains(ct, "xml") {
		t.Fatalf("Content-Type = %q, want XML; body %s", ct, r.Body)
	}
	var doc tsResponse
	if err := xml.Unmarshal(r.Body, &doc); err != nil {
		t.Fatalf("decode XML: %v\n%s", err, r.Body)
	}
	if doc.XMLName.Local != "tsResponse" || doc.XMLName.Space != "http://tableau.com/api" {
		t.Fatalf("root = %v, want {http://tableau.com/api tsResponse}", doc.XMLName)
	}
	return doc
}

// decodeJSON decodes a response into generic maps, to check the exact JSON types.
func decodeJSON(t *testing.T, r rawResponse) map[string]any {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.Contains(ct, "json") {
		t.Fatalf("Content-Type = %q, want JSON; body %s", ct, r.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("decode JSON: %v\n%s", err, r.Body)
	}
	return m
}

// jget walks nested JSON objects.
func jget(t *testing.T, m any, path ...string) any {
	t.Helper()
	cur := m
	for _, k := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("at %q: %T is not an object", k, cur)
		}
		if cur, ok = obj[k]; !ok {
			t.Fatalf("key %q missing in %v", k, obj)
		}
	}
	return cur
}

// wantStatus fails unless the response has the status.
func wantStatus(t testing.TB, r rawResponse, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body:\n%s", r.Status, status, r.Body)
	}
}

// wantXMLError checks an XML Tableau error.
func wantXMLError(t *testing.T, r rawResponse, status int, code string) {
	t.Helper()
	wantStatus(t, r, status)
	doc := decodeXML(t, r)
	if doc.Error == nil || doc.Error.Code != code {
		t.Fatalf("error code = %+v, want %s; body %s", doc.Error, code, r.Body)
	}
	if doc.Error.Summary == "" || doc.Error.Detail == "" {
		t.Fatalf("error without summary or detail: %s", r.Body)
	}
}

// wantJSONError checks a JSON Tableau error: code is a string.
func wantJSONError(t *testing.T, r rawResponse, status int, code string) {
	t.Helper()
	wantStatus(t, r, status)
	m := decodeJSON(t, r)
	if got := jget(t, m, "error", "code"); got != code {
		t.Fatalf("error code = %#v, want string %q", got, code)
	}
}

const apiVersion = "3.24"

func api(path string) string { return "/api/" + apiVersion + path }

func webhooksPath(siteID string) string { return api("/sites/" + siteID + "/webhooks") }

// signInPAT signs in with the REFERENCE XML PAT sample and returns the token and site id.
func signInPAT(t testing.TB, srv *Server, contentURL, name, secret string) (token, siteID string) {
	t.Helper()
	body := `<tsRequest>
  <credentials personalAccessTokenName="` + name + `" personalAccessTokenSecret="` + secret + `">
    <site contentUrl="` + contentURL + `" />
  </credentials>
</tsRequest>`
	r := call(t, srv, http.MethodPost, api("/auth/signin"), xmlHeaders(""), body)
	wantStatus(t, r, http.StatusOK)
	doc := decodeXML(t, r)
	return doc.Credentials.Token, doc.Credentials.Site.ID
}

// formA is REFERENCE §2.2's recommended create body.
func formA(name, event, url string) string {
	return `<tsRequest>
  <webhook name="` + name + `" event="` + event + `">
    <webhook-destination>
      <webhook-destination-http method="POST" url="` + url + `" />
    </webhook-destination>
  </webhook>
</tsRequest>`
}

// formB is REFERENCE §2.2's legacy create body.
func formB(name, legacy, url string) string {
	return `<tsRequest>
  <webhook name="` + name + `">
    <webhook-source>
      <` + legacy + ` />
    </webhook-source>
    <webhook-destination>
      <webhook-destination-http method="POST" url="` + url + `" />
    </webhook-destination>
  </webhook>
</tsRequest>`
}

// createXML creates a webhook with form A and returns it.
func createXML(t *testing.T, srv *Server, token, siteID, name, event, url string) xmlHook {
	t.Helper()
	r := call(t, srv, http.MethodPost, webhooksPath(siteID), xmlHeaders(token), formA(name, event, url))
	wantStatus(t, r, http.StatusCreated)
	return *decodeXML(t, r).Webhook
}

// fakeClock is a clock tests move forward instead of sleeping.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
