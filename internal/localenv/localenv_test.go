package localenv

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

func TestDecodeManifests(t *testing.T) {
	data := []byte(`
# a comment only
---
apiVersion: v1
kind: Secret
metadata: {name: pat, namespace: team}
stringData: {tokenName: op}
---
---
apiVersion: tableau.webhook-operator.dev/v1alpha1
kind: TableauSite
metadata: {name: marketing, namespace: team}
spec: {serverURL: "https://tableau.example.com", credentials: {personalAccessToken: {secretRef: {name: pat}}}}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
`)
	objs, err := DecodeManifests(NewScheme(), data)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 {
		t.Fatalf("decoded %d objects, want 3", len(objs))
	}
	if s, ok := objs[0].(*corev1.Secret); !ok || s.StringData["tokenName"] != "op" {
		t.Errorf("first object = %#v, want the typed Secret", objs[0])
	}
	if site, ok := objs[1].(*tableauv1.TableauSite); !ok || site.Spec.Credentials.PersonalAccessToken.SecretRef.Name != "pat" {
		t.Errorf("second object = %#v, want the typed TableauSite", objs[1])
	}
	if u, ok := objs[2].(*unstructured.Unstructured); !ok || u.GetKind() != "Widget" {
		t.Errorf("third object = %#v, want an unstructured Widget", objs[2])
	}
	if got := Describe(objs[1]); got != "TableauSite/team/marketing" {
		t.Errorf("Describe = %q", got)
	}
}

func TestToUnstructuredDropsStatus(t *testing.T) {
	site := &tableauv1.TableauSite{}
	site.Name, site.Namespace = "s", "ns"
	site.Status.SiteID = "x"
	u, err := ToUnstructured(NewScheme(), site)
	if err != nil {
		t.Fatal(err)
	}
	if u.GetKind() != "TableauSite" || u.GetAPIVersion() != tableauv1.GroupVersion.String() {
		t.Errorf("GVK = %s", u.GroupVersionKind())
	}
	if _, found := u.Object["status"]; found {
		t.Error("status is sent")
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(u.Object, "metadata", "creationTimestamp"); found {
		t.Error("creationTimestamp is sent")
	}
}

func TestReadManifestsFollowsKustomization(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("kustomization.yaml", "resources:\n- b.yaml\n- a.yaml\n")
	write("a.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")
	write("b.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n")
	write("unlisted.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: unlisted}\n")
	objs, err := ReadManifests(NewScheme(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.GetName())
	}
	if strings.Join(names, ",") != "b,a" {
		t.Errorf("read %v, want the kustomization's order b,a", names)
	}
}

func TestLineWatcher(t *testing.T) {
	w := newLineWatcher("tableau-sim listening on ")
	for _, chunk := range []string{"site \"marketing\": id 1\ntableau-sim list", "ening on https://127.0.0.1:1234", "\nmore\n"} {
		if n, err := w.Write([]byte(chunk)); err != nil || n != len(chunk) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	select {
	case got := <-w.found:
		if got != "https://127.0.0.1:1234" {
			t.Errorf("found %q", got)
		}
	default:
		t.Fatal("the URL line was not found")
	}
}

func TestImpersonatingKubeconfig(t *testing.T) {
	e := &Env{Dir: t.TempDir(), Config: &rest.Config{Host: "https://127.0.0.1:6443", TLSClientConfig: rest.TLSClientConfig{
		CAData: []byte("ca"), CertData: []byte("cert"), KeyData: []byte("key"),
	}}}
	path, err := e.ImpersonatingKubeconfig("sa", ServiceAccountUser("system", "manager"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Impersonate.UserName != "system:serviceaccount:system:manager" || string(cfg.CertData) != "cert" || cfg.Host != e.Config.Host {
		t.Errorf("kubeconfig gives %+v", cfg)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode: %v %v", info.Mode(), err)
	}
}

// TestSimulatorDeliversToReceiver runs the in-process simulator over TLS and a receiver it
// trusts, through the admin API client: no control plane needed.
func TestSimulatorDeliversToReceiver(t *testing.T) {
	e := &Env{Dir: t.TempDir()}
	t.Cleanup(func() { _ = e.Close() })
	rcv, err := e.StartReceiver(nil)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := e.StartInProcessSimulator(SimulatorOptions{Sites: []string{"marketing"}, TLS: true, DeliveryCAFile: rcv.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sim.URL, "https://") || len(sim.CAPEM) == 0 {
		t.Fatalf("simulator URL %s, CA %d bytes", sim.URL, len(sim.CAPEM))
	}
	sim.Server.AddWebhook("marketing", tableautest.Webhook{Name: "w", Event: "WorkbookCreated", URL: rcv.URL + "/hooks/w", Enabled: true})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hooks, err := sim.Webhooks(ctx, "marketing")
	if err != nil || len(hooks) != 1 || hooks[0].Name != "w" {
		t.Fatalf("Webhooks = %+v, %v", hooks, err)
	}
	deliveries, err := sim.Trigger(ctx, "marketing", "WorkbookCreated", "Sales")
	if err != nil || len(deliveries) != 1 || deliveries[0].LastStatus != 200 {
		t.Fatalf("Trigger = %+v, %v", deliveries, err)
	}
	got, err := rcv.WaitFor(ctx, func(r ReceivedRequest) bool { return r.Path == "/hooks/w" })
	if err != nil {
		t.Fatal(err)
	}
	var payload map[string]any
	if err := json.Unmarshal(got.Body, &payload); err != nil || payload["event_type"] != "WorkbookCreated" || payload["resource_name"] != "Sales" {
		t.Errorf("payload %s (%v)", got.Body, err)
	}
	stats, err := sim.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Total != 0 {
		t.Errorf("admin calls were counted as API requests: %+v", stats)
	}
}
