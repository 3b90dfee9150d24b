package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// PolicyDir holds the ValidatingAdmissionPolicies that ship with the CRDs.
func PolicyDir() string { return filepath.Join(Root(), "config", "crd", "policy") }

// Policies reads the admission policies in dir (PolicyDir: those that ship with the CRDs), as
// unstructured objects.
func Policies(dir string) ([]*unstructured.Unstructured, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no admission policies in %s", dir)
	}
	var objs []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f) //nolint:gosec // the repository's own manifests
		if err != nil {
			return nil, err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if len(u.Object) > 0 {
				objs = append(objs, u)
			}
		}
	}
	return objs, nil
}

// InstallPolicies creates the admission policies of dir (PolicyDir) and waits until the
// API server enforces them. A new policy takes a moment to reach the admission plugin, so it
// probes: a user allowed to create TableauWebhooks, but not to write their status, tries (as
// a dry run) to create one with the create-pending annotation until the policy refuses it.
// The probe's namespace, Role and RoleBinding are removed afterwards.
func InstallPolicies(ctx context.Context, cfg *rest.Config, dir string) error {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	objs, err := Policies(dir)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	if err := waitEnforced(ctx, c, cfg); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	return nil
}

func waitEnforced(ctx context.Context, c client.Client, cfg *rest.Config) error {
	const user = "testenv:policy-probe"
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "policy-probe-"}}
	if err := c.Create(ctx, ns); err != nil {
		return err
	}
	defer func() { _ = c.Delete(context.Background(), ns) }()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "probe"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"tableau.webhook-operator.dev"}, Resources: []string{"tableauwebhooks"}, Verbs: []string{"create"}}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "probe"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := c.Create(ctx, o); err != nil {
			return err
		}
	}
	probeCfg := rest.CopyConfig(cfg)
	probeCfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	probe, err := client.New(probeCfg, client.Options{})
	if err != nil {
		return err
	}
	webhook := func() *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "tableau.webhook-operator.dev/v1alpha1",
			"kind":       "TableauWebhook",
			"metadata": map[string]any{
				"namespace":   ns.Name,
				"name":        "probe",
				"annotations": map[string]any{"tableau.webhook-operator.dev/create-pending": "2026-01-01T00:00:00Z"},
			},
			"spec": map[string]any{
				"siteRef":     map[string]any{"name": "probe"},
				"event":       "WorkbookCreated",
				"destination": map[string]any{"url": "https://hooks.example.com/probe"},
			},
		}}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		err := probe.Create(ctx, webhook(), client.DryRunAll)
		switch {
		case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "ValidatingAdmissionPolicy"):
			return nil
		case err != nil:
			return fmt.Errorf("the policy probe was refused for another reason than the policy: %w", err)
		}
		if time.Now().After(deadline) {
			return errors.New("the admission policies are still not enforced after a minute")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
