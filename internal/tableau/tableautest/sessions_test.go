package tableautest

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServerInfoBuildNumber checks the build attribute against the pattern Tableau's schema
// gives it, for the default and for other product versions.
func TestServerInfoBuildNumber(t *testing.T) {
	pattern := regexp.MustCompile(`^[0-9]{5}.[0-9]{2}.[0-9]{4}.[0-9]{4}$`)
	for product, want := range map[string]string{
		DefaultProductVersion: "20242.24.0711.1636",
		"2025.1.11":           "20251.25.0101.0000",
		"2023.3.0":            "20233.23.0101.0000",
		"2024.10.0":           "00000.00.0000.0000", // no five-digit build can say it
		"next":                "00000.00.0000.0000",
	} {
		got := buildNumber(product)
		if got != want || !pattern.MatchString(got) {
			t.Errorf("buildNumber(%q) = %q, want %q (matching %s)", product, got, want, pattern)
		}
	}
	if got := prepConductorVersion("2025.1.11"); got != "2025.1.0" {
		t.Errorf("prepConductorVersion = %q", got)
	}
}

func TestServerInfo(t *testing.T) {
	srv := NewServer(WithAPIVersion("3.22"), WithProductVersion("2024.2.0"))
	defer srv.Close()

	// Both spellings, no auth, at the low version TSC probes with.
	for _, path := range []string{"/api/2.4/serverInfo", "/api/3.22/serverinfo", "/api/3.99/serverinfo/"} {
		r := call(t, srv, http.MethodGet, path, nil, "")
		wantStatus(t, r, http.StatusOK)
		doc := decodeXML(t, r)
		if doc.ServerInfo == nil || doc.ServerInfo.RestAPIVersion != "3.22" ||
			doc.ServerInfo.ProductVersion.Value != "2024.2.0" || doc.ServerInfo.ProductVersion.Build == "" {
			t.Fatalf("%s: serverInfo = %+v", path, doc.ServerInfo)
		}
	}

	r := call(t, srv, http.MethodGet, "/api/3.22/serverinfo", map[string]string{"Accept": jsonCT}, "")
	wantStatus(t, r, http.StatusOK)
	m := decodeJSON(t, r)
	if jget(t, m, "serverInfo", "restApiVersion") != "3.22" || jget(t, m, "serverInfo", "productVersion", "value") != "2024.2.0" {
		t.Fatalf("JSON serverInfo = %s", r.Body)
	}
	if _, ok := jget(t, m, "serverInfo", "productVersion", "build").(string); !ok {
		t.Fatalf("build is not a string: %s", r.Body)
	}

	// Versions below 2.4 or malformed: 404003 naming the path, as TSC's fixture shows.
	r = call(t, srv, http.MethodGet, "/api/2.3/serverInfo", nil, "")
	wantXMLError(t, r, http.StatusNotFound, CodeUnknownResource)
	if d := decodeXML(t, r).Error.Detail; d != "Unknown resource '/2.3/serverInfo' specified in URI." {
		t.Fatalf("detail = %q, want it to name the path", d)
	}
	wantJSONError(t, call(t, srv, http.MethodGet, "/api/exp/serverinfo", map[string]string{"Accept": jsonCT}, ""),
		http.StatusNotFound, CodeUnknownResource)
	wantXMLError(t, call(t, srv, http.MethodGet, "/api/3.22/nothing-here", nil, ""), http.StatusNotFound, CodeUnknownResource)
	wantXMLError(t, call(t, srv, http.MethodGet, "/", nil, ""), http.StatusNotFound, CodeUnknownResource)

	r = call(t, srv, http.MethodPost, "/api/3.22/serverinfo", nil, "")
	wantXMLError(t, r, http.StatusMethodNotAllowed, CodeMethodNotAllowed)
	if r.Header.Get("Allow") != "GET" {
		t.Fatalf("Allow = %q", r.Header.Get("Allow"))
	}
}

func TestSignInPATXML(t *testing.T) {
	srv := NewServer(WithSite("marketing"), WithPAT("op-pat", "s3cr3t"))
	defer srv.Close()

	// REFERENCE §1.1 XML PAT sample, verbatim shape.
	body := `<tsRequest>
  <credentials personalAccessTokenName="op-pat" personalAccessTokenSecret="s3cr3t">
    <site contentUrl="marketing" />
  </credentials>
</tsRequest>`
	r := call(t, srv, http.MethodPost, api("/auth/signin"), xmlHeaders(""), body)
	wantStatus(t, r, http.StatusOK)
	c := decodeXML(t, r).Credentials
	if c == nil || c.Token == "" || c.User.ID == "" {
		t.Fatalf("credentials = %+v", c)
	}
	if c.Site.ID != srv.SiteID("marketing") || c.Site.ContentURL != "marketing" {
		t.Fatalf("site = %+v, want id %s", c.Site, srv.SiteID("marketing"))
	}
	if c.Expiration != "4:00:00" {
		t.Fatalf("estimatedTimeToExpiration = %q, want 4:00:00 (240 min)", c.Expiration)
	}
	// The token works.
	wantStatus(t, call(t, srv, http.MethodGet, webhooksPath(c.Site.ID), xmlHeaders(c.Token), ""), http.StatusOK)
}

func TestSignInJSON(t *testing.T) {
	srv := NewServer(WithPAT("op-pat", "s3cr3t"), WithUser("admin", "pw"))
	defer srv.Close()

	for name, body := range map[string]string{
		"pat": `{ "credentials": {
    "site": { "contentUrl": "" },
    "personalAccessTokenName": "op-pat",
    "personalAccessTokenSecret": "s3cr3t" } }`,
		"password": `{ "credentials": {
    "site": { "contentUrl": "" },
    "name": "admin", "password": "pw" } }`,
	} {
		t.Run(name, func(t *testing.T) {
			r := call(t, srv, http.MethodPost, api("/auth/signin"), jsonHeaders(""), body)
			wantStatus(t, r, http.StatusOK)
			m := decodeJSON(t, r)
			token, _ := jget(t, m, "credentials", "token").(string)
			if token == "" || jget(t, m, "credentials", "site", "id") != srv.SiteID("") ||
				jget(t, m, "credentials", "site", "contentUrl") != "" || jget(t, m, "credentials", "user", "id") == "" ||
				jget(t, m, "credentials", "estimatedTimeToExpiration") != "4:00:00" {
				t.Fatalf("credentials = %s", r.Body)
			}
			wantStatus(t, call(t, srv, http.MethodGet, webhooksPath(srv.SiteID("")), jsonHeaders(token), ""), http.StatusOK)
		})
	}

	// Password sign-in in XML (REFERENCE sample) answers JSON when Accept asks for it.
	r := call(t, srv, http.MethodPost, api("/auth/signin"), map[string]string{"Content-Type": xmlCT, "Accept": jsonCT},
		`<tsRequest><credentials name="admin" password="pw"><site contentUrl="" /></credentials></tsRequest>`)
	wantStatus(t, r, http.StatusOK)
	decodeJSON(t, r)
}

func TestSignInFailures(t *testing.T) {
	srv := NewServer(WithSite(""), WithSite("marketing"), WithPAT("op-pat", "s3cr3t"), WithUser("admin", "pw"))
	defer srv.Close()
	signin := api("/auth/signin")
	pat := func(name, secret, site string) string {
		return `<tsRequest><credentials personalAccessTokenName="` + name + `" personalAccessTokenSecret="` + secret +
			`"><site contentUrl="` + site + `"/></credentials></tsRequest>`
	}
	for name, tc := range map[string]struct {
		body   string
		status int
		code   string
	}{
		"wrong secret":   {pat("op-pat", "nope", ""), http.StatusUnauthorized, CodeSignInError},
		"unknown PAT":    {pat("other", "s3cr3t", ""), http.StatusUnauthorized, CodeSignInError},
		"unknown site":   {pat("op-pat", "s3cr3t", "sales"), http.StatusUnauthorized, CodeSignInError},
		"wrong password": {`<tsRequest><credentials name="admin" password="x"><site contentUrl=""/></credentials></tsRequest>`, http.StatusUnauthorized, CodeSignInError},
		"jwt":            {`<tsRequest><credentials jwt="e30.e30.x"><site contentUrl=""/></credentials></tsRequest>`, http.StatusUnauthorized, CodeSignInError},
		"no credentials": {`<tsRequest/>`, http.StatusBadRequest, CodeBadRequest},
		"malformed":      {`<tsRequest><credentials`, http.StatusBadRequest, CodeBadRequest},
		"wrong root":     {`<credentials personalAccessTokenName="op-pat" personalAccessTokenSecret="s3cr3t"/>`, http.StatusBadRequest, CodeBadRequest},
	} {
		t.Run(name, func(t *testing.T) {
			wantXMLError(t, call(t, srv, http.MethodPost, signin, xmlHeaders(""), tc.body), tc.status, tc.code)
		})
	}
	wantJSONError(t, call(t, srv, http.MethodPost, signin, jsonHeaders(""), `{"credentials": {"name": 3}}`),
		http.StatusBadRequest, CodeBadRequest)
	wantXMLError(t, call(t, srv, http.MethodGet, signin, nil, ""), http.StatusMethodNotAllowed, CodeMethodNotAllowed)
	if n := srv.Sessions(); n != 0 {
		t.Fatalf("failed sign-ins left %d sessions", n)
	}
}

func TestSessions(t *testing.T) {
	clock := newFakeClock()
	srv := NewServer(WithSite(""), WithSite("marketing"), WithPAT("op-pat", "s3cr3t"), WithPAT("other-pat", "x"),
		WithUser("admin", "pw"), WithNonAdminPAT("viewer", "v"), WithTokenTTL(time.Hour), WithClock(clock.Now))
	defer srv.Close()
	def, mkt := srv.SiteID(""), srv.SiteID("marketing")
	list := func(token, siteID string) rawResponse {
		return call(t, srv, http.MethodGet, webhooksPath(siteID), xmlHeaders(token), "")
	}

	t.Run("missing token", func(t *testing.T) {
		wantXMLError(t, list("", def), http.StatusUnauthorized, CodeNoCredentials)
		wantJSONError(t, call(t, srv, http.MethodGet, webhooksPath(def), jsonHeaders(""), ""),
			http.StatusUnauthorized, CodeNoCredentials)
	})

	t.Run("unknown token", func(t *testing.T) {
		wantXMLError(t, list("forged", def), http.StatusUnauthorized, CodeInvalidCredentials)
	})

	t.Run("one session per PAT, across sites", func(t *testing.T) {
		first, _ := signInPAT(t, srv, "", "op-pat", "s3cr3t")
		second, _ := signInPAT(t, srv, "marketing", "op-pat", "s3cr3t")
		wantXMLError(t, list(first, def), http.StatusUnauthorized, CodeInvalidCredentials)
		wantStatus(t, list(second, mkt), http.StatusOK)
	})

	t.Run("password sessions are not exclusive", func(t *testing.T) {
		signIn := func() string {
			r := call(t, srv, http.MethodPost, api("/auth/signin"), xmlHeaders(""),
				`<tsRequest><credentials name="admin" password="pw"><site contentUrl=""/></credentials></tsRequest>`)
			wantStatus(t, r, http.StatusOK)
			return decodeXML(t, r).Credentials.Token
		}
		a, b := signIn(), signIn()
		wantStatus(t, list(a, def), http.StatusOK)
		wantStatus(t, list(b, def), http.StatusOK)
	})

	t.Run("site scoping", func(t *testing.T) {
		token, _ := signInPAT(t, srv, "marketing", "other-pat", "x")
		wantXMLError(t, list(token, def), http.StatusForbidden, CodeSiteMismatch)
		wantXMLError(t, list(token, "0b0b0b0b-0000-4000-8000-000000000000"), http.StatusNotFound, CodeSiteNotFound)
		wantStatus(t, list(token, strings.ToUpper(mkt)), http.StatusOK) // LUIDs compare case-insensitively
	})

	t.Run("non-admin", func(t *testing.T) {
		token, _ := signInPAT(t, srv, "", "viewer", "v")
		wantXMLError(t, list(token, def), http.StatusForbidden, CodeForbidden)
		wantXMLError(t, call(t, srv, http.MethodPost, webhooksPath(def), xmlHeaders(token),
			formA("x", "WorkbookCreated", "https://example.com/h")), http.StatusForbidden, CodeForbidden)
		if len(srv.Webhooks("")) != 0 {
			t.Fatal("a non-admin created a webhook")
		}
	})

	t.Run("ExpireTokens", func(t *testing.T) {
		token, _ := signInPAT(t, srv, "", "op-pat", "s3cr3t")
		srv.ExpireTokens()
		wantXMLError(t, list(token, def), http.StatusUnauthorized, CodeInvalidCredentials)
		token, _ = signInPAT(t, srv, "", "op-pat", "s3cr3t")
		wantStatus(t, list(token, def), http.StatusOK)
	})

	t.Run("ForeignSignIn", func(t *testing.T) {
		token, _ := signInPAT(t, srv, "", "op-pat", "s3cr3t")
		other, _ := signInPAT(t, srv, "", "other-pat", "x")
		srv.ForeignSignIn("op-pat")
		wantXMLError(t, list(token, def), http.StatusUnauthorized, CodeInvalidCredentials)
		wantStatus(t, list(other, def), http.StatusOK) // other PATs are untouched
	})

	t.Run("sign-out", func(t *testing.T) {
		token, _ := signInPAT(t, srv, "", "op-pat", "s3cr3t")
		r := call(t, srv, http.MethodPost, api("/auth/signout"), map[string]string{"X-Tableau-Auth": token}, "")
		wantStatus(t, r, http.StatusNoContent)
		if len(r.Body) != 0 {
			t.Fatalf("sign-out body = %q", r.Body)
		}
		wantXMLError(t, list(token, def), http.StatusUnauthorized, CodeInvalidCredentials)
		wantXMLError(t, call(t, srv, http.MethodPost, api("/auth/signout"), nil, ""), http.StatusUnauthorized, CodeNoCredentials)
	})

	t.Run("idle TTL", func(t *testing.T) {
		token, _ := signInPAT(t, srv, "", "op-pat", "s3cr3t")
		clock.Advance(50 * time.Minute)
		wantStatus(t, list(token, def), http.StatusOK) // activity restarts the idle timer
		clock.Advance(50 * time.Minute)
		wantStatus(t, list(token, def), http.StatusOK)
		clock.Advance(61 * time.Minute)
		wantXMLError(t, list(token, def), http.StatusUnauthorized, CodeInvalidCredentials)
	})
}

func TestTLSServer(t *testing.T) {
	srv := NewTLSServer()
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "https://") || srv.Certificate() == nil {
		t.Fatalf("URL = %q, certificate %v", srv.URL, srv.Certificate())
	}
	// The default credentials sign in when no credential option is given.
	token, siteID := signInPAT(t, srv, "", DefaultPATName, DefaultPATSecret)
	wantStatus(t, call(t, srv, http.MethodGet, webhooksPath(siteID), xmlHeaders(token), ""), http.StatusOK)
}
