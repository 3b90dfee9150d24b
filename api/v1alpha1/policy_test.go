package v1alpha1_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/testenv"
)

// tenantClient binds the shipped TableauWebhook editor ClusterRole (config/rbac) to a user in
// namespace and returns a client that acts as that user.
func tenantClient(t *testing.T, namespace string) client.Client {
	t.Helper()
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "rbac", "tableauwebhook_editor_role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(data, role); err != nil {
		t.Fatal(err)
	}
	role.Name = "policy-test-" + namespace + "-" + role.Name
	if err := k8s.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), role) })
	const user = "tenant-editor"
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "tableauwebhook-editor"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	if err := k8s.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The create-pending annotation is the operator's proof that a same-named webhook in Tableau is
// one it made. The admission policy shipped with the CRDs (config/crd/policy) keeps it to those
// who may write the resource's status: a tenant with the shipped editor role can neither set,
// change nor remove it, and everything else it may do is still allowed.
func TestCreatePendingPolicy(t *testing.T) {
	c := apiServer(t)
	ctx := context.Background()
	ns := newNamespace(t)
	tenant := tenantClient(t, ns)
	const mark = `"tableau.webhook-operator.dev/create-pending"`
	refused := func(t *testing.T, what string, err error) {
		t.Helper()
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "tableau.webhook-operator.dev/create-pending") {
			t.Errorf("%s: got %v, want Forbidden naming the annotation", what, err)
		}
	}

	forged := object(t, validWebhook, `{"metadata":{"name":"forged","annotations":{`+mark+`:"2026-01-01T00:00:00Z"},"finalizers":["tableau.webhook-operator.dev/webhook"]}}`, ns)
	refused(t, "create with the mark", create(ctx, tenant, forged))

	plain := object(t, validWebhook, `{"metadata":{"name":"plain","finalizers":["tableau.webhook-operator.dev/webhook"]}}`, ns)
	if err := create(ctx, tenant, plain); err != nil {
		t.Fatalf("the editor role cannot create a TableauWebhook: %v", err)
	}
	refused(t, "adding the mark", update(ctx, tenant, plain, `{"metadata":{"annotations":{`+mark+`:"2026-01-01T00:00:00Z"}}}`))
	if err := update(ctx, tenant, plain, `{"metadata":{"annotations":{"tableau.webhook-operator.dev/test":"1","team":"data"}},"spec":{"webhookName":"renamed"}}`); err != nil {
		t.Errorf("other annotations and spec changes refused: %v", err)
	}

	// The operator (here the admin, who may write status) sets it; the tenant may then
	// neither change nor remove it, but may still edit the rest.
	if err := update(ctx, c, plain, `{"metadata":{"annotations":{`+mark+`:"2026-01-01T00:00:00Z"}}}`); err != nil {
		t.Fatalf("the operator's own write of the mark refused: %v", err)
	}
	refused(t, "changing the mark", update(ctx, tenant, plain, `{"metadata":{"annotations":{`+mark+`:"2027-01-01T00:00:00Z"}}}`))
	refused(t, "removing the mark", update(ctx, tenant, plain, `{"metadata":{"annotations":{`+mark+`:null}}}`))
	if err := update(ctx, tenant, plain, `{"spec":{"event":"WorkbookCreated"}}`); err != nil {
		t.Errorf("a spec change with the operator's mark in place refused: %v", err)
	}
	if err := update(ctx, c, plain, `{"metadata":{"annotations":{`+mark+`:null}}}`); err != nil {
		t.Errorf("the operator's removal of the mark refused: %v", err)
	}
	// Status stays the operator's: the editor role cannot write it.
	if err := tenant.Status().Patch(ctx, plain, client.RawPatch(types.MergePatchType, []byte(`{"status":{"webhookID":"forged"}}`))); !apierrors.IsForbidden(err) {
		t.Errorf("status write with the editor role: got %v, want Forbidden", err)
	}
	if err := update(ctx, c, plain, `{"metadata":{"finalizers":null}}`); err != nil {
		t.Errorf("clean up: %v", err)
	}
}
