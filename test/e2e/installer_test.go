package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// installerObjects decodes the installer into typed objects.
func installerObjects(t *testing.T, env *localenv.Env) []client.Object {
	t.Helper()
	objs, err := localenv.DecodeManifests(env.Scheme, installerYAML(t))
	if err != nil {
		t.Fatalf("decode the installer: %v", err)
	}
	localenv.SortForApply(objs)
	return objs
}

func kindOf(obj client.Object) string { return obj.GetObjectKind().GroupVersionKind().Kind }

// managerDeployment returns the installer's Deployment of the manager.
func managerDeployment(t *testing.T, objs []client.Object) *appsv1.Deployment {
	t.Helper()
	var found []*appsv1.Deployment
	for _, obj := range objs {
		if d, ok := obj.(*appsv1.Deployment); ok {
			found = append(found, d)
		}
	}
	if len(found) != 1 || len(found[0].Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("the installer should hold one Deployment with one container, holds %d Deployments", len(found))
	}
	return found[0]
}

// TestInstaller checks dist/install.yaml (`make build-installer`): a real API server accepts
// every object (server-side dry run), its RBAC has no wildcards, and the manager's Deployment is
// hardened as DESIGN.md 5.2 says.
func TestInstaller(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	env := startEnv(t, localenv.Options{NoCRDs: true})
	ctx := within(t, 2*time.Minute)
	objs := installerObjects(t, env)

	t.Run("AcceptedByServerSideDryRun", func(t *testing.T) {
		// A dry run of a namespaced object fails when its namespace does not exist yet, as
		// `kubectl apply --dry-run=server` would: create the namespaces for real first.
		var namespaces []client.Object
		for _, obj := range objs {
			if kindOf(obj) == "Namespace" {
				namespaces = append(namespaces, obj)
			}
		}
		if len(namespaces) == 0 {
			t.Error("the installer creates no Namespace")
		}
		if err := env.Apply(ctx, namespaces); err != nil {
			t.Fatal(err)
		}
		if err := env.Apply(ctx, objs, localenv.DryRun()); err != nil {
			t.Errorf("the API server refused objects of the installer:\n%v", err)
		}
		kinds := map[string]int{}
		for _, obj := range objs {
			kinds[kindOf(obj)]++
		}
		for _, kind := range []string{"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "Service"} {
			if kinds[kind] == 0 {
				t.Errorf("the installer holds no %s (it holds %v)", kind, kinds)
			}
		}
	})

	t.Run("NoWildcardsInRBAC", func(t *testing.T) {
		for _, obj := range objs {
			var rules []rbacv1.PolicyRule
			switch r := obj.(type) {
			case *rbacv1.ClusterRole:
				rules = r.Rules
				if r.AggregationRule != nil {
					t.Errorf("%s aggregates other roles; its permissions cannot be reviewed here", localenv.Describe(obj))
				}
			case *rbacv1.Role:
				rules = r.Rules
			default:
				continue
			}
			for i, rule := range rules {
				for field, values := range map[string][]string{
					"verbs": rule.Verbs, "resources": rule.Resources, "apiGroups": rule.APIGroups,
					"nonResourceURLs": rule.NonResourceURLs, "resourceNames": rule.ResourceNames,
				} {
					for _, v := range values {
						if strings.Contains(v, "*") {
							t.Errorf("%s rule %d: %s holds the wildcard %q", localenv.Describe(obj), i, field, v)
						}
					}
				}
			}
		}
	})

	t.Run("HardenedDeployment", func(t *testing.T) {
		d := managerDeployment(t, objs)
		pod := d.Spec.Template.Spec
		c := pod.Containers[0]
		check := func(ok bool, what string) {
			if !ok {
				t.Errorf("Deployment %s: %s", d.Name, what)
			}
		}
		check(pod.SecurityContext != nil && ptr.Deref(pod.SecurityContext.RunAsNonRoot, false), "pod securityContext.runAsNonRoot is not true")
		check(pod.SecurityContext != nil && pod.SecurityContext.SeccompProfile != nil &&
			pod.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault, "pod seccompProfile is not RuntimeDefault")
		sc := c.SecurityContext
		check(sc != nil && ptr.Deref(sc.ReadOnlyRootFilesystem, false), "readOnlyRootFilesystem is not true")
		check(sc != nil && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation, "allowPrivilegeEscalation is not false")
		check(sc != nil && sc.Capabilities != nil && slices.Contains(sc.Capabilities.Drop, "ALL"), "capabilities do not drop ALL")
		check(c.LivenessProbe != nil && c.ReadinessProbe != nil, "liveness or readiness probe missing")
		check(c.Resources.Requests.Cpu() != nil && !c.Resources.Requests.Memory().IsZero() && !c.Resources.Limits.Memory().IsZero(), "resource requests or limits missing")
		check(slices.Contains(c.Args, "--leader-elect"), "the manager runs without --leader-elect")
		check(pod.ServiceAccountName != "", "no serviceAccountName")
	})
}

// TestManagerWithShippedRBAC runs the manager binary as the ServiceAccount the installer
// creates (by impersonation), with the Deployment's flags (leader election included) and every
// namespace watched, through a create/update/delete scenario: the installer's RBAC must be
// enough, and the log must show no "forbidden". Stopping it with SIGTERM must sign its Tableau
// session out. Its /metrics serves every metric that the alerting rules and the Grafana
// dashboard use (monitoring_test.go): before it saw any resource, and once a webhook that
// Tableau disabled was enabled again.
func TestManagerWithShippedRBAC(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	bins := binaries(t)
	env := startEnv(t, localenv.Options{NoCRDs: true})
	ctx := within(t, 3*time.Minute)

	// Everything of the installer but the Deployment, for real: this API server has no nodes to
	// run it on, so the manager runs here instead, with the Deployment's identity and flags.
	deploy := installAllButDeployment(ctx, t, env, installerObjects(t, env), nil)

	sa := deploy.Spec.Template.Spec.ServiceAccountName
	ns := deploy.Namespace
	kubeconfig, err := env.ImpersonatingKubeconfig("manager-sa", localenv.ServiceAccountUser(ns, sa))
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, a := range deploy.Spec.Template.Spec.Containers[0].Args {
		// Ports are localenv's to choose.
		if !strings.HasPrefix(a, "--health-probe-bind-address") && !strings.HasPrefix(a, "--metrics-bind-address") {
			args = append(args, a)
		}
	}
	// In a Pod the Lease's namespace is the Pod's; here it must be said.
	args = append(args, "--leader-election-namespace="+ns)

	sim, err := env.StartInProcessSimulator(localenv.SimulatorOptions{Sites: []string{"marketing"}, TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := env.StartManager(ctx, localenv.ManagerOptions{Binary: bins.Manager, Kubeconfig: kubeconfig, Args: args, Name: "manager-sa"})
	if err != nil {
		t.Fatal(err)
	}
	showLogOnFailure(t, mgr)
	waitLeading(ctx, t, mgr)
	checkMonitoringMetrics(ctx, t, mgr, true)

	const team = "team-a"
	site := &tableauv1.TableauSite{
		ObjectMeta: metav1.ObjectMeta{Name: "marketing", Namespace: team},
		Spec: tableauv1.TableauSiteSpec{
			ServerURL: sim.URL,
			Site:      "marketing",
			Credentials: tableauv1.TableauCredentials{PersonalAccessToken: &tableauv1.SecretCredentials{
				SecretRef: tableauv1.LocalSecretReference{Name: "tableau-pat"},
			}},
			TLS: &tableauv1.TableauTLS{CABundleSecretRef: &tableauv1.SecretKeySelector{Name: "tableau-ca", Key: "ca.crt"}},
		},
	}
	webhook := &tableauv1.TableauWebhook{
		ObjectMeta: metav1.ObjectMeta{Name: "refresh-failed", Namespace: team},
		Spec: tableauv1.TableauWebhookSpec{
			SiteRef:     tableauv1.SiteReference{Name: "marketing"},
			Event:       "DatasourceRefreshFailed",
			Destination: tableauv1.Destination{URL: "https://hooks.example.com/first"},
			// The shortest drift-check period the API admits: the webhook that Tableau disables
			// below is enabled again within about a minute.
			ResyncPeriod: &metav1.Duration{Duration: 30 * time.Second},
		},
	}
	setup := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: team}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tableau-pat", Namespace: team},
			StringData: map[string]string{"tokenName": sim.PATName, "tokenSecret": sim.PATSecret}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tableau-ca", Namespace: team},
			StringData: map[string]string{"ca.crt": string(sim.CAPEM)}},
		site,
		webhook,
	}

	t.Log("create")
	if err := env.Apply(ctx, setup); err != nil {
		t.Fatal(err)
	}
	waitReady(ctx, t, env, site, webhook)
	inTableau := simWebhookNamed(ctx, t, sim, team+"/refresh-failed", "https://hooks.example.com/first")
	secretsHeldOnlyByFinalizer(ctx, t, env, kubeconfig, team, "tableau-pat")

	t.Log("Tableau disables the webhook, the operator enables it again: every metric of the alerts and the dashboard is served")
	reenabledLikeTableau(ctx, t, mgr, sim, "marketing", inTableau.ID, team, webhook.Name)

	t.Log("update the destination")
	webhook.Spec.Destination.URL = "https://hooks.example.com/second"
	if err := env.Apply(ctx, []client.Object{webhook}); err != nil {
		t.Fatal(err)
	}
	waitReady(ctx, t, env, webhook)
	if updated := simWebhookNamed(ctx, t, sim, team+"/refresh-failed", "https://hooks.example.com/second"); updated.ID != inTableau.ID {
		t.Errorf("the update replaced webhook %s with %s instead of updating it", inTableau.ID, updated.ID)
	}

	t.Log("delete")
	if err := env.Client.Delete(ctx, webhook); err != nil {
		t.Fatal(err)
	}
	if err := env.WaitGone(within(t, time.Minute), webhook); err != nil {
		t.Fatal(err)
	}
	noSeriesLeft(ctx, t, mgr, team, webhook.Name)
	if left := sim.Server.Webhooks("marketing"); len(left) != 0 {
		t.Errorf("webhooks left in Tableau after the delete: %+v", left)
	}

	// The Lease shows that leader election ran with the shipped Role.
	var leases coordinationv1.LeaseList
	if err := env.Client.List(ctx, &leases, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(leases.Items) != 1 || ptr.Deref(leases.Items[0].Spec.HolderIdentity, "") == "" {
		t.Errorf("want one held Lease in %s, got %+v", ns, leases.Items)
	}

	t.Log("SIGTERM")
	signOuts := sim.Server.Count(tableautest.OpSignOut)
	if err := mgr.Stop(); err != nil {
		t.Errorf("stop the manager: %v", err)
	}
	if got := sim.Server.Count(tableautest.OpSignOut) - signOuts; got != 1 {
		t.Errorf("the manager signed out %d times at SIGTERM, want 1 (its one session)", got)
	}
	if err := env.Client.List(ctx, &leases, client.InNamespace(ns)); err == nil && len(leases.Items) == 1 &&
		ptr.Deref(leases.Items[0].Spec.HolderIdentity, "") != "" {
		t.Errorf("the manager kept the Lease at SIGTERM (holder %q): another replica would wait for it to expire",
			*leases.Items[0].Spec.HolderIdentity)
	}

	log, err := mgr.Log()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(strings.ToLower(line), "forbidden") {
			t.Errorf("the manager was refused something the installer should grant:\n%s", line)
		}
	}
}

// installAllButDeployment applies first and then objs, leaving out the Deployment and the
// kinds in skip, for real (this API server has no nodes to run the Deployment on), waits until
// their CRDs are served, and returns the Deployment.
func installAllButDeployment(ctx context.Context, t *testing.T, env *localenv.Env, objs, first []client.Object, skip ...string) *appsv1.Deployment {
	t.Helper()
	deploy := managerDeployment(t, objs)
	install := append([]client.Object{}, first...)
	var crds []client.Object
	for _, obj := range objs {
		switch kind := kindOf(obj); {
		case kind == "Deployment" || slices.Contains(skip, kind):
			continue
		case kind == "CustomResourceDefinition":
			crds = append(crds, obj)
		}
		install = append(install, obj)
	}
	if err := env.Apply(ctx, install); err != nil {
		t.Fatalf("install: %v", err)
	}
	waitEstablished(ctx, t, env, crds)
	return deploy
}

// waitEstablished waits until the API server serves the CRDs.
func waitEstablished(ctx context.Context, t *testing.T, env *localenv.Env, crds []client.Object) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := localenv.Poll(ctx, func(ctx context.Context) error {
		for _, obj := range crds {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), &crd); err != nil {
				return err
			}
			established := false
			for _, c := range crd.Status.Conditions {
				established = established || c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue
			}
			if !established {
				return fmt.Errorf("CRD %s is not Established", crd.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// With the TableauWebhook CRD new, the installer's MutatingAdmissionPolicy answers its
	// creations with 503 for a few seconds: wait, as a client would retry.
	for _, obj := range crds {
		if obj.GetName() == "tableauwebhooks."+tableauv1.GroupVersion.Group {
			if err := env.WaitWebhookAdmission(ctx, false); err != nil {
				t.Fatalf("creations of TableauWebhooks are not admitted: %v", err)
			}
		}
	}
}

// waitReady waits up to a minute for objects to be Ready for their current generation.
func waitReady(ctx context.Context, t *testing.T, env *localenv.Env, objs ...client.Object) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := env.WaitReady(ctx, objs...); err != nil {
		t.Fatal(err)
	}
}

// simWebhookNamed waits until the simulator holds exactly one webhook of that name, with that
// URL, and returns it.
func simWebhookNamed(ctx context.Context, t *testing.T, sim *localenv.Simulator, name, url string) localenv.SimWebhook {
	t.Helper()
	var found localenv.SimWebhook
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := localenv.Poll(ctx, func(ctx context.Context) error {
		hooks, err := sim.Webhooks(ctx, "marketing")
		if err != nil {
			return err
		}
		var named []localenv.SimWebhook
		for _, h := range hooks {
			if h.Name == name {
				named = append(named, h)
			}
		}
		if len(named) != 1 || named[0].URL != url {
			return fmt.Errorf("want one webhook %q with URL %s in Tableau, have %+v", name, url, hooks)
		}
		found = named[0]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// secretsHeldOnlyByFinalizer checks the manager's one write to Secrets: the credential Secret
// carries its credentials-in-use finalizer (put there with the shipped RBAC), and the
// ValidatingAdmissionPolicy of config/rbac refuses the manager's ServiceAccount any other change
// of a Secret (a server-side dry run of a data change, as that ServiceAccount).
func secretsHeldOnlyByFinalizer(ctx context.Context, t *testing.T, env *localenv.Env, kubeconfig, namespace, name string) {
	t.Helper()
	key := client.ObjectKey{Namespace: namespace, Name: name}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := localenv.Poll(ctx, func(ctx context.Context) error {
		var s corev1.Secret
		if err := env.Client.Get(ctx, key, &s); err != nil {
			return err
		}
		if !slices.Contains(s.Finalizers, "tableau.webhook-operator.dev/credentials-in-use") {
			return fmt.Errorf("Secret %s has finalizers %v, want credentials-in-use", key, s.Finalizers)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	asManager, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	// A new policy takes a moment to be enforced: poll until the dry run is refused.
	err = localenv.Poll(ctx, func(ctx context.Context) error {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
		patch := client.RawPatch(types.MergePatchType, []byte(`{"stringData":{"tokenSecret":"rewritten"}}`))
		err := asManager.Patch(ctx, s, patch, client.DryRunAll)
		switch {
		case err == nil:
			return errors.New("the manager's ServiceAccount may change a Secret's data")
		case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "only the finalizers"):
			return nil
		}
		return fmt.Errorf("unexpected answer to the manager's data change: %w", err)
	})
	if err != nil {
		t.Fatal(err)
	}
}
