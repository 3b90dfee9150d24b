package gitops_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	apiv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
)

// customizationsDir holds the Argo CD health checks in Argo CD's own resource_customizations
// layout: <group>/<Kind>/{health.lua,health_test.yaml,testdata/*.yaml}.
const customizationsDir = "../../config/argocd/tableau.webhook-operator.dev"

// kinds are the custom resources the operator serves.
var kinds = []string{"TableauSite", "TableauWebhook"}

func kindDir(kind string) string { return filepath.Join(customizationsDir, kind) }

// readObject reads one testdata YAML the way a Kubernetes client hands it to Argo CD or to
// kstatus: JSON-decoded into an unstructured object, integers as int64.
func readObject(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatalf("%s: YAML to JSON: %v", path, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		t.Fatalf("%s: decode: %v", path, err)
	}
	return u
}

// testdataFiles lists the testdata/*.yaml files of a kind, as paths relative to the kind's
// directory (the form health_test.yaml uses in inputPath).
func testdataFiles(t *testing.T, kind string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(kindDir(kind), "testdata", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(matches) == 0 {
		t.Fatalf("no testdata for %s", kind)
	}
	var rel []string
	for _, m := range matches {
		rel = append(rel, filepath.ToSlash(filepath.Join("testdata", filepath.Base(m))))
	}
	slices.Sort(rel)
	return rel
}

// readyReason returns the reason of the object's Ready condition, or "".
func readyReason(u *unstructured.Unstructured) string {
	return conditionField(u, "Ready", "reason")
}

func conditionField(u *unstructured.Unstructured, condType, field string) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != condType {
			continue
		}
		s, _ := m[field].(string)
		return s
	}
	return ""
}

// TestTestdataMatchesAPI decodes every testdata object strictly into the API types, so the
// shapes the health checks are tested on stay the shapes the controllers write. Reconciling
// and Stalled are ordinary metav1.Conditions and need no API change.
func TestTestdataMatchesAPI(t *testing.T) {
	for _, kind := range kinds {
		for _, f := range testdataFiles(t, kind) {
			t.Run(kind+"/"+f, func(t *testing.T) {
				raw, err := os.ReadFile(filepath.Join(kindDir(kind), f))
				if err != nil {
					t.Fatal(err)
				}
				var into any
				switch kind {
				case "TableauSite":
					into = &apiv1.TableauSite{}
				case "TableauWebhook":
					into = &apiv1.TableauWebhook{}
				}
				if err := yaml.UnmarshalStrict(raw, into); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}
