package localenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/yaml"
)

// FieldOwner is the field manager of everything Apply writes.
const FieldOwner = "localenv"

// DecodeManifests decodes multi-document YAML (or JSON). Kinds the scheme knows become typed
// objects (*corev1.Secret, *v1alpha1.TableauSite, ...), others *unstructured.Unstructured.
// Empty documents are skipped.
func DecodeManifests(scheme *runtime.Scheme, data []byte) ([]client.Object, error) {
	decoder := serializer.NewCodecFactory(scheme).UniversalDeserializer()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []client.Object
	for i := 1; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		jsonDoc, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if s := strings.TrimSpace(string(jsonDoc)); s == "null" || s == "{}" || s == "" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(jsonDoc); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if !scheme.Recognizes(u.GroupVersionKind()) {
			objs = append(objs, u)
			continue
		}
		obj, _, err := decoder.Decode(jsonDoc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("document %d (%s %s): %w", i, u.GetKind(), u.GetName(), err)
		}
		co, ok := obj.(client.Object)
		if !ok {
			return nil, fmt.Errorf("document %d: %T is not an object with metadata", i, obj)
		}
		co.GetObjectKind().SetGroupVersionKind(u.GroupVersionKind())
		objs = append(objs, co)
	}
}

// ReadManifests decodes the manifests of files and directories. A directory with a
// kustomization.yaml contributes the files its resources list, in that order (plain files
// only: no bases, patches or generators); another directory contributes its *.yaml, *.yml and
// *.json files by name.
func ReadManifests(scheme *runtime.Scheme, paths ...string) ([]client.Object, error) {
	var objs []client.Object
	for _, path := range paths {
		files, err := manifestFiles(path)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f) //nolint:gosec // the caller's manifests
			if err != nil {
				return nil, err
			}
			more, err := DecodeManifests(scheme, data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			objs = append(objs, more...)
		}
	}
	return objs, nil
}

func manifestFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	data, err := os.ReadFile(filepath.Join(path, "kustomization.yaml")) //nolint:gosec // the caller's manifests
	if err == nil {
		var k struct {
			Resources []string `json:"resources"`
		}
		if err := yaml.Unmarshal(data, &k); err != nil {
			return nil, fmt.Errorf("%s/kustomization.yaml: %w", path, err)
		}
		var files []string
		for _, r := range k.Resources {
			f := filepath.Join(path, r)
			if fi, err := os.Stat(f); err != nil || fi.IsDir() {
				return nil, fmt.Errorf("%s/kustomization.yaml: resource %q is not a file here; build it with kustomize instead", path, r)
			}
			files = append(files, f)
		}
		return files, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yaml" || ext == ".yml" || ext == ".json") {
			files = append(files, filepath.Join(path, e.Name()))
		}
	}
	return files, nil
}

// SortForApply orders objects as kubectl does where it matters: Namespaces and
// CustomResourceDefinitions first, so that what lives in them can follow. It is stable.
func SortForApply(objs []client.Object) {
	rank := func(o client.Object) int {
		switch o.GetObjectKind().GroupVersionKind().Kind {
		case "Namespace":
			return 0
		case "CustomResourceDefinition":
			return 1
		default:
			return 2
		}
	}
	slices.SortStableFunc(objs, func(a, b client.Object) int { return rank(a) - rank(b) })
}

// ApplyOption modifies Apply.
type ApplyOption func(*[]client.ApplyOption)

// DryRun makes Apply a server-side dry run: every object is validated and admitted, nothing is
// stored.
func DryRun() ApplyOption {
	return func(o *[]client.ApplyOption) { *o = append(*o, client.DryRunAll) }
}

// Apply writes objects with server-side apply (field manager FieldOwner, forcing ownership), in
// the order given, and returns an error naming every object the API server refused. Status and
// creationTimestamp are not sent.
func (e *Env) Apply(ctx context.Context, objs []client.Object, opts ...ApplyOption) error {
	return ApplyObjects(ctx, e.Client, objs, opts...)
}

// ApplyObjects is Env.Apply for any client.
func ApplyObjects(ctx context.Context, c client.Client, objs []client.Object, opts ...ApplyOption) error {
	applyOpts := []client.ApplyOption{client.FieldOwner(FieldOwner), client.ForceOwnership}
	for _, o := range opts {
		o(&applyOpts)
	}
	var errs []error
	for _, obj := range objs {
		u, err := ToUnstructured(c.Scheme(), obj)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), applyOpts...); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", Describe(obj), err))
		}
	}
	return errors.Join(errs...)
}

// ToUnstructured converts an object for server-side apply: apiVersion and kind set, no status,
// no creationTimestamp.
func ToUnstructured(scheme *runtime.Scheme, obj client.Object) (*unstructured.Unstructured, error) {
	var u *unstructured.Unstructured
	if already, ok := obj.(*unstructured.Unstructured); ok {
		u = already.DeepCopy()
	} else {
		gvk, err := apiutil.GVKForObject(obj, scheme)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", Describe(obj), err)
		}
		content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", Describe(obj), err)
		}
		u = &unstructured.Unstructured{Object: content}
		u.SetGroupVersionKind(gvk)
	}
	unstructured.RemoveNestedField(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	return u, nil
}

// Describe names an object as kubectl does: "kind/name" or "kind/namespace/name".
func Describe(obj client.Object) string {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if kind == "" {
		// Typed objects built in Go have no TypeMeta: use the Go type's name.
		kind = fmt.Sprintf("%T", obj)
		kind = kind[strings.LastIndex(kind, ".")+1:]
	}
	if ns := obj.GetNamespace(); ns != "" {
		return kind + "/" + ns + "/" + obj.GetName()
	}
	return kind + "/" + obj.GetName()
}
