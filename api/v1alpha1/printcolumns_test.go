package v1alpha1_test

import (
	"context"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// column is what kubectl shows of an additionalPrinterColumn.
type column struct {
	Name     string
	Type     string
	JSONPath string
	Priority int32 // 1: only with -o wide
}

// TestCRDNames checks what users type and see: the columns of kubectl get (DESIGN.md 2.2), the
// short names and the tableau category, as served by the API server.
func TestCRDNames(t *testing.T) {
	c := apiServer(t)
	const (
		ready  = `.status.conditions[?(@.type=="Ready")].status`
		reason = `.status.conditions[?(@.type=="Ready")].reason`
		synced = `.status.conditions[?(@.type=="Synced")].status`
		age    = `.metadata.creationTimestamp`
	)
	for _, tc := range []struct {
		crd       string
		shortName string
		columns   []column
	}{
		{
			crd:       "tableauwebhooks.tableau.webhook-operator.dev",
			shortName: "twh",
			columns: []column{
				{"Site", "string", ".spec.siteRef.name", 0},
				{"Event", "string", ".spec.event", 0},
				{"Ready", "string", ready, 0},
				{"Reason", "string", reason, 0},
				{"Webhook-ID", "string", ".status.webhookID", 0},
				{"Age", "date", age, 0},
				{"Enabled", "boolean", ".status.enabled", 1},
				{"Synced", "string", synced, 1},
			},
		},
		{
			crd:       "tableausites.tableau.webhook-operator.dev",
			shortName: "tsite",
			columns: []column{
				{"Server", "string", ".spec.serverURL", 0},
				{"Site", "string", ".spec.site", 0},
				{"API", "string", ".status.restAPIVersion", 0},
				{"Ready", "string", ready, 0},
				{"Reason", "string", reason, 0},
				{"Age", "date", age, 0},
				{"Version", "string", ".status.serverVersion", 1},
				{"Webhooks", "integer", ".status.webhooks", 1},
			},
		},
	} {
		t.Run(tc.crd, func(t *testing.T) {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := c.Get(context.Background(), types.NamespacedName{Name: tc.crd}, crd); err != nil {
				t.Fatalf("get CRD: %v", err)
			}
			if got := crd.Spec.Names.ShortNames; !slices.Equal(got, []string{tc.shortName}) {
				t.Errorf("short names %v, want [%s]", got, tc.shortName)
			}
			if got := crd.Spec.Names.Categories; !slices.Equal(got, []string{"tableau"}) {
				t.Errorf("categories %v, want [tableau]", got)
			}
			if crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
				t.Errorf("scope %s, want Namespaced", crd.Spec.Scope)
			}
			if len(crd.Spec.Versions) != 1 {
				t.Fatalf("%d versions, want only v1alpha1", len(crd.Spec.Versions))
			}
			v := crd.Spec.Versions[0]
			if v.Name != "v1alpha1" || !v.Served || !v.Storage || v.Subresources == nil || v.Subresources.Status == nil {
				t.Errorf("version %s served=%v storage=%v subresources=%+v, want v1alpha1 served and stored with a status subresource",
					v.Name, v.Served, v.Storage, v.Subresources)
			}
			var got []column
			for _, col := range v.AdditionalPrinterColumns {
				got = append(got, column{col.Name, col.Type, col.JSONPath, col.Priority})
			}
			if !slices.Equal(got, tc.columns) {
				t.Errorf("printer columns\n  %+v\nwant\n  %+v", got, tc.columns)
			}
		})
	}
}

// TestKubectl checks the columns, short names, category and kubectl wait with the real kubectl,
// on resources whose status is written as the controllers will write it.
func TestKubectl(t *testing.T) {
	c := apiServer(t)
	ctx := context.Background()
	ns := newNamespace(t)
	site := object(t, validSite, `{"metadata":{"name":"marketing"}}`, ns)
	webhook := object(t, validWebhook, `{"spec":{"webhookName":"refresh failures"}}`, ns)
	for _, obj := range []client.Object{site, webhook} {
		if err := create(ctx, c, obj); err != nil {
			t.Fatalf("create %s: %v", obj.GetObjectKind().GroupVersionKind().Kind, err)
		}
	}
	patchStatus(t, c, site, `{"status":{"observedGeneration":1,"siteID":"6b7179ba-b82b-4f0f-91ed-812074ac5da6",
		"serverVersion":"2025.1.2","restAPIVersion":"3.25","webhooks":1,"conditions":[
		{"type":"Ready","status":"True","reason":"Connected","message":"signed in","lastTransitionTime":"2026-01-01T00:00:00Z","observedGeneration":1}]}}`)
	patchStatus(t, c, webhook, `{"status":{"observedGeneration":1,"webhookID":"9f9bcaf8-8c4c-403c-b7e1-10dd85620f00","enabled":true,"conditions":[
		{"type":"Ready","status":"True","reason":"Available","message":"matches","lastTransitionTime":"2026-01-01T00:00:00Z","observedGeneration":1},
		{"type":"Synced","status":"True","reason":"ReconcileSuccess","message":"","lastTransitionTime":"2026-01-01T00:00:00Z","observedGeneration":1}]}}`)

	user, err := env.AddUser(envtest.User{Name: "kubectl-user", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatalf("add user: %v", err)
	}
	kubectl, err := user.Kubectl()
	if err != nil {
		t.Fatalf("kubectl: %v", err)
	}
	run := func(args ...string) string {
		t.Helper()
		stdout, stderr, err := kubectl.Run(append([]string{"--namespace", ns}, args...)...)
		out, _ := io.ReadAll(stdout)
		if err != nil {
			errOut, _ := io.ReadAll(stderr)
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
		return string(out)
	}

	for _, tc := range []struct {
		args []string
		want []string // lines, with runs of spaces as one space; AGE varies, so it is matched by \S+
	}{
		{
			[]string{"get", "tableauwebhooks"},
			[]string{
				`NAME SITE EVENT READY REASON WEBHOOK-ID AGE`,
				`extract-refresh-failed marketing DatasourceRefreshFailed True Available 9f9bcaf8-8c4c-403c-b7e1-10dd85620f00 \S+`,
			},
		},
		{
			[]string{"get", "twh", "-o", "wide"},
			[]string{
				`NAME SITE EVENT READY REASON WEBHOOK-ID AGE ENABLED SYNCED`,
				`extract-refresh-failed marketing DatasourceRefreshFailed True Available 9f9bcaf8-8c4c-403c-b7e1-10dd85620f00 \S+ true True`,
			},
		},
		{
			[]string{"get", "tableausites"},
			[]string{
				`NAME SERVER SITE API READY REASON AGE`,
				`marketing https://tableau.example.com marketing 3.25 True Connected \S+`,
			},
		},
		{
			[]string{"get", "tsite", "-o", "wide"},
			[]string{
				`NAME SERVER SITE API READY REASON AGE VERSION WEBHOOKS`,
				`marketing https://tableau.example.com marketing 3.25 True Connected \S+ 2025.1.2 1`,
			},
		},
		{
			[]string{"get", "tableau", "-o", "name"},
			[]string{
				`tableausite.tableau.webhook-operator.dev/marketing`,
				`tableauwebhook.tableau.webhook-operator.dev/extract-refresh-failed`,
			},
		},
		{
			[]string{"wait", "--for=condition=Ready", "--timeout=10s", "tableauwebhook/extract-refresh-failed", "tsite/marketing"},
			[]string{
				`tableauwebhook.tableau.webhook-operator.dev/extract-refresh-failed condition met`,
				`tableausite.tableau.webhook-operator.dev/marketing condition met`,
			},
		},
	} {
		out := run(tc.args...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		ok := len(lines) == len(tc.want)
		for i := 0; ok && i < len(lines); i++ {
			line := strings.Join(strings.Fields(lines[i]), " ")
			ok = regexp.MustCompile(`^` + tc.want[i] + `$`).MatchString(line)
		}
		if !ok {
			t.Errorf("kubectl %s printed\n%s\nwant lines matching\n  %s", strings.Join(tc.args, " "), out, strings.Join(tc.want, "\n  "))
		}
	}
}

// patchStatus writes status through the status subresource, as the controllers do.
func patchStatus(t *testing.T, c client.Client, obj client.Object, patch string) {
	t.Helper()
	if err := c.Status().Patch(context.Background(), obj, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatalf("patch status of %s: %v", obj.GetName(), err)
	}
}
