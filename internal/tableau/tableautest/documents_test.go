package tableautest

// The document cases: every kind of answer the simulator's REST API gives, produced by real
// requests to a running simulator, for the schema test (schema_test.go) and the JSON mapping
// test (jsonmapping_test.go). Each case can be requested in XML and in JSON, so that the two
// answers can be compared.

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// schemaSourceElements are the children webhookSourceType allows in ts-api_3_29.xsd and
// ts-api_3_27.xsd (TestSchemaLegacyEventNames checks this list against both files). A
// webhook whose event is not among them cannot be described by the schema.
var schemaSourceElements = []string{
	"webhook-source-event-datasource-created",
	"webhook-source-event-datasource-deleted",
	"webhook-source-event-datasource-refresh-failed",
	"webhook-source-event-datasource-refresh-started",
	"webhook-source-event-datasource-refresh-succeeded",
	"webhook-source-event-datasource-updated",
	"webhook-source-event-flow-completed",
	"webhook-source-event-label-created",
	"webhook-source-event-label-deleted",
	"webhook-source-event-label-updated",
	"webhook-source-event-view-deleted",
	"webhook-source-event-workbook-created",
	"webhook-source-event-workbook-deleted",
	"webhook-source-event-workbook-refresh-failed",
	"webhook-source-event-workbook-refresh-started",
	"webhook-source-event-workbook-refresh-succeeded",
	"webhook-source-event-workbook-updated",
}

// catalogueEvents splits the event catalogue into the events whose <webhook-source> element
// the schema lists and those it does not (the site, user and admin events).
func catalogueEvents() (inSchema, outside []string) {
	for _, e := range tableau.Events {
		if slices.Contains(schemaSourceElements, legacyName(e.Name)) {
			inSchema = append(inSchema, e.Name)
		} else {
			outside = append(outside, e.Name)
		}
	}
	return inSchema, outside
}

// deviation is a schema error the simulator answers with on purpose, because Tableau does.
type deviation struct {
	match string // a substring of xmllint's message
	why   string
}

// restAPIVersionDeviation: the schema gives restApiVersion the build-number pattern of
// productVersion's build attribute, which no REST API version ("3.24") can match. Every
// client reads restApiVersion as "MAJOR.MINOR" (TSC's use_server_version, this project's
// client), so the simulator keeps answering what Tableau answers.
var restAPIVersionDeviation = deviation{
	match: "Element '{http://tableau.com/api}restApiVersion': [facet 'pattern'] The value '" + DefaultAPIVersion +
		"' is not accepted by the pattern '[0-9]{5}.[0-9]{2}.[0-9]{4}.[0-9]{4}'",
	why: "the schema's restApiVersion type has the build-number pattern; real servers send e.g. 3.24",
}

// outsideSchemaDeviation is the error for a webhook whose legacy event element the schema
// does not list; a Tableau maintainer calls these names a live extension not yet in the
// published XSD (REFERENCE 10.1).
func outsideSchemaDeviation(legacy string) deviation {
	return deviation{
		match: "Element '{http://tableau.com/api}" + legacy + "': This element is not expected.",
		why:   "the schema's webhookSourceType does not list " + legacy,
	}
}

// docCase is one answer of the REST API.
type docCase struct {
	name   string
	status int
	// setup runs once, before the case is requested (in one or both formats).
	setup func(t *testing.T, e *docEnv)
	// do sends the request in format f.
	do func(t *testing.T, e *docEnv, f format) rawResponse
	// noBody: the answer has no body (204), so there is nothing to validate or convert.
	noBody bool
	// deviations are the schema errors expected in the XML answer.
	deviations []deviation
	// volatile are the JSON paths whose values differ between two requests (a fresh webhook
	// id or token, a parser's message); the JSON comparison requires them in both answers and
	// then ignores their values.
	volatile [][]string
}

// docEnv is a simulator with what the cases need: an administrator's password session on
// the Default site and one on a second site, a non-administrator's session, and an https
// destination for Test Webhook.
type docEnv struct {
	srv                 *Server
	hookURL             string // answers 200 "received"
	missingURL          string // answers 404 "no such hook"
	token, siteID       string // administrator, Default site
	otherToken, otherID string // administrator, site "marketing"
	viewerToken         string // Explorer, Default site
	hooks               map[string]string
}

func newDocEnv(t *testing.T) *docEnv {
	t.Helper()
	receiver := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/missing" {
			http.Error(w, "no such hook", http.StatusNotFound)
			return
		}
		_, _ = io.WriteString(w, "received")
	}))
	t.Cleanup(receiver.Close)
	// A fixed clock: createdAt, updatedAt and token lifetimes are the same in every answer,
	// so that an XML answer and a JSON answer to the same request can be compared.
	clock := newFakeClock()
	srv := NewServer(WithSite(""), WithSite("marketing"), WithUser("admin", "pw"), WithPAT("op-pat", "s3cr3t"),
		WithNonAdminPAT("viewer", "v"), WithDeliveryClient(receiver.Client()), WithClock(clock.Now))
	t.Cleanup(srv.Close)
	e := &docEnv{srv: srv, hookURL: receiver.URL + "/hook", missingURL: receiver.URL + "/missing", hooks: map[string]string{}}
	e.token, e.siteID = e.signInPassword(t, "")
	e.otherToken, e.otherID = e.signInPassword(t, "marketing")
	e.viewerToken, _ = signInPAT(t, srv, "", "viewer", "v")
	return e
}

// signInPassword opens a password session, which (unlike a PAT's) later sign-ins leave open.
func (e *docEnv) signInPassword(t *testing.T, contentURL string) (token, siteID string) {
	t.Helper()
	r := call(t, e.srv, http.MethodPost, api("/auth/signin"), xmlHeaders(""), signInPasswordBody("admin", "pw", contentURL))
	wantStatus(t, r, http.StatusOK)
	doc := decodeXML(t, r)
	return doc.Credentials.Token, doc.Credentials.Site.ID
}

func signInPasswordBody(name, password, contentURL string) string {
	return `<tsRequest><credentials name="` + name + `" password="` + password + `"><site contentUrl="` + contentURL + `"/></credentials></tsRequest>`
}

func signInPATBody(name, secret, contentURL string) string {
	return `<tsRequest><credentials personalAccessTokenName="` + name + `" personalAccessTokenSecret="` + secret +
		`"><site contentUrl="` + contentURL + `"/></credentials></tsRequest>`
}

// send sends a request in format f: the XML body as given, or in JSON the same body by
// REFERENCE §0's mapping.
func (e *docEnv) send(t *testing.T, f format, method, path, token, xmlBody string) rawResponse {
	t.Helper()
	h, body := xmlHeaders(token), xmlBody
	if f == formatJSON {
		h = jsonHeaders(token)
		if xmlBody != "" {
			body = requestJSON(t, xmlBody)
		}
	}
	return call(t, e.srv, method, path, h, body)
}

// create makes a webhook with an XML request (in setup, where the answer is not the point).
func (e *docEnv) create(t *testing.T, key, body string) {
	t.Helper()
	r := call(t, e.srv, http.MethodPost, webhooksPath(e.siteID), xmlHeaders(e.token), body)
	wantStatus(t, r, http.StatusCreated)
	e.hooks[key] = decodeXML(t, r).Webhook.ID
}

func (e *docEnv) hookPath(key string) string { return webhooksPath(e.siteID) + "/" + e.hooks[key] }

// getCase is a Get Webhook of the webhook setup stored under key.
func getCase(name, key string, setup func(t *testing.T, e *docEnv), devs ...deviation) docCase {
	return docCase{
		name: name, status: http.StatusOK, setup: setup, deviations: devs,
		do: func(t *testing.T, e *docEnv, f format) rawResponse {
			return e.send(t, f, http.MethodGet, e.hookPath(key), e.token, "")
		},
	}
}

// errorCase is a request answered with a Tableau error.
func errorCase(name string, status int, do func(t *testing.T, e *docEnv, f format) rawResponse) docCase {
	return docCase{name: name, status: status, do: do}
}

// faulted sends a request while f is injected.
func faulted(faults Faults, method string, path func(e *docEnv) string) func(t *testing.T, e *docEnv, f format) rawResponse {
	return func(t *testing.T, e *docEnv, f format) rawResponse {
		e.srv.SetFaults(faults)
		defer e.srv.ClearFaults()
		return e.send(t, f, method, path(e), e.token, "")
	}
}

var unknownLUID = "0b5e5a55-0000-4000-8000-000000000000"

// documentCases lists the answers in the order they are requested: the state they read
// (lists, gets) is set up by the cases and setups before them.
func documentCases() []docCase {
	inSchema, outside := catalogueEvents()
	list := func(e *docEnv) string { return webhooksPath(e.siteID) }
	cases := []docCase{
		{name: "serverinfo", status: http.StatusOK, deviations: []deviation{restAPIVersionDeviation},
			do: func(t *testing.T, e *docEnv, f format) rawResponse {
				return e.send(t, f, http.MethodGet, api("/serverinfo"), "", "")
			}},
		{name: "sign-in PAT", status: http.StatusOK, volatile: [][]string{{"credentials", "token"}},
			do: func(t *testing.T, e *docEnv, f format) rawResponse {
				return e.send(t, f, http.MethodPost, api("/auth/signin"), "", signInPATBody("op-pat", "s3cr3t", ""))
			}},
		{name: "sign-in password", status: http.StatusOK, volatile: [][]string{{"credentials", "token"}},
			do: func(t *testing.T, e *docEnv, f format) rawResponse {
				return e.send(t, f, http.MethodPost, api("/auth/signin"), "", signInPasswordBody("admin", "pw", "marketing"))
			}},
		{name: "sign-out", status: http.StatusNoContent, noBody: true,
			do: func(t *testing.T, e *docEnv, f format) rawResponse {
				token, _ := e.signInPassword(t, "")
				return e.send(t, f, http.MethodPost, api("/auth/signout"), token, "")
			}},
		{name: "list webhooks, empty", status: http.StatusOK,
			do: func(t *testing.T, e *docEnv, f format) rawResponse {
				return e.send(t, f, http.MethodGet, webhooksPath(e.otherID), e.otherToken, "")
			}},
		{name: "create webhook, event attribute", status: http.StatusCreated, volatile: [][]string{{"webhook", "id"}},
			do: func(t *testing.T, e *docEnv, f format) rawResponse {
				return e.send(t, f, http.MethodPost, list(e), e.token, formA("form-a", "DatasourceRefreshFailed", e.hookURL))
			}},
		{name: "create webhook, webhook-source element", status: http.StatusCreated, volatile: [][]string{{"webhook", "id"}},
			do: func(t *testing.T, e *docEnv, f format) rawResponse {
				return e.send(t, f, http.MethodPost, list(e), e.token, formB("form-b", "webhook-source-event-workbook-deleted", e.hookURL))
			}},
		{name: "create webhook, both forms, disabled", status: http.StatusCreated, volatile: [][]string{{"webhook", "id"}},
			do: func(t *testing.T, e *docEnv, f format) rawResponse {
				body := `<tsRequest><webhook name="both" isEnabled="false" event="LabelDeleted"><webhook-source>` +
					`<webhook-source-event-label-LabelDeleted/></webhook-source><webhook-destination>` +
					`<webhook-destination-http method="POST" url="` + e.hookURL + `"/></webhook-destination></webhook></tsRequest>`
				return e.send(t, f, http.MethodPost, list(e), e.token, body)
			}},
		getCase("get webhook", "get", func(t *testing.T, e *docEnv) {
			e.create(t, "get", formA("get-me", "WorkbookCreated", e.hookURL))
		}),
		{name: "update webhook, rename and disable with a reason", status: http.StatusOK,
			setup: func(t *testing.T, e *docEnv) { e.create(t, "update", formA("update-me", "WorkbookUpdated", e.hookURL)) },
			do: func(t *testing.T, e *docEnv, f format) rawResponse {
				body := `<tsRequest><webhook name="updated" isEnabled="false" statusChangeReason="paused for maintenance" event="WorkbookCreated">` +
					`<webhook-destination><webhook-destination-http method="POST" url="` + e.hookURL + `"/></webhook-destination></webhook></tsRequest>`
				return e.send(t, f, http.MethodPut, e.hookPath("update"), e.token, body)
			}},
		{name: "update webhook, enable", status: http.StatusOK,
			do: func(t *testing.T, e *docEnv, f format) rawResponse {
				return e.send(t, f, http.MethodPut, e.hookPath("update"), e.token, `<tsRequest><webhook isEnabled="true"/></tsRequest>`)
			}},
		{name: "test webhook, destination answers 200", status: http.StatusOK,
			do: func(t *testing.T, e *docEnv, f format) rawResponse {
				return e.send(t, f, http.MethodGet, e.hookPath("get")+"/test", e.token, "")
			}},
		{name: "test webhook, destination answers 404", status: http.StatusOK,
			setup: func(t *testing.T, e *docEnv) { e.create(t, "missing", formA("missing", "ViewDeleted", e.missingURL)) },
			do: func(t *testing.T, e *docEnv, f format) rawResponse {
				return e.send(t, f, http.MethodGet, e.hookPath("missing")+"/test", e.token, "")
			}},
		{name: "delete webhook", status: http.StatusNoContent, noBody: true,
			do: func(t *testing.T, e *docEnv, f format) rawResponse {
				e.create(t, "delete", formA("delete-me", "WorkbookCreated", e.hookURL))
				return e.send(t, f, http.MethodDelete, e.hookPath("delete"), e.token, "")
			}},
		{name: "list webhooks, every event the schema lists, both request forms", status: http.StatusOK,
			setup: func(t *testing.T, e *docEnv) {
				for _, ev := range inSchema {
					e.create(t, "every-"+ev, formA("every-"+ev, ev, e.hookURL))
					e.create(t, "legacy-"+ev, formB("legacy-"+ev, legacyName(ev), e.hookURL))
				}
				e.srv.AddWebhook("", Webhook{Name: "foreign", Event: "DatasourceCreated", URL: e.hookURL, Enabled: true})
			},
			do: func(t *testing.T, e *docEnv, f format) rawResponse {
				return e.send(t, f, http.MethodGet, list(e), e.token, "")
			}},

		// Errors, by code.
		errorCase("401000 no token", http.StatusUnauthorized, func(t *testing.T, e *docEnv, f format) rawResponse {
			return e.send(t, f, http.MethodGet, list(e), "", "")
		}),
		errorCase("401001 sign-in refused", http.StatusUnauthorized, func(t *testing.T, e *docEnv, f format) rawResponse {
			return e.send(t, f, http.MethodPost, api("/auth/signin"), "", signInPATBody("op-pat", "wrong", ""))
		}),
		errorCase("401002 unknown token", http.StatusUnauthorized, func(t *testing.T, e *docEnv, f format) rawResponse {
			return e.send(t, f, http.MethodGet, list(e), "not-a-token", "")
		}),
		errorCase("403000 another site's token", http.StatusForbidden, func(t *testing.T, e *docEnv, f format) rawResponse {
			return e.send(t, f, http.MethodGet, webhooksPath(e.otherID), e.token, "")
		}),
		errorCase("403004 not a site administrator", http.StatusForbidden, func(t *testing.T, e *docEnv, f format) rawResponse {
			return e.send(t, f, http.MethodGet, list(e), e.viewerToken, "")
		}),
		errorCase("404000 unknown site", http.StatusNotFound, func(t *testing.T, e *docEnv, f format) rawResponse {
			return e.send(t, f, http.MethodGet, webhooksPath(unknownLUID), e.token, "")
		}),
		errorCase("404040 get unknown webhook", http.StatusNotFound, func(t *testing.T, e *docEnv, f format) rawResponse {
			return e.send(t, f, http.MethodGet, list(e)+"/"+unknownLUID, e.token, "")
		}),
		errorCase("404040 delete unknown webhook", http.StatusNotFound, func(t *testing.T, e *docEnv, f format) rawResponse {
			return e.send(t, f, http.MethodDelete, list(e)+"/"+unknownLUID, e.token, "")
		}),
		errorCase("404003 serverinfo below 2.4", http.StatusNotFound, func(t *testing.T, e *docEnv, f format) rawResponse {
			return e.send(t, f, http.MethodGet, "/api/2.3/serverInfo", "", "")
		}),
		errorCase("404003 webhooks below 3.6", http.StatusNotFound, func(t *testing.T, e *docEnv, f format) rawResponse {
			return e.send(t, f, http.MethodGet, "/api/3.5/sites/"+e.siteID+"/webhooks", e.token, "")
		}),
		errorCase("400000 create without a name", http.StatusBadRequest, func(t *testing.T, e *docEnv, f format) rawResponse {
			return e.send(t, f, http.MethodPost, list(e), e.token, formA("", "WorkbookCreated", e.hookURL))
		}),
		errorCase("400000 create with an http destination", http.StatusBadRequest, func(t *testing.T, e *docEnv, f format) rawResponse {
			return e.send(t, f, http.MethodPost, list(e), e.token, formA("plain", "WorkbookCreated", "http://example.com/hook"))
		}),
		errorCase("400000 create with an unknown event", http.StatusBadRequest, func(t *testing.T, e *docEnv, f format) rawResponse {
			return e.send(t, f, http.MethodPost, list(e), e.token, formA("unknown", "SomethingHappened", e.hookURL))
		}),
		{name: "400000 unparseable body", status: http.StatusBadRequest, volatile: [][]string{{"error", "detail"}},
			do: func(t *testing.T, e *docEnv, f format) rawResponse {
				h, body := xmlHeaders(e.token), `<tsRequest><webhook name="x"`
				if f == formatJSON {
					h, body = jsonHeaders(e.token), `{"webhook": {"name": "x"`
				}
				return call(t, e.srv, http.MethodPost, list(e), h, body)
			}},
		errorCase("400127 update with a reason and isEnabled=true", http.StatusBadRequest, func(t *testing.T, e *docEnv, f format) rawResponse {
			return e.send(t, f, http.MethodPut, e.hookPath("get"), e.token, `<tsRequest><webhook isEnabled="true" statusChangeReason="why"/></tsRequest>`)
		}),
		errorCase("400113 test unknown webhook", http.StatusBadRequest, func(t *testing.T, e *docEnv, f format) rawResponse {
			return e.send(t, f, http.MethodGet, list(e)+"/"+unknownLUID+"/test", e.token, "")
		}),
		errorCase("405000 wrong method", http.StatusMethodNotAllowed, func(t *testing.T, e *docEnv, f format) rawResponse {
			return e.send(t, f, http.MethodPatch, e.hookPath("get"), e.token, "")
		}),
		errorCase("429000 retry hint in the detail", http.StatusTooManyRequests, faulted(
			Faults{ErrorRate: 1, Statuses: []int{http.StatusTooManyRequests}, RetryAfter: 29 * time.Minute, RetryAfterInDetail: true},
			http.MethodGet, list)),
		errorCase("500000 injected", http.StatusInternalServerError, faulted(
			Faults{ErrorRate: 1, Statuses: []int{http.StatusInternalServerError}}, http.MethodGet, list)),
		errorCase("503000 injected", http.StatusServiceUnavailable, faulted(
			Faults{ErrorRate: 1, Statuses: []int{http.StatusServiceUnavailable}}, http.MethodGet, list)),
	}
	// Webhooks of the events the schema cannot describe: valid but for that one element.
	for _, ev := range outside {
		key := "outside-" + ev
		cases = append(cases, getCase("get webhook, "+ev+" (not in the schema)", key, func(t *testing.T, e *docEnv) {
			e.create(t, key, formA(key, ev, e.hookURL))
		}, outsideSchemaDeviation(legacyName(ev))))
	}
	return cases
}

// docAnswer is one case's answer in one format.
type docAnswer struct {
	c docCase
	r rawResponse
}

// requestCases runs every case in the given formats, in order, and checks each answer's
// status and Content-Type.
func requestCases(t *testing.T, e *docEnv, formats ...format) map[format][]docAnswer {
	t.Helper()
	out := map[format][]docAnswer{}
	for _, c := range documentCases() {
		if c.setup != nil {
			c.setup(t, e)
		}
		for _, f := range formats {
			r := c.do(t, e, f)
			if r.Status != c.status {
				t.Fatalf("%s (%s): status %d, want %d; body:\n%s", c.name, formatName(f), r.Status, c.status, r.Body)
			}
			switch ct := r.Header.Get("Content-Type"); {
			case c.noBody && len(r.Body) != 0:
				t.Fatalf("%s (%s): %d with a body:\n%s", c.name, formatName(f), r.Status, r.Body)
			case !c.noBody && f == formatXML && !strings.HasPrefix(ct, "application/xml"):
				t.Fatalf("%s: Content-Type %q, want application/xml", c.name, ct)
			case !c.noBody && f == formatJSON && !strings.HasPrefix(ct, "application/json"):
				t.Fatalf("%s (JSON): Content-Type %q, want application/json", c.name, ct)
			}
			out[f] = append(out[f], docAnswer{c, r})
		}
	}
	return out
}

func formatName(f format) string {
	if f == formatJSON {
		return "JSON"
	}
	return "XML"
}
