package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/client-go/discovery"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
)

// The Helm chart in dist/chart. Its CRDs, RBAC, admission policies and alerts are generated from
// config/ by hack/helmchart (make manifests); these tests check what it renders against what
// dist/install.yaml holds, against a real API server, and against the manager itself.

// chartDir is the chart, relative to the repository's root.
const chartDir = "dist/chart"

// The release that names its objects as config/default does: its objects must be the
// installer's.
const (
	installerRelease   = "tableau-webhook-operator"
	installerNamespace = "tableau-webhook-operator-system"
)

// helmBinary returns the pinned helm: $HELM, else bin/helm (`make helm`).
func helmBinary(t *testing.T) string {
	t.Helper()
	h := os.Getenv("HELM")
	if h == "" {
		h = filepath.Join(repoRoot(t), "bin", "helm")
	}
	if _, err := os.Stat(h); err != nil {
		t.Fatalf("no helm at %s: run `make helm` (make test does): %v", h, err)
	}
	return h
}

// runHelm runs helm in the repository's root and returns its stdout; an error carries stderr.
func runHelm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...) //nolint:gosec // the pinned tool
	cmd.Dir = repoRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out, nil
}

// values builds chart values from "a.b.c" paths.
func values(pathsAndValues ...any) map[string]any {
	v := map[string]any{}
	for i := 0; i+1 < len(pathsAndValues); i += 2 {
		setValue(v, pathsAndValues[i].(string), pathsAndValues[i+1])
	}
	return v
}

func setValue(v map[string]any, path string, value any) {
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := v[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			v[k] = next
		}
		v = next
	}
	v[keys[len(keys)-1]] = value
}

// writeValues writes values to a file for helm's -f.
func writeValues(t *testing.T, v map[string]any) string {
	t.Helper()
	data, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	// Not in t.TempDir(), named after the test: helm splits -f at commas.
	f, err := os.CreateTemp("", "chart-values-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(f.Name()) })
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// cluster is what `helm install` learns of the cluster and `helm template` must be told (as
// Argo CD tells it): the Kubernetes version and the APIs served. The zero value is helm's
// defaults.
type cluster struct {
	kubeVersion string
	apiVersions []string // group/version and group/version/Kind
}

// clusterOf reads env's API server as helm install would.
func clusterOf(t *testing.T, env *localenv.Env) cluster {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	v, err := dc.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	c := cluster{kubeVersion: v.GitVersion}
	_, lists, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lists {
		c.apiVersions = append(c.apiVersions, l.GroupVersion)
		for _, r := range l.APIResources {
			if !strings.Contains(r.Name, "/") {
				c.apiVersions = append(c.apiVersions, l.GroupVersion+"/"+r.Kind)
			}
		}
	}
	return c
}

// helmTemplate renders the chart as release name in namespace with values (none: the chart's
// defaults), for the cluster c.
func helmTemplate(t *testing.T, name, namespace string, c cluster, v map[string]any) ([]byte, error) {
	t.Helper()
	args := []string{"template", name, chartDir, "--namespace", namespace}
	if c.kubeVersion != "" {
		args = append(args, "--kube-version", c.kubeVersion)
	}
	if len(c.apiVersions) > 0 {
		args = append(args, "--api-versions", strings.Join(c.apiVersions, ","))
	}
	if v != nil {
		args = append(args, "-f", writeValues(t, v))
	}
	return runHelm(t, args...)
}

// renderChart is helmTemplate, decoded into objects (sorted for apply).
func renderChart(t *testing.T, name, namespace string, c cluster, v map[string]any) []client.Object {
	t.Helper()
	out, err := helmTemplate(t, name, namespace, c, v)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := localenv.DecodeManifests(localenv.NewScheme(), out)
	if err != nil {
		t.Fatalf("decode helm template's output: %v\n%s", err, out)
	}
	localenv.SortForApply(objs)
	return objs
}

// chartDeployment renders the chart and returns its Deployment.
func chartDeployment(t *testing.T, v map[string]any) *appsv1.Deployment {
	t.Helper()
	return managerDeployment(t, renderChart(t, installerRelease, installerNamespace, cluster{}, v))
}

// allOnValues turns on every toggle of the chart and sets every manager flag that the manager
// can run with here (the metrics and probe addresses are localenv's to choose). Its release is
// not named like the installer's, so that a name that does not follow the release shows.
func allOnValues() map[string]any {
	return values(
		"commonLabels", map[string]any{"team": "platform"},
		"crd.enabled", true,
		"crd.keep", true,
		"manager.replicas", 2,
		"manager.image.repository", "registry.example.com/tableau/operator",
		"manager.image.digest", "sha256:"+strings.Repeat("0123456789abcdef", 4),
		"manager.image.pullPolicy", "Always",
		"manager.imagePullSecrets", []any{map[string]any{"name": "registry"}},
		"manager.leaderElection", map[string]any{"enabled": true, "leaseDuration": "17s", "renewDeadline": "11s", "retryPeriod": "3s"},
		"manager.watchNamespaces", []any{"team-a", "team-b"},
		"manager.resyncPeriod", "45s",
		"manager.tableau", map[string]any{"qps": 7.5, "burst": 9, "timeout": "12s"},
		"manager.maxConcurrentReconciles", 3,
		"manager.log", map[string]any{"level": "debug", "encoder": "json", "stacktraceLevel": "panic", "timeEncoding": "rfc3339"},
		"manager.env", []any{map[string]any{"name": "GOMEMLIMIT", "value": "200MiB"}},
		"manager.envFrom", []any{map[string]any{"configMapRef": map[string]any{"name": "operator-env", "optional": true}}},
		"manager.resources", map[string]any{"requests": map[string]any{"cpu": "50m", "memory": "96Mi"}, "limits": map[string]any{"memory": "320Mi"}},
		"manager.nodeSelector", map[string]any{"kubernetes.io/os": "linux"},
		"manager.tolerations", []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "platform", "effect": "NoSchedule"}},
		"manager.affinity", map[string]any{"podAntiAffinity": map[string]any{"preferredDuringSchedulingIgnoredDuringExecution": []any{
			map[string]any{"weight": 100, "podAffinityTerm": map[string]any{"topologyKey": "kubernetes.io/hostname",
				"labelSelector": map[string]any{"matchLabels": map[string]any{"control-plane": "controller-manager"}}}}}}},
		"manager.topologySpreadConstraints", []any{map[string]any{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
			"whenUnsatisfiable": "ScheduleAnyway", "labelSelector": map[string]any{"matchLabels": map[string]any{"control-plane": "controller-manager"}}}},
		"manager.priorityClassName", "platform-critical",
		"manager.terminationGracePeriodSeconds", 45,
		"manager.strategy", map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"maxUnavailable": 1, "maxSurge": 0}},
		"manager.labels", map[string]any{"deployment-label": "yes"},
		"manager.annotations", map[string]any{"deployment-annotation": "yes"},
		"manager.podLabels", map[string]any{"pod-label": "yes"},
		"manager.podAnnotations", map[string]any{"pod-annotation": "yes"},
		"manager.extraVolumes", []any{map[string]any{"name": "scratch", "emptyDir": map[string]any{}}},
		"manager.extraVolumeMounts", []any{map[string]any{"name": "scratch", "mountPath": "/scratch"}},
		"serviceAccount", map[string]any{"create": true, "name": "tableau-operator",
			"annotations": map[string]any{"iam.example.com/role": "tableau-operator"}, "labels": map[string]any{"sa-label": "yes"}},
		"rbac.helpers.enabled", true,
		"rbac.secretsFinalizerPolicy.enabled", true,
		"admission.webhookFinalizerPolicy.enabled", true,
		"metrics", map[string]any{"enabled": true, "port": 8443, "secure": true,
			"service": map[string]any{"type": "ClusterIP", "labels": map[string]any{"svc-label": "yes"}, "annotations": map[string]any{"svc-annotation": "yes"}},
			"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}, "annotations": map[string]any{"sm-annotation": "yes"},
				"interval": "30s", "scrapeTimeout": "10s",
				"relabelings":       []any{map[string]any{"action": "replace", "sourceLabels": []any{"__meta_kubernetes_pod_node_name"}, "targetLabel": "node"}},
				"metricRelabelings": []any{map[string]any{"action": "drop", "sourceLabels": []any{"__name__"}, "regex": "go_gc_.*"}},
				"tlsConfig":         map[string]any{"insecureSkipVerify": true}}},
		"prometheusRule", map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}, "annotations": map[string]any{"rule-annotation": "yes"}},
	)
}

const (
	allOnRelease   = "ops"
	allOnNamespace = "tableau-ops"
	allOnSA        = "tableau-operator"
)

// TestChartLint runs helm lint on the chart, with its defaults and with every toggle on, and
// checks that values.schema.json refuses what it should.
func TestChartLint(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	if out, err := runHelm(t, "lint", "--strict", chartDir); err != nil {
		t.Errorf("helm lint with the default values: %v", err)
	} else {
		t.Logf("%s", out)
	}
	if _, err := runHelm(t, "lint", "--strict", chartDir, "--namespace", allOnNamespace, "-f", writeValues(t, allOnValues())); err != nil {
		t.Errorf("helm lint with every toggle on: %v", err)
	}
	// The schema makes a misspelt or mistyped value an error instead of a setting that is
	// silently ignored; template checks the same as the install would.
	for _, bad := range []struct {
		values map[string]any
		want   string
	}{
		{values("manager.replica", 2), "additional properties 'replica' not allowed"},
		{values("manager.tableau.qps", "fast"), "/manager/tableau/qps"},
		{values("manager.resyncPeriod", "ten minutes"), "/manager/resyncPeriod"},
		{values("metrics.serviceMonitor.enable", true), "additional properties 'enable' not allowed"},
		{values("manager.log.encoder", "xml"), "/manager/log/encoder"},
		{values("manager.replicas", 2, "manager.leaderElection.enabled", false), "needs manager.leaderElection.enabled"},
		{values("serviceAccount.create", false), "name the ServiceAccount the manager runs as"},
	} {
		_, err := helmTemplate(t, installerRelease, installerNamespace, cluster{}, bad.values)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("helm template with the values %v: want an error saying %q, got %v", bad.values, bad.want, err)
		}
	}
}

// TestChartAgainstAPIServer applies what the chart renders to a real API server with a
// server-side dry run, with the default values and with every toggle on (the ServiceMonitor
// and the PrometheusRule against the Prometheus Operator's CRDs, generated from its Go types by
// `make monitoring-crds`), and compares the objects with the installer's.
func TestChartAgainstAPIServer(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	env := startEnv(t, localenv.Options{NoCRDs: true, NoControllerManager: true})
	ctx := within(t, 3*time.Minute)
	installMonitoringCRDs(ctx, t, env)
	c := clusterOf(t, env)

	defaults := renderChart(t, installerRelease, installerNamespace, c, nil)
	allOn := renderChart(t, allOnRelease, allOnNamespace, c, allOnValues())

	for _, c := range []struct {
		name      string
		namespace string
		objs      []client.Object
		kinds     []string
	}{
		{"DefaultValues", installerNamespace, defaults, []string{"CustomResourceDefinition", "ServiceAccount", "ClusterRole",
			"ClusterRoleBinding", "Role", "RoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
			"MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "Deployment", "Service"}},
		{"EveryToggleOn", allOnNamespace, allOn, []string{"ServiceMonitor", "PrometheusRule"}},
	} {
		t.Run("ServerSideDryRun"+c.name, func(t *testing.T) {
			kinds := map[string]int{}
			for _, obj := range c.objs {
				kinds[kindOf(obj)]++
			}
			for _, k := range c.kinds {
				if kinds[k] == 0 {
					t.Errorf("the chart renders no %s (it renders %v)", k, kinds)
				}
			}
			if kinds["Namespace"] != 0 {
				t.Errorf("the chart renders a Namespace: the release's namespace is Helm's (--create-namespace) or Argo CD's (CreateNamespace=true)")
			}
			// The release's namespace exists before Helm installs into it.
			if err := env.Apply(ctx, []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.namespace}}}); err != nil {
				t.Fatal(err)
			}
			if err := env.Apply(ctx, c.objs, localenv.DryRun()); err != nil {
				t.Errorf("the API server refused objects of the chart:\n%v", err)
			}
			for _, obj := range c.objs {
				if namespacedKind(kindOf(obj)) && obj.GetNamespace() != c.namespace {
					t.Errorf("%s is not in the release's namespace %s", localenv.Describe(obj), c.namespace)
				}
			}
		})
	}

	t.Run("PrometheusRuleHoldsConfigPrometheusRules", func(t *testing.T) {
		chartRulesMatchConfig(t, env, allOn)
	})

	t.Run("SameObjectsAsTheInstaller", func(t *testing.T) {
		sameAsInstaller(t, installerObjects(t, env), defaults)
	})

	t.Run("SecureMetricsRBACAsConfigRBAC", func(t *testing.T) {
		secureMetricsRBAC(t, env, renderChart(t, installerRelease, installerNamespace, c, values("metrics.secure", true)))
	})

	t.Run("NamesFollowTheRelease", func(t *testing.T) {
		namesFollowTheRelease(t, allOn)
	})

	t.Run("ArgoCDApplicationExample", func(t *testing.T) {
		argoCDApplication(ctx, t, env, c)
	})
}

// argoCDApplication renders the chart as config/argocd/application.yaml says Argo CD should
// (its path, release name, destination namespace and values) and dry-runs the result.
func argoCDApplication(ctx context.Context, t *testing.T, env *localenv.Env, c cluster) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "config", "argocd", "application.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var app struct {
		Kind string `json:"kind"`
		Spec struct {
			Source struct {
				Path string `json:"path"`
				Helm struct {
					ReleaseName  string         `json:"releaseName"`
					ValuesObject map[string]any `json:"valuesObject"`
				} `json:"helm"`
			} `json:"source"`
			Destination struct {
				Namespace string `json:"namespace"`
			} `json:"destination"`
			SyncPolicy struct {
				SyncOptions []string `json:"syncOptions"`
			} `json:"syncPolicy"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &app); err != nil {
		t.Fatal(err)
	}
	src := app.Spec.Source
	if app.Kind != "Application" || src.Path != chartDir || src.Helm.ReleaseName == "" || app.Spec.Destination.Namespace == "" {
		t.Fatalf("config/argocd/application.yaml: want an Application of path %s with a release name and a destination namespace, got %+v", chartDir, app)
	}
	for _, opt := range []string{"CreateNamespace=true", "ServerSideApply=true"} {
		if !slices.Contains(app.Spec.SyncPolicy.SyncOptions, opt) {
			t.Errorf("config/argocd/application.yaml: no syncOption %s", opt)
		}
	}
	objs := renderChart(t, src.Helm.ReleaseName, app.Spec.Destination.Namespace, c, src.Helm.ValuesObject)
	if err := env.Apply(ctx, []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: app.Spec.Destination.Namespace}}}); err != nil {
		t.Fatal(err)
	}
	if err := env.Apply(ctx, objs, localenv.DryRun()); err != nil {
		t.Errorf("the API server refused objects of the chart rendered as config/argocd/application.yaml says:\n%v", err)
	}
}

// monitoringCRDsDir is where `make monitoring-crds` writes the Prometheus Operator's CRDs:
// $MONITORING_CRDS, else the one directory under bin/monitoring-crds.
func monitoringCRDsDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("MONITORING_CRDS"); dir != "" {
		return dir
	}
	dirs, _ := filepath.Glob(filepath.Join(repoRoot(t), "bin", "monitoring-crds", "*"))
	if len(dirs) != 1 {
		t.Fatalf("want one directory of Prometheus Operator CRDs under bin/monitoring-crds, found %v: run `make monitoring-crds` (make test does) or set MONITORING_CRDS", dirs)
	}
	return dirs[0]
}

// installMonitoringCRDs installs the ServiceMonitor and PrometheusRule CRDs.
func installMonitoringCRDs(ctx context.Context, t *testing.T, env *localenv.Env) {
	t.Helper()
	dir := monitoringCRDsDir(t)
	var crds []client.Object
	for _, plural := range []string{"servicemonitors", "prometheusrules"} {
		objs, err := localenv.ReadManifests(env.Scheme, filepath.Join(dir, "monitoring.coreos.com_"+plural+".yaml"))
		if err != nil {
			t.Fatalf("%v: run `make monitoring-crds`", err)
		}
		crds = append(crds, objs...)
	}
	if err := env.Apply(ctx, crds); err != nil {
		t.Fatal(err)
	}
	waitEstablished(ctx, t, env, crds)
}

func namespacedKind(kind string) bool {
	switch kind {
	case "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
		"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding":
		return false
	}
	return true
}

// normalized is an object as the comparison sees it: without the labels (the chart's name the
// release and Helm, kustomize's name kustomize) and without the annotations that keep the CRDs
// (helm.sh/resource-policy, argocd.argoproj.io/sync-options).
func normalized(t *testing.T, obj client.Object) map[string]any {
	t.Helper()
	u, err := localenv.ToUnstructured(localenv.NewScheme(), obj)
	if err != nil {
		t.Fatal(err)
	}
	u = u.DeepCopy()
	unstructured.RemoveNestedField(u.Object, "metadata", "labels")
	annotations := u.GetAnnotations()
	maps.DeleteFunc(annotations, func(k, _ string) bool {
		return strings.HasPrefix(k, "helm.sh/") || strings.HasPrefix(k, "argocd.argoproj.io/")
	})
	if len(annotations) == 0 {
		unstructured.RemoveNestedField(u.Object, "metadata", "annotations")
	} else {
		u.SetAnnotations(annotations)
	}
	return u.Object
}

type objectKey struct{ kind, namespace, name string }

// keyOf names an object; a cluster-scoped object's namespace, which the API server ignores, is
// left out (kustomize sets one on kinds it does not know to be cluster-scoped).
func keyOf(obj client.Object) objectKey {
	if !namespacedKind(kindOf(obj)) {
		return objectKey{kindOf(obj), "", obj.GetName()}
	}
	return objectKey{kindOf(obj), obj.GetNamespace(), obj.GetName()}
}

func byKey(objs []client.Object) map[objectKey]client.Object {
	m := map[objectKey]client.Object{}
	for _, obj := range objs {
		m[keyOf(obj)] = obj
	}
	return m
}

// sameAsInstaller checks that the chart, released as the installer names things, renders the
// installer's objects (but its Namespace): the CRDs, RBAC and admission policies equal, the
// ServiceAccount and metrics Service equal but for their selectors' labels, the Deployment's pod
// equal but for the image and labels.
func sameAsInstaller(t *testing.T, installer, chart []client.Object) {
	t.Helper()
	chartObjs := byKey(chart)
	for _, want := range installer {
		k := keyOf(want)
		if k.kind == "Namespace" {
			continue
		}
		got, ok := chartObjs[k]
		if !ok {
			t.Errorf("the chart has no %s, which the installer has", localenv.Describe(want))
			continue
		}
		delete(chartObjs, k)
		switch k.kind {
		case "Deployment":
			sameDeployment(t, want.(*appsv1.Deployment), got.(*appsv1.Deployment))
		case "Service":
			w, g := want.(*corev1.Service), got.(*corev1.Service)
			if !reflect.DeepEqual(w.Spec.Ports, g.Spec.Ports) {
				t.Errorf("Service %s: ports differ from the installer's:\n%s", k.name, diff.Diff(w.Spec.Ports, g.Spec.Ports))
			}
		default:
			w, g := normalized(t, want), normalized(t, got)
			if !namespacedKind(k.kind) {
				unstructured.RemoveNestedField(w, "metadata", "namespace")
			}
			if !reflect.DeepEqual(w, g) {
				t.Errorf("%s differs from the installer's (- installer, + chart):\n%s", localenv.Describe(want), diff.Diff(w, g))
			}
		}
	}
	for k := range chartObjs {
		t.Errorf("the chart's default values install %s %s/%s, which the installer does not", k.kind, k.namespace, k.name)
	}

	// The metrics Service selects the manager's pods.
	var svc *corev1.Service
	var deploy *appsv1.Deployment
	for _, obj := range chart {
		switch o := obj.(type) {
		case *corev1.Service:
			svc = o
		case *appsv1.Deployment:
			deploy = o
		}
	}
	if svc != nil && deploy != nil {
		for k, v := range svc.Spec.Selector {
			if deploy.Spec.Template.Labels[k] != v {
				t.Errorf("the metrics Service selects %s=%s, which the manager's pods do not carry (%v)", k, v, deploy.Spec.Template.Labels)
			}
		}
	}
}

// sameDeployment compares the chart's Deployment with the installer's: the same pod (security
// contexts, probes, ports, args, resources, ServiceAccount, grace period) but for the image.
func sameDeployment(t *testing.T, want, got *appsv1.Deployment) {
	t.Helper()
	if ptr.Deref(want.Spec.Replicas, 1) != ptr.Deref(got.Spec.Replicas, 1) {
		t.Errorf("Deployment replicas: installer %d, chart %d", ptr.Deref(want.Spec.Replicas, 1), ptr.Deref(got.Spec.Replicas, 1))
	}
	for k, v := range got.Spec.Selector.MatchLabels {
		if got.Spec.Template.Labels[k] != v {
			t.Errorf("the chart's Deployment selects %s=%s, which its pods do not carry", k, v)
		}
	}
	if w, g := want.Spec.Template.Annotations, got.Spec.Template.Annotations; !reflect.DeepEqual(w, g) {
		t.Errorf("pod annotations: installer %v, chart %v", w, g)
	}
	wp, gp := want.Spec.Template.Spec.DeepCopy(), got.Spec.Template.Spec.DeepCopy()
	for _, p := range []*corev1.PodSpec{wp, gp} {
		p.Containers[0].Image, p.Containers[0].ImagePullPolicy = "", ""
	}
	if !reflect.DeepEqual(wp, gp) {
		t.Errorf("the Deployment's pod differs from the installer's (- installer, + chart):\n%s", diff.Diff(wp, gp))
	}
}

// secureMetricsRBAC checks the RBAC that metrics.secure adds against config/rbac's
// metrics_auth_role.yaml, metrics_auth_role_binding.yaml and metrics_reader_role.yaml (which
// config/default leaves out): the same rules, bound to the manager's ServiceAccount.
func secureMetricsRBAC(t *testing.T, env *localenv.Env, chart []client.Object) {
	t.Helper()
	config, err := localenv.ReadManifests(env.Scheme, filepath.Join(repoRoot(t), "config", "rbac", "metrics_auth_role.yaml"),
		filepath.Join(repoRoot(t), "config", "rbac", "metrics_reader_role.yaml"), filepath.Join(repoRoot(t), "config", "rbac", "metrics_auth_role_binding.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	chartObjs := byKey(chart)
	for _, want := range config {
		// kustomize's namePrefix, as for the installer.
		k := objectKey{kindOf(want), "", "tableau-webhook-operator-" + want.GetName()}
		got, ok := chartObjs[k]
		if !ok {
			t.Errorf("with metrics.secure the chart has no %s %s", k.kind, k.name)
			continue
		}
		switch w := want.(type) {
		case *rbacv1.ClusterRole:
			if g := got.(*rbacv1.ClusterRole); !reflect.DeepEqual(w.Rules, g.Rules) {
				t.Errorf("ClusterRole %s: rules differ from config/rbac's:\n%s", k.name, diff.Diff(w.Rules, g.Rules))
			}
		case *rbacv1.ClusterRoleBinding:
			g := got.(*rbacv1.ClusterRoleBinding)
			wantSubjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "tableau-webhook-operator-controller-manager", Namespace: installerNamespace}}
			if g.RoleRef.Name != "tableau-webhook-operator-"+w.RoleRef.Name || !reflect.DeepEqual(g.Subjects, wantSubjects) {
				t.Errorf("ClusterRoleBinding %s binds %s to %+v, want %s to %+v", k.name, g.RoleRef.Name, g.Subjects, "tableau-webhook-operator-"+w.RoleRef.Name, wantSubjects)
			}
		}
	}
}

// namesFollowTheRelease checks the every-toggle-on release ("ops" in "tableau-ops", with its
// own ServiceAccount name): every name is the release's, every binding and the
// ValidatingAdmissionPolicy name its ServiceAccount, nothing names the installer's namespace.
func namesFollowTheRelease(t *testing.T, objs []client.Object) {
	t.Helper()
	user := localenv.ServiceAccountUser(allOnNamespace, allOnSA)
	var sawUser bool
	for _, obj := range objs {
		kind, name := kindOf(obj), obj.GetName()
		if kind != "CustomResourceDefinition" && !strings.HasPrefix(name, allOnRelease+"-tableau-webhook-operator-") && name != allOnSA {
			t.Errorf("%s is not named after the release", localenv.Describe(obj))
		}
		// Without labels (the pods' helm.sh/chart tableau-webhook-operator-0.1.0 is no name).
		data, err := json.Marshal(normalized(t, obj))
		if err != nil {
			t.Fatal(err)
		}
		if m := installerName.Find(data); m != nil {
			t.Errorf("%s names an object of the installer (%s): %s", localenv.Describe(obj), m, data)
		}
		switch o := obj.(type) {
		case *rbacv1.ClusterRoleBinding:
			checkSubjects(t, obj, o.Subjects)
		case *rbacv1.RoleBinding:
			checkSubjects(t, obj, o.Subjects)
		case *appsv1.Deployment:
			if sa := o.Spec.Template.Spec.ServiceAccountName; sa != allOnSA {
				t.Errorf("the Deployment runs as %s, want %s", sa, allOnSA)
			}
		}
		if kind == "ValidatingAdmissionPolicy" {
			sawUser = bytes.Contains(data, []byte("'"+user+"'"))
		}
	}
	if !sawUser {
		t.Errorf("the ValidatingAdmissionPolicy does not name the release's ServiceAccount %s", user)
	}
}

// installerName matches a name that config/default gives (its namePrefix, not after the
// release's name).
var installerName = regexp.MustCompile(`(^|[^-a-z0-9])tableau-webhook-operator-[a-z][a-z0-9-]*`)

func checkSubjects(t *testing.T, obj client.Object, subjects []rbacv1.Subject) {
	t.Helper()
	want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: allOnSA, Namespace: allOnNamespace}}
	if !reflect.DeepEqual(subjects, want) {
		t.Errorf("%s binds %+v, want %+v", localenv.Describe(obj), subjects, want)
	}
}

// chartRulesMatchConfig checks that the chart's PrometheusRule holds the rules of
// config/prometheus's PrometheusRule (names that config/default gives follow the release).
func chartRulesMatchConfig(t *testing.T, env *localenv.Env, chart []client.Object) {
	t.Helper()
	config, err := localenv.ReadManifests(env.Scheme, filepath.Join(repoRoot(t), "config", "prometheus"))
	if err != nil {
		t.Fatal(err)
	}
	var want []map[string]any
	for _, obj := range config {
		if kindOf(obj) == "PrometheusRule" {
			want = append(want, normalized(t, obj))
		}
	}
	var got []map[string]any
	for _, obj := range chart {
		if kindOf(obj) == "PrometheusRule" {
			got = append(got, normalized(t, obj))
		}
	}
	if len(want) == 0 {
		if len(got) != 0 {
			t.Errorf("the chart has %d PrometheusRules, config/prometheus none", len(got))
		}
		t.Log("config/prometheus has no PrometheusRule yet: the chart has none either")
		return
	}
	if len(got) != len(want) {
		t.Fatalf("the chart has %d PrometheusRules, config/prometheus %d", len(got), len(want))
	}
	replacer := strings.NewReplacer(installerNamespace, allOnNamespace, "tableau-webhook-operator-", allOnRelease+"-tableau-webhook-operator-")
	for i := range want {
		w, _ := json.Marshal(want[i]["spec"])
		wantSpec := map[string]any{}
		if err := json.Unmarshal([]byte(replacer.Replace(string(w))), &wantSpec); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(wantSpec, got[i]["spec"]) {
			t.Errorf("the chart's PrometheusRule differs from config/prometheus's (- config, + chart):\n%s", diff.Diff(wantSpec, got[i]["spec"]))
		}
	}
}

// managerFlag is how the chart's values set one flag of the manager.
type managerFlag struct {
	flag   string
	values map[string]any
	want   string // the argument the container gets
}

// managerFlags covers every flag the manager has (TestChartManagerFlags fails on a new one
// until it is added here and to the chart).
func managerFlags() []managerFlag {
	return []managerFlag{
		{"metrics-bind-address", values("metrics.port", 9090), "--metrics-bind-address=:9090"},
		{"metrics-bind-address", values("metrics.enabled", false), "--metrics-bind-address=0"},
		{"metrics-secure", values("metrics.secure", true), "--metrics-secure"},
		{"health-probe-bind-address", values("manager.healthProbe.port", 9091), "--health-probe-bind-address=:9091"},
		{"leader-elect", values("manager.leaderElection.enabled", true), "--leader-elect"},
		{"leader-election-namespace", values("manager.leaderElection.namespace", "leases"), "--leader-election-namespace=leases"},
		{"leader-elect-lease-duration", values("manager.leaderElection.leaseDuration", "25s"), "--leader-elect-lease-duration=25s"},
		{"leader-elect-renew-deadline", values("manager.leaderElection.renewDeadline", "20s"), "--leader-elect-renew-deadline=20s"},
		{"leader-elect-retry-period", values("manager.leaderElection.retryPeriod", "4s"), "--leader-elect-retry-period=4s"},
		{"watch-namespaces", values("manager.watchNamespaces", []any{"a", "b"}), "--watch-namespaces=a,b"},
		{"resync-period", values("manager.resyncPeriod", "5m"), "--resync-period=5m"},
		{"tableau-qps", values("manager.tableau.qps", 2.5), "--tableau-qps=2.5"},
		{"tableau-burst", values("manager.tableau.burst", 5), "--tableau-burst=5"},
		{"tableau-timeout", values("manager.tableau.timeout", "45s"), "--tableau-timeout=45s"},
		{"max-concurrent-reconciles", values("manager.maxConcurrentReconciles", 8), "--max-concurrent-reconciles=8"},
		{"zap-log-level", values("manager.log.level", "debug"), "--zap-log-level=debug"},
		{"zap-log-level", values("manager.log.level", 3), "--zap-log-level=3"},
		{"zap-encoder", values("manager.log.encoder", "console"), "--zap-encoder=console"},
		{"zap-devel", values("manager.log.development", true), "--zap-devel"},
		{"zap-stacktrace-level", values("manager.log.stacktraceLevel", "panic"), "--zap-stacktrace-level=panic"},
		{"zap-time-encoding", values("manager.log.timeEncoding", "rfc3339"), "--zap-time-encoding=rfc3339"},
	}
}

// notChartFlags are the manager's flags that the chart does not set, and why.
var notChartFlags = map[string]string{
	"kubeconfig": "in a pod the manager uses its ServiceAccount (in-cluster config)",
	// Unauthenticated profiles of the process: for a diagnosis, through manager.extraArgs and a
	// port-forward, never served by default.
	"pprof-bind-address": "a diagnosis-only endpoint, set through manager.extraArgs",
}

// managerHelp runs the manager with -help and returns its flags with their defaults ("" when
// the help names none).
func managerHelp(t *testing.T) map[string]string {
	t.Helper()
	cmd := exec.Command(binaries(t).Manager, "-help") //nolint:gosec // the binary this test built
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("manager -help: %v\n%s", err, out)
	}
	flags := map[string]string{}
	flagLine := regexp.MustCompile(`^  -([a-z0-9-]+)`)
	defaultOf := regexp.MustCompile(`\(default ([^)]*)\)\s*$`)
	var current string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := flagLine.FindStringSubmatch(line); m != nil {
			current = m[1]
			flags[current] = ""
			continue
		}
		if m := defaultOf.FindStringSubmatch(line); m != nil && current != "" {
			flags[current] = strings.Trim(m[1], `"`)
		}
	}
	if len(flags) < 10 {
		t.Fatalf("read only %d flags from the manager's -help:\n%s", len(flags), out)
	}
	return flags
}

// TestChartManagerFlags checks that every flag of the manager has a value in the chart that
// reaches the container's args, that an unset value leaves the manager's default (the default
// args are the installer's), and that the defaults values.yaml's comments name are the
// manager's.
func TestChartManagerFlags(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	help := managerHelp(t)
	covered := map[string]bool{}
	for _, f := range managerFlags() {
		covered[f.flag] = true
		if _, ok := help[f.flag]; !ok {
			t.Errorf("the chart sets --%s, which the manager does not have", f.flag)
		}
	}
	for flag := range help {
		if !covered[flag] && notChartFlags[flag] == "" {
			t.Errorf("the manager's flag --%s has no value in the chart: add one (dist/chart/values.yaml, templates/manager/manager.yaml) and a row to managerFlags", flag)
		}
	}

	defaultArgs := chartDeployment(t, nil).Spec.Template.Spec.Containers[0].Args
	for _, f := range managerFlags() {
		t.Run(f.want, func(t *testing.T) {
			args := chartDeployment(t, f.values).Spec.Template.Spec.Containers[0].Args
			if !slices.Contains(args, f.want) {
				t.Errorf("values %v give the args %q, without %s", f.values, args, f.want)
			}
			if slices.Contains(defaultArgs, f.want) {
				return
			}
			// Only that argument changed.
			var others []string
			for _, a := range args {
				if a != f.want {
					others = append(others, a)
				}
			}
			rest := slices.DeleteFunc(slices.Clone(defaultArgs), func(a string) bool { return strings.HasPrefix(a, "--"+f.flag+"=") })
			if !slices.Equal(others, rest) {
				t.Errorf("values %v changed other args too: %q, default %q", f.values, args, defaultArgs)
			}
		})
	}

	// values.yaml documents each manager default it leaves to the manager.
	data, err := os.ReadFile(filepath.Join(repoRoot(t), chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	documented := regexp.MustCompile(`# --([a-z0-9-]+)\b.*\(manager default ([^)]*)\)`)
	found := 0
	for _, m := range documented.FindAllStringSubmatch(string(data), -1) {
		found++
		flag, doc := m[1], m[2]
		if def, ok := help[flag]; !ok {
			t.Errorf("values.yaml documents --%s, which the manager does not have", flag)
		} else if def != doc {
			t.Errorf("values.yaml says the manager's default of --%s is %q; the manager says %q", flag, doc, def)
		}
	}
	if found < 8 {
		t.Errorf("values.yaml documents only %d manager defaults", found)
	}
}

// TestChartManagerRuns installs the chart's objects (every toggle on, but the Deployment and
// the Prometheus Operator's kinds) for real and runs the manager with the chart's Deployment's
// args as the chart's ServiceAccount (by impersonation): its RBAC and admission policies are
// enough, the values reach the manager (its start-up line, the Lease it takes, the namespaces
// it watches, the level and format of its log), and a TableauSite and a TableauWebhook become
// Ready.
func TestChartManagerRuns(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	bins := binaries(t)
	env := startEnv(t, localenv.Options{NoCRDs: true, NoControllerManager: true})
	ctx := within(t, 3*time.Minute)
	objs := renderChart(t, allOnRelease, allOnNamespace, clusterOf(t, env), allOnValues())
	nsObjs := []client.Object{}
	for _, ns := range []string{allOnNamespace, "team-a", "unwatched"} {
		nsObjs = append(nsObjs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	deploy := installAllButDeployment(ctx, t, env, objs, nsObjs, "ServiceMonitor", "PrometheusRule")

	kubeconfig, err := env.ImpersonatingKubeconfig("chart-sa", localenv.ServiceAccountUser(allOnNamespace, deploy.Spec.Template.Spec.ServiceAccountName))
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, a := range deploy.Spec.Template.Spec.Containers[0].Args {
		if !strings.HasPrefix(a, "--health-probe-bind-address") && !strings.HasPrefix(a, "--metrics-bind-address") {
			args = append(args, a)
		}
	}
	args = append(args, "--leader-election-namespace="+allOnNamespace)
	sim, err := env.StartInProcessSimulator(localenv.SimulatorOptions{Sites: []string{"marketing"}, TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := env.StartManager(ctx, localenv.ManagerOptions{Binary: bins.Manager, Kubeconfig: kubeconfig, Args: args, Name: "chart-manager"})
	if err != nil {
		t.Fatal(err)
	}
	showLogOnFailure(t, mgr)

	site := &tableauv1.TableauSite{
		ObjectMeta: metav1.ObjectMeta{Name: "marketing", Namespace: "team-a"},
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
		ObjectMeta: metav1.ObjectMeta{Name: "refresh-failed", Namespace: "team-a"},
		Spec: tableauv1.TableauWebhookSpec{
			SiteRef:     tableauv1.SiteReference{Name: "marketing"},
			Event:       "DatasourceRefreshFailed",
			Destination: tableauv1.Destination{URL: "https://hooks.example.com/chart"},
		},
	}
	// The same in a namespace the release does not watch: nobody touches it.
	unwatched := webhook.DeepCopy()
	unwatched.Namespace = "unwatched"
	setup := []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tableau-pat", Namespace: "team-a"},
			StringData: map[string]string{"tokenName": sim.PATName, "tokenSecret": sim.PATSecret}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tableau-ca", Namespace: "team-a"},
			StringData: map[string]string{"ca.crt": string(sim.CAPEM)}},
		site, webhook, unwatched,
	}
	// An Established CRD can still be missing from the client's discovery for a moment: apply
	// (idempotent) until both kinds are known.
	if err := localenv.Poll(within(t, 30*time.Second), func(ctx context.Context) error { return env.Apply(ctx, setup) }); err != nil {
		t.Fatal(err)
	}
	waitReady(ctx, t, env, site, webhook)
	simWebhookNamed(ctx, t, sim, "team-a/refresh-failed", "https://hooks.example.com/chart")
	secretsHeldOnlyByFinalizer(ctx, t, env, kubeconfig, "team-a", "tableau-pat")

	// manager.watchNamespaces: the unwatched TableauWebhook has no status, and the
	// MutatingAdmissionPolicy, bound to the watched namespaces, gave it no finalizer (the
	// watched one got it at creation, if the API server serves the policy).
	var got tableauv1.TableauWebhook
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(unwatched), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Conditions) != 0 || len(got.Finalizers) != 0 {
		t.Errorf("a TableauWebhook outside manager.watchNamespaces was touched: finalizers %v, conditions %+v", got.Finalizers, got.Status.Conditions)
	}

	// The Lease, with manager.leaderElection.leaseDuration.
	var lease coordinationv1.Lease
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: allOnNamespace, Name: "tableau-webhook-operator.webhook-operator.dev"}, &lease); err != nil {
		t.Fatalf("the manager took no Lease in the release's namespace: %v", err)
	}
	if d := ptr.Deref(lease.Spec.LeaseDurationSeconds, 0); d != 17 {
		t.Errorf("the Lease lasts %ds, want manager.leaderElection.leaseDuration 17s", d)
	}

	if err := mgr.Stop(); err != nil {
		t.Errorf("stop the manager: %v", err)
	}
	log, err := mgr.Log()
	if err != nil {
		t.Fatal(err)
	}
	checkStartupLine(t, log)
}

// checkStartupLine checks the manager's log against the every-toggle-on values: JSON lines
// (manager.log.encoder) with RFC 3339 times (timeEncoding), debug lines (level), the
// start-up line's settings, and nothing forbidden.
func checkStartupLine(t *testing.T, log string) {
	t.Helper()
	var startup map[string]any
	var debug bool
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		if strings.Contains(strings.ToLower(line), "forbidden") {
			t.Errorf("the manager was refused something the chart should grant:\n%s", line)
		}
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("a log line is not JSON (manager.log.encoder json): %q", line)
			continue
		}
		if ts, ok := entry["ts"].(string); !ok {
			t.Errorf("a log line's ts is %v, not an RFC 3339 time (manager.log.timeEncoding)", entry["ts"])
		} else if _, err := time.Parse(time.RFC3339, ts); err != nil {
			t.Errorf("a log line's ts %q is not RFC 3339: %v", ts, err)
		}
		debug = debug || entry["level"] == "debug"
		if entry["msg"] == "starting manager" {
			startup = entry
		}
	}
	if !debug {
		t.Error("no debug line in the log (manager.log.level debug)")
	}
	if startup == nil {
		t.Fatal("no start-up line in the manager's log")
	}
	seconds := func(v any) float64 {
		switch x := v.(type) {
		case float64:
			return x
		case string:
			d, err := time.ParseDuration(x)
			if err == nil {
				return d.Seconds()
			}
		}
		return -1
	}
	for field, want := range map[string]any{
		"watchNamespaces": "team-a,team-b", "tableauQPS": 7.5, "tableauBurst": float64(9),
		"maxConcurrentReconciles": float64(3), "leaderElection": true,
	} {
		if startup[field] != want {
			t.Errorf("the manager started with %s %v, want %v (from the chart's values)", field, startup[field], want)
		}
	}
	for field, want := range map[string]float64{"resyncPeriod": 45, "tableauTimeout": 12} {
		if got := seconds(startup[field]); got != want {
			t.Errorf("the manager started with %s %v, want %vs (from the chart's values)", field, startup[field], want)
		}
	}
}

// TestContainerFromChart runs the manager's image (`make image`) as the kubelet would run the
// chart's Deployment (testDeploymentInContainer), with everything else the chart renders
// applied to the API server. The release is not named like the installer's and moves the
// ports, so that the probes, ports, Lease and RBAC are shown to follow the values.
func TestContainerFromChart(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	requireContainerEngine(t)
	env := startEnv(t, localenv.Options{NoCRDs: true})
	ctx := within(t, 2*time.Minute)
	// The pod shares the host's network: ports of its own.
	ports, err := localenv.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	const namespace = "tableau-chart"
	objs := renderChart(t, "chart", namespace, clusterOf(t, env), values(
		"serviceAccount.name", "chart-operator",
		"metrics.port", ports[0],
		"metrics.secure", true,
		"manager.healthProbe.port", ports[1],
		"manager.leaderElection.leaseDuration", "20s",
		"manager.resyncPeriod", "1m",
	))
	deploy := installAllButDeployment(ctx, t, env, objs, []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}})
	testDeploymentInContainer(t, env, namespace, deploy)
}
