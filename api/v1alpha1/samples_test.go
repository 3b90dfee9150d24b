package v1alpha1_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/testenv"
)

// TestSamples checks that config/samples is what `kubectl apply -k config/samples` would apply:
// every manifest listed in its kustomization.yaml, and every one of them accepted by the API
// server as written (no unknown fields), Secrets and Namespaces included.
func TestSamples(t *testing.T) {
	c := apiServer(t)
	dir := filepath.Join(testenv.Root(), "config", "samples")

	var kustomization struct {
		Resources []string `json:"resources"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &kustomization); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var manifests []string
	for _, f := range files {
		if name := filepath.Base(f); name != "kustomization.yaml" {
			manifests = append(manifests, name)
		}
	}
	if listed := slices.Sorted(slices.Values(kustomization.Resources)); !slices.Equal(listed, manifests) {
		t.Errorf("kustomization.yaml lists %v, the directory holds %v", listed, manifests)
	}

	// Namespaces first, as kubectl apply orders them.
	var objects []*unstructured.Unstructured
	kinds := map[string]int{}
	for _, name := range kustomization.Resources {
		for _, obj := range decodeAll(t, filepath.Join(dir, name)) {
			kinds[obj.GetKind()]++
			objects = append(objects, obj)
		}
	}
	slices.SortStableFunc(objects, func(a, b *unstructured.Unstructured) int {
		return boolRank(b.GetKind() == "Namespace") - boolRank(a.GetKind() == "Namespace")
	})
	for _, obj := range objects {
		if err := create(context.Background(), c, obj); err != nil {
			t.Errorf("%s %s/%s rejected: %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
		}
	}
	if kinds["TableauSite"] < 1 || kinds["TableauWebhook"] < 4 || kinds["Secret"] < 2 {
		t.Errorf("samples hold %v; want a TableauSite, TableauWebhooks for url, urlFrom, a cross-namespace site, Orphan and Adopt, and their Secrets", kinds)
	}
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// decodeAll reads the YAML documents of a file.
func decodeAll(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var objects []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		obj := &unstructured.Unstructured{}
		err := dec.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			return objects
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(obj.Object) > 0 {
			objects = append(objects, obj)
		}
	}
}
