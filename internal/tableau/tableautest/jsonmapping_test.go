package tableautest

// REFERENCE §0's mapping from Tableau's XML to its JSON, written independently of the
// simulator's encoders: each XML answer, converted, must equal the JSON answer to the same
// request.

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// The facts the mapping needs from the schema, which XML alone does not carry.
var (
	// listElements hold a list: their children become an array under the children's
	// (singular) name, even for one item; an empty list is an empty object.
	listElements = map[string]bool{"webhooks": true}
	// textElements have simple content (xs:string, xs:int, xs:boolean) and become a bare
	// value; any other element without attributes or children is an empty complex type (the
	// event inside <webhook-source>) and becomes {}.
	textElements = map[string]bool{
		"summary": true, "detail": true, "callstack": true, "body": true,
		"prepConductorVersion": true, "restApiVersion": true, "platform": true,
		"oAuthEnabled": true, "sheetImageMaxAgeFloor": true, "sheetImageMaxAgeCeiling": true,
		"offlineInteractionSupportedPhase": true,
	}
	// booleans are the attributes and elements the schema types xs:boolean: JSON booleans.
	// Every other value, numbers included (the error code, a test's status), is a string.
	booleans = map[string]bool{"isEnabled": true, "oAuthEnabled": true}
)

// xmlNode is an element as the mapping sees it.
type xmlNode struct {
	name     string
	attrs    []xml.Attr
	children []*xmlNode
	text     strings.Builder
}

// parseXMLTree reads a document into its root element, keeping local names only: Tableau's
// XML has one namespace.
func parseXMLTree(b []byte) (*xmlNode, error) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	var stack []*xmlNode
	var root *xmlNode
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &xmlNode{name: tok.Name.Local}
			for _, a := range tok.Attr {
				// Namespace declarations and xsi:schemaLocation are not data.
				if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" || a.Name.Space == xsiNS {
					continue
				}
				n.attrs = append(n.attrs, a)
			}
			if len(stack) > 0 {
				parent := stack[len(stack)-1]
				parent.children = append(parent.children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(tok)
			}
		}
	}
	if root == nil {
		return nil, errors.New("no root element")
	}
	return root, nil
}

// tableauJSON converts an XML document by REFERENCE §0: the root (tsRequest or tsResponse) is
// dropped and its children become the top-level keys.
func tableauJSON(b []byte) (map[string]any, error) {
	root, err := parseXMLTree(b)
	if err != nil {
		return nil, err
	}
	if root.name != "tsRequest" && root.name != "tsResponse" {
		return nil, fmt.Errorf("root <%s> is neither tsRequest nor tsResponse", root.name)
	}
	if len(root.attrs) > 0 {
		return nil, fmt.Errorf("root <%s> has attributes %v", root.name, root.attrs)
	}
	return childrenJSON(root, map[string]any{})
}

// childrenJSON adds n's children to obj, each under its name; a name may appear once.
func childrenJSON(n *xmlNode, obj map[string]any) (map[string]any, error) {
	for _, c := range n.children {
		if _, dup := obj[c.name]; dup {
			return nil, fmt.Errorf("<%s> repeats <%s> outside a list", n.name, c.name)
		}
		v, err := nodeJSON(c)
		if err != nil {
			return nil, err
		}
		obj[c.name] = v
	}
	return obj, nil
}

func nodeJSON(n *xmlNode) (any, error) {
	text := strings.TrimSpace(n.text.String())
	switch {
	case listElements[n.name]:
		obj := map[string]any{}
		for _, c := range n.children {
			v, err := nodeJSON(c)
			if err != nil {
				return nil, err
			}
			items, _ := obj[c.name].([]any)
			obj[c.name] = append(items, v)
		}
		return obj, nil
	case textElements[n.name]:
		if len(n.attrs) > 0 || len(n.children) > 0 {
			return nil, fmt.Errorf("<%s> should hold only text", n.name)
		}
		return scalar(n.name, n.text.String())
	}
	obj := map[string]any{}
	for _, a := range n.attrs {
		v, err := scalar(a.Name.Local, a.Value)
		if err != nil {
			return nil, err
		}
		obj[a.Name.Local] = v
	}
	if _, err := childrenJSON(n, obj); err != nil {
		return nil, err
	}
	if text != "" {
		// Text beside attributes (productVersion's) is "value".
		obj["value"] = n.text.String()
	}
	return obj, nil
}

// scalar is an attribute's or a text element's value: a JSON boolean where the schema says
// xs:boolean, else the string.
func scalar(name, v string) (any, error) {
	if !booleans[name] {
		return v, nil
	}
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return nil, fmt.Errorf("%s=%q is not an xs:boolean", name, v)
}

// requestJSON is an XML request body in JSON, as a JSON client sends it.
func requestJSON(t *testing.T, xmlBody string) string {
	t.Helper()
	m, err := tableauJSON([]byte(xmlBody))
	if err != nil {
		t.Fatalf("convert request %s: %v", xmlBody, err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestJSONFollowsXMLMapping requests every document of documentCases in XML and in JSON and
// checks that the JSON answer is the XML answer converted by REFERENCE §0's mapping.
func TestJSONFollowsXMLMapping(t *testing.T) {
	e := newDocEnv(t)
	answers := requestCases(t, e, formatXML, formatJSON)
	xmlAnswers, jsonAnswers := answers[formatXML], answers[formatJSON]
	if len(xmlAnswers) != len(jsonAnswers) {
		t.Fatalf("%d XML answers, %d JSON answers", len(xmlAnswers), len(jsonAnswers))
	}
	for i, xa := range xmlAnswers {
		ja := jsonAnswers[i]
		t.Run(xa.c.name, func(t *testing.T) {
			if xa.c.noBody {
				return // both checked empty by requestCases
			}
			want, err := tableauJSON(xa.r.Body)
			if err != nil {
				t.Fatalf("convert the XML answer: %v\n%s", err, xa.r.Body)
			}
			var got map[string]any
			if err := json.Unmarshal(ja.r.Body, &got); err != nil {
				t.Fatalf("JSON answer: %v\n%s", err, ja.r.Body)
			}
			for _, path := range xa.c.volatile {
				w, g := lookup(want, path), lookup(got, path)
				if w == nil || g == nil || w == "" || g == "" {
					t.Fatalf("%s: XML has %v, JSON has %v; want a value in both", strings.Join(path, "."), w, g)
				}
				set(got, path, w)
			}
			if !reflect.DeepEqual(want, got) {
				t.Errorf("the JSON answer is not the XML answer by REFERENCE §0's mapping\nXML converted:\n%s\nJSON answer:\n%s\nXML answer:\n%s",
					indent(want), indent(got), xa.r.Body)
			}
		})
	}
}

// TestXMLToJSONMapping pins the converter itself on REFERENCE's own samples, so that a wrong
// converter cannot agree with a wrong simulator.
func TestXMLToJSONMapping(t *testing.T) {
	for _, tc := range []struct{ name, xml, json string }{
		{"server info (REFERENCE 1.5, tableau-mcp)",
			`<tsResponse xmlns="http://tableau.com/api"><serverInfo><productVersion build="20242.24.0711.1636">2024.2.0</productVersion><restApiVersion>3.23</restApiVersion></serverInfo></tsResponse>`,
			`{"serverInfo": {"productVersion": {"value": "2024.2.0", "build": "20242.24.0711.1636"}, "restApiVersion": "3.23"}}`},
		{"error, code as a string (REFERENCE 5.1)",
			`<tsResponse><error code="404003"><summary>Resource Not Found</summary><detail>Unknown resource.</detail></error></tsResponse>`,
			`{"error": {"summary": "Resource Not Found", "detail": "Unknown resource.", "code": "404003"}}`},
		{"webhook with both event forms (REFERENCE 2.3)",
			`<tsResponse><webhook id="w" name="n" isEnabled="true" statusChangeReason="" event="WorkbookDeleted"><webhook-source><webhook-source-event-workbook-deleted/></webhook-source>` +
				`<webhook-destination><webhook-destination-http method="POST" url="https://h/x"/></webhook-destination><owner id="o" name="admin"/></webhook></tsResponse>`,
			`{"webhook": {"id": "w", "name": "n", "isEnabled": true, "statusChangeReason": "", "event": "WorkbookDeleted",
				"webhook-source": {"webhook-source-event-workbook-deleted": {}},
				"webhook-destination": {"webhook-destination-http": {"method": "POST", "url": "https://h/x"}},
				"owner": {"id": "o", "name": "admin"}}}`},
		{"one-item list is still an array (REFERENCE 2.4)",
			`<tsResponse><webhooks><webhook id="a"/></webhooks></tsResponse>`,
			`{"webhooks": {"webhook": [{"id": "a"}]}}`},
		{"empty list", `<tsResponse><webhooks/></tsResponse>`, `{"webhooks": {}}`},
		{"test result with its status as a string (REFERENCE 2.6)",
			`<tsResponse><webhookTestResult id="w" status="404"><body>nope</body></webhookTestResult></tsResponse>`,
			`{"webhookTestResult": {"id": "w", "status": "404", "body": "nope"}}`},
		{"PAT sign-in request (REFERENCE 1.1)",
			`<tsRequest><credentials personalAccessTokenName="N" personalAccessTokenSecret="S"><site contentUrl="C" /></credentials></tsRequest>`,
			`{"credentials": {"site": {"contentUrl": "C"}, "personalAccessTokenName": "N", "personalAccessTokenSecret": "S"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tableauJSON([]byte(tc.xml))
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			if err := json.Unmarshal([]byte(tc.json), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("converted:\n%s\nwant:\n%s", indent(got), indent(want))
			}
		})
	}
}

func lookup(m map[string]any, path []string) any {
	var cur any = m
	for _, k := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[k]
	}
	return cur
}

func set(m map[string]any, path []string, v any) {
	for _, k := range path[:len(path)-1] {
		m = m[k].(map[string]any)
	}
	m[path[len(path)-1]] = v
}

func indent(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
