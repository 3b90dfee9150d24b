package e2e

import (
	"slices"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
)

// TestInstallerAdmissionPolicies installs dist/install.yaml on a bare API server and checks
// that its admission policies take effect as installed (names prefixed by kustomize): every
// binding names a policy of the installer, and a TableauWebhook created afterwards has the
// manager's finalizer from the MutatingAdmissionPolicy, with no manager running.
func TestInstallerAdmissionPolicies(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	env := startEnv(t, localenv.Options{NoCRDs: true, NoControllerManager: true})
	ctx := within(t, 2*time.Minute)
	objs := installerObjects(t, env)

	policies := map[string]bool{}
	var bindings []string
	for _, obj := range objs {
		switch o := obj.(type) {
		case *admissionregistrationv1.MutatingAdmissionPolicy, *admissionregistrationv1.ValidatingAdmissionPolicy:
			policies[kindOf(obj)+"/"+obj.GetName()] = true
		case *admissionregistrationv1.MutatingAdmissionPolicyBinding:
			bindings = append(bindings, "MutatingAdmissionPolicy/"+o.Spec.PolicyName)
		case *admissionregistrationv1.ValidatingAdmissionPolicyBinding:
			bindings = append(bindings, "ValidatingAdmissionPolicy/"+o.Spec.PolicyName)
		}
	}
	if !slices.Contains(bindings, "MutatingAdmissionPolicy/tableau-webhook-operator-webhook-finalizer") {
		t.Errorf("the installer binds no MutatingAdmissionPolicy tableau-webhook-operator-webhook-finalizer; bindings: %v", bindings)
	}
	for _, b := range bindings {
		if !policies[b] {
			t.Errorf("a binding of the installer names %s, which the installer does not hold (it holds %v)", b, policies)
		}
	}

	if err := env.Apply(ctx, objs); err != nil {
		t.Fatal(err)
	}
	// The API server takes a few seconds to load a new policy and the new CRD's schema; until
	// then a creation is refused with 503, which a client retries.
	if err := env.WaitWebhookAdmission(ctx, true); err != nil {
		t.Fatalf("the installer's MutatingAdmissionPolicy did not put %s on a new TableauWebhook: %v", webhookFinalizer, err)
	}
	wh := &tableauv1.TableauWebhook{
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: "from-the-installer"},
		Spec: tableauv1.TableauWebhookSpec{
			SiteRef:     tableauv1.SiteReference{Name: "tableau"},
			Event:       "WorkbookCreated",
			Destination: tableauv1.Destination{URL: "https://hooks.example.com/installed"},
		},
	}
	if err := env.Client.Create(ctx, wh); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(wh.Finalizers, webhookFinalizer) {
		t.Errorf("the created TableauWebhook has finalizers %v, want %s", wh.Finalizers, webhookFinalizer)
	}
	// Leave it deletable for the environment's teardown.
	wh.Finalizers = nil
	if err := env.Client.Update(ctx, wh); err != nil {
		t.Fatal(err)
	}
}
