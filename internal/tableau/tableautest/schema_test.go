package tableautest

// Validation against Tableau's published XML schemas (REFERENCE 10.1): every XML answer the
// simulator gives, and every request body the client in package tableau sends. The schemas
// are read from ../shared/tableau-api/xsd beside the repository, and xmllint (Debian's
// libxml2-utils, installed by .ci/run) validates.

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// schemaFiles are Tableau's published schemas the documents must satisfy.
var schemaFiles = []string{"ts-api_3_29.xsd", "ts-api_3_27.xsd"}

// schemaDirFromRoot is where the schemas live, relative to the module root.
const schemaDirFromRoot = "../shared/tableau-api/xsd"

// schemaDir returns the schema folder, skipping the test (saying so) only when the folder is
// absent; a folder without one of schemaFiles fails.
func schemaDir(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatalf("no go.mod above %s: cannot find the module root", wd)
		}
		root = parent
	}
	dir := filepath.Clean(filepath.Join(root, schemaDirFromRoot))
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		t.Skipf("SKIPPED: Tableau's XML schemas are not at %s (%s from the module root), so nothing was validated against them", dir, schemaDirFromRoot)
	} else if err != nil {
		t.Fatal(err)
	}
	for _, f := range schemaFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("schema folder %s lacks %s: %v", dir, f, err)
		}
	}
	return dir
}

// schemaValidator returns the schema folder and xmllint; a missing xmllint fails the test.
func schemaValidator(t *testing.T) (dir, xmllint string) {
	t.Helper()
	dir = schemaDir(t)
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatalf("xmllint is not installed, so Tableau's schemas cannot be checked: install the Debian package libxml2-utils (apt-get install -y libxml2-utils), as .ci/run does: %v", err)
	}
	return dir, xmllint
}

// xmlDoc is a document to validate.
type xmlDoc struct {
	name       string
	body       []byte
	deviations []deviation
}

// validate runs xmllint once per schema over all docs and returns, per schema and document
// index, xmllint's validity errors (nil: the document validates).
func validate(t *testing.T, dir, xmllint string, docs []xmlDoc) map[string][][]string {
	t.Helper()
	tmp := t.TempDir()
	files := make([]string, len(docs))
	for i, d := range docs {
		files[i] = filepath.Join(tmp, fmt.Sprintf("doc-%03d.xml", i))
		if err := os.WriteFile(files[i], d.body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := map[string][][]string{}
	for _, schema := range schemaFiles {
		cmd := exec.Command(xmllint, append([]string{"--noout", "--schema", filepath.Join(dir, schema)}, files...)...)
		output, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("xmllint: %v", err)
		}
		lines := strings.Split(string(output), "\n")
		results := make([][]string, len(docs))
		for i, f := range files {
			valid := slices.Contains(lines, f+" validates")
			invalid := slices.Contains(lines, f+" fails to validate")
			for _, l := range lines {
				if msg, ok := strings.CutPrefix(l, f+":"); ok {
					_, after, found := strings.Cut(msg, "Schemas validity error : ")
					if !found {
						t.Fatalf("%s against %s: xmllint could not read the document: %s\n%s", docs[i].name, schema, l, docs[i].body)
					}
					results[i] = append(results[i], after)
				}
			}
			if valid == invalid || (invalid && len(results[i]) == 0) {
				t.Fatalf("xmllint gave no verdict for %s against %s:\n%s", docs[i].name, schema, output)
			}
		}
		out[schema] = results
	}
	return out
}

// checkValidity fails for every validity error that is not one of the document's
// deviations, and for every deviation that no longer occurs (the schema or the simulator
// changed: drop it).
func checkValidity(t *testing.T, schema string, d xmlDoc, errs []string) {
	t.Helper()
	for _, e := range errs {
		if !slices.ContainsFunc(d.deviations, func(dev deviation) bool { return strings.Contains(e, dev.match) }) {
			t.Errorf("%s does not validate against %s: %s\n%s", d.name, schema, e, d.body)
		}
	}
	for _, dev := range d.deviations {
		if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, dev.match) }) {
			t.Errorf("%s: expected deviation from %s no longer occurs, drop it: %s (%s)", d.name, schema, dev.match, dev.why)
		} else {
			t.Logf("%s: known deviation from %s: %s", d.name, schema, dev.why)
		}
	}
}

// TestResponsesMatchTableauSchema validates every XML answer of documentCases (each
// endpoint, each error shape, empty and full lists) against ts-api_3_29.xsd and
// ts-api_3_27.xsd.
func TestResponsesMatchTableauSchema(t *testing.T) {
	dir, xmllint := schemaValidator(t)
	e := newDocEnv(t)
	var docs []xmlDoc
	var bodiless []string
	for _, a := range requestCases(t, e, formatXML)[formatXML] {
		if a.c.noBody {
			bodiless = append(bodiless, a.c.name)
			continue
		}
		docs = append(docs, xmlDoc{name: fmt.Sprintf("%s (HTTP %d)", a.c.name, a.r.Status), body: a.r.Body, deviations: a.c.deviations})
	}
	results := validate(t, dir, xmllint, docs)
	for _, schema := range schemaFiles {
		for i, d := range docs {
			checkValidity(t, schema, d, results[schema][i])
		}
	}
	t.Logf("validated %d XML answers against %v; answers without a body: %v", len(docs), schemaFiles, bodiless)
}

// TestSchemaLegacyEventNames checks schemaSourceElements against the schemas' own
// webhookSourceType, so that the list the other tests rely on is the schema's.
func TestSchemaLegacyEventNames(t *testing.T) {
	dir := schemaDir(t)
	for _, f := range schemaFiles {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		var schema struct {
			Types []struct {
				Name   string `xml:"name,attr"`
				Choice struct {
					Elements []struct {
						Name string `xml:"name,attr"`
					} `xml:"element"`
				} `xml:"choice"`
			} `xml:"complexType"`
		}
		if err := xml.Unmarshal(b, &schema); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var got []string
		for _, ty := range schema.Types {
			if ty.Name == "webhookSourceType" {
				for _, el := range ty.Choice.Elements {
					got = append(got, el.Name)
				}
			}
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(schemaSourceElements))
		if !slices.Equal(got, want) {
			t.Errorf("%s: webhookSourceType lists %v, schemaSourceElements says %v", f, got, want)
		}
	}
}

// clientRequestDeviation: the schema's webhookType is the response's shape, a sequence of
// webhook-source, webhook-destination and owner that is all there or all absent. Tableau's
// documented requests send the event attribute and a destination only (form A, which this
// client sends), or a source and a destination (form B): neither can satisfy it.
var clientRequestDeviation = deviation{
	match: "Element '{http://tableau.com/api}webhook-destination': This element is not expected. Expected is ( {http://tableau.com/api}webhook-source ).",
	why:   "webhookType requires webhook-source, webhook-destination and owner together; Tableau's documented create and update requests have no owner, and form A no webhook-source",
}

// TestClientRequestsMatchTableauSchema drives the real client (package tableau) against the
// simulator, captures every request body it sends, and validates each, with the namespace
// added as REFERENCE 10.1 says (Tableau accepts a bare <tsRequest>; the schema's elements are
// namespaced).
func TestClientRequestsMatchTableauSchema(t *testing.T) {
	dir, xmllint := schemaValidator(t)
	receiver := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer receiver.Close()
	sim := New(WithPAT("op-pat", "s3cr3t"), WithUser("admin", "pw"), WithDeliveryClient(receiver.Client()))
	defer sim.Close()

	type sent struct {
		op   string
		body []byte
	}
	var mu sync.Mutex
	var requests []sent
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, rt := parseRoute(r.Method, r.URL.Path)
		mu.Lock()
		requests = append(requests, sent{rt.op, body})
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		sim.Handler().ServeHTTP(w, r)
	}))
	defer ts.Close()

	ctx := context.Background()
	drive := func(creds tableau.Credentials, everything bool) {
		c, err := tableau.NewClient(tableau.Config{ServerURL: ts.URL, Credentials: creds})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.SignIn(ctx); err != nil {
			t.Fatalf("sign in with %s: %v", creds.Identity(), err)
		}
		if everything {
			spec := tableau.WebhookSpec{Name: "client-hook", Event: "DatasourceRefreshFailed", URL: receiver.URL + "/hook", Enabled: true}
			w, err := c.CreateWebhook(ctx, spec)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			spec.Name, spec.Event, spec.Enabled = "client-hook-2", "WorkbookCreated", false
			if _, err := c.UpdateWebhook(ctx, w.ID, spec); err != nil {
				t.Fatalf("update: %v", err)
			}
			if _, err := c.ListWebhooks(ctx); err != nil {
				t.Fatalf("list: %v", err)
			}
			if _, err := c.GetWebhook(ctx, w.ID); err != nil {
				t.Fatalf("get: %v", err)
			}
			if _, err := c.TestWebhook(ctx, w.ID); err != nil {
				t.Fatalf("test: %v", err)
			}
			if err := c.DeleteWebhook(ctx, w.ID); err != nil {
				t.Fatalf("delete: %v", err)
			}
		}
		if err := c.SignOut(ctx); err != nil {
			t.Fatalf("sign out: %v", err)
		}
	}
	drive(tableau.Credentials{PATName: "op-pat", PATSecret: "s3cr3t"}, true)
	patRequests := len(requests)
	drive(tableau.Credentials{Username: "admin", Password: "pw"}, false)

	var docs []xmlDoc
	bodies := map[string]bool{}
	var bodiless []string
	for i, r := range requests {
		name := r.op
		if r.op == OpSignIn {
			name += map[bool]string{true: " (PAT)", false: " (password)"}[i < patRequests]
		}
		if len(bytes.TrimSpace(r.body)) == 0 {
			if !slices.Contains(bodiless, name) {
				bodiless = append(bodiless, name)
			}
			continue
		}
		if bodies[name] {
			continue // one of each is enough
		}
		bodies[name] = true
		body, err := withTableauNamespace(r.body)
		if err != nil {
			t.Fatalf("%s body: %v\n%s", name, err, r.body)
		}
		d := xmlDoc{name: "client request " + name, body: body}
		if r.op == OpCreateWebhook || r.op == OpUpdateWebhook {
			d.deviations = []deviation{clientRequestDeviation}
		}
		docs = append(docs, d)
	}
	for _, want := range []string{"SignIn (PAT)", "SignIn (password)", OpCreateWebhook, OpUpdateWebhook} {
		if !bodies[want] {
			t.Errorf("the client sent no %s body; requests with bodies: %v", want, bodies)
		}
	}
	results := validate(t, dir, xmllint, docs)
	for _, schema := range schemaFiles {
		for i, d := range docs {
			checkValidity(t, schema, d, results[schema][i])
		}
	}
	t.Logf("validated %d client request bodies against %v; requests without a body: %v", len(docs), schemaFiles, bodiless)
}

// withTableauNamespace puts xmlns="http://tableau.com/api" on the <tsRequest> root, which the
// client (like TSC) sends bare.
func withTableauNamespace(body []byte) ([]byte, error) {
	const open = "<tsRequest"
	i := bytes.Index(body, []byte(open))
	if i < 0 {
		return nil, errors.New("no <tsRequest> root")
	}
	rest := body[i+len(open):]
	if len(rest) == 0 || !strings.ContainsRune(" \t\r\n>/", rune(rest[0])) {
		return nil, errors.New("no <tsRequest> root")
	}
	if end := bytes.IndexByte(rest, '>'); end >= 0 && bytes.Contains(rest[:end], []byte("xmlns=")) {
		return body, nil
	}
	out := append([]byte{}, body[:i+len(open)]...)
	out = append(out, ` xmlns="`+tableauNS+`"`...)
	return append(out, rest...), nil
}
