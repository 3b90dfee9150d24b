package gitops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"

	apiv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite config/argocd/argocd-cm-patch.yaml from the health.lua files")

const (
	argocdCMPatchPath = "../../config/argocd/argocd-cm-patch.yaml"
	healthKeyPrefix   = "resource.customizations.health.tableau.webhook-operator.dev_"
)

// healthStatus is Argo CD's health.HealthStatus as a health check returns it.
type healthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// healthTestFile is the format of Argo CD's resource_customizations/<group>/<Kind>/health_test.yaml.
type healthTestFile struct {
	Tests []struct {
		HealthStatus healthStatus `json:"healthStatus"`
		InputPath    string       `json:"inputPath"`
	} `json:"tests"`
}

// The health statuses Argo CD accepts from a Lua script; anything else becomes Unknown.
var validHealthStatuses = []string{"Unknown", "Progressing", "Suspended", "Healthy", "Degraded", "Missing"}

// runHealthLua runs a health script the way Argo CD runs an argocd-cm customization
// (util/lua in argoproj/argo-cd): a gopher-lua state with the standard libraries skipped
// except package, base and table (Argo CD adds a restricted os library, which these scripts
// do not use), a one second budget, and the object as the global table `obj`. The script's
// return value must be a table with a valid status.
func runHealthLua(script string, obj map[string]any) (healthStatus, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return healthStatus{}, fmt.Errorf("open %s: %w", lib.name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return healthStatus{}, err
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return healthStatus{}, fmt.Errorf("expect table output from Lua script, not %s", l.Get(-1).Type())
	}
	var hs healthStatus
	for field, dst := range map[string]*string{"status": &hs.Status, "message": &hs.Message} {
		switch v := ret.RawGetString(field).(type) {
		case lua.LString:
			*dst = string(v)
		case *lua.LNilType:
		default:
			return healthStatus{}, fmt.Errorf("hs.%s is a %s, not a string", field, v.Type())
		}
	}
	if !slices.Contains(validHealthStatuses, hs.Status) {
		return healthStatus{}, fmt.Errorf("Lua returned an invalid health status %q", hs.Status)
	}
	return hs, nil
}

// toLua converts a JSON-shaped Go value into Lua values as Argo CD's decodeValue does:
// maps and slices become tables, numbers LNumber, null nil.
func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for k, item := range v {
			t.RawSetH(lua.LString(k), toLua(l, item))
		}
		return t
	}
	return lua.LNil
}

func readHealthScript(t *testing.T, kind string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(kindDir(kind), "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readHealthTests(t *testing.T, kind string) healthTestFile {
	t.Helper()
	path := filepath.Join(kindDir(kind), "health_test.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f healthTestFile
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(f.Tests) == 0 {
		t.Fatalf("%s: no tests", path)
	}
	return f
}

// TestArgoCDHealthChecks runs every case of each kind's health_test.yaml, as Argo CD's own
// TestLuaHealthScript does for resource_customizations: status and message must match exactly.
func TestArgoCDHealthChecks(t *testing.T) {
	for _, kind := range kinds {
		script := readHealthScript(t, kind)
		for _, tc := range readHealthTests(t, kind).Tests {
			t.Run(kind+"/"+strings.TrimSuffix(filepath.Base(tc.InputPath), ".yaml"), func(t *testing.T) {
				obj := readObject(t, filepath.Join(kindDir(kind), tc.InputPath))
				if obj.GetKind() != kind {
					t.Fatalf("%s holds a %s", tc.InputPath, obj.GetKind())
				}
				got, err := runHealthLua(script, obj.Object)
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.HealthStatus {
					t.Errorf("health = %+v, want %+v", got, tc.HealthStatus)
				}
			})
		}
	}
}

// TestArgoCDHealthTestCoverage keeps health_test.yaml honest: every testdata file is a case,
// and the cases cover the Progressing shapes, every Ready reason of the kind's table in
// api/v1alpha1/reasons.go with the health it maps to (Healthy, Degraded for the terminal
// ones, Progressing) and, for TableauWebhook, Suspended.
func TestArgoCDHealthTestCoverage(t *testing.T) {
	type want struct {
		status string
		// readyReason, if set, is the Ready reason of some input with this status.
		readyReason string
		// file, if set, is an input with this status.
		file string
	}
	common := []want{
		{status: "Progressing", file: "testdata/progressing_noStatus.yaml"},
		{status: "Progressing", file: "testdata/progressing_staleGeneration.yaml"},
		{status: "Progressing", file: "testdata/progressing_staleReadyCondition.yaml"},
		{status: "Progressing", file: "testdata/progressing_readyUnknown.yaml"},
		{status: "Progressing", file: "testdata/progressing_unknownReason.yaml"},
	}
	required := map[string][]want{
		"TableauWebhook": append([]want{
			{status: "Suspended", readyReason: apiv1.ReasonSuspended},
			{status: "Suspended", readyReason: apiv1.ReasonAvailable},
		}, common...),
		"TableauSite": common,
	}
	for _, kind := range kinds {
		table := reasonTableOf(kind)
		for _, reason := range table.sortedReasons() {
			required[kind] = append(required[kind], want{status: argoHealthFor(t, table, reason), readyReason: reason})
		}
	}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			var have []want
			seen := map[string]int{}
			for _, tc := range readHealthTests(t, kind).Tests {
				seen[tc.InputPath]++
				obj := readObject(t, filepath.Join(kindDir(kind), tc.InputPath))
				have = append(have,
					want{status: tc.HealthStatus.Status, readyReason: readyReason(obj)},
					want{status: tc.HealthStatus.Status, file: tc.InputPath})
			}
			for _, f := range testdataFiles(t, kind) {
				if seen[f] != 1 {
					t.Errorf("%s is used by %d cases of health_test.yaml, want 1", f, seen[f])
				}
			}
			for _, w := range required[kind] {
				if slices.Contains(have, w) {
					continue
				}
				if w.readyReason != "" && w.file == "" {
					file := fmt.Sprintf("testdata/%s_%s.yaml", strings.ToLower(w.status), lowerFirst(w.readyReason))
					t.Errorf("%s/health_test.yaml has no %s case with Ready reason %s (%s): add %s/%s and a case for it in health_test.yaml, and a kstatus case in test/gitops/kstatus_test.go",
						kindPathInRepo(kind), w.status, w.readyReason, reasonTableOf(kind).source(), kindPathInRepo(kind), file)
					continue
				}
				t.Errorf("health_test.yaml has no %s case for %+v", w.status, w)
			}
		})
	}
}

// TestArgoCDHealthEdgeCases feeds both scripts shapes that the testdata files do not spell out.
// The cases that depend on a reason's meaning are in reasons_test.go, driven by the table.
func TestArgoCDHealthEdgeCases(t *testing.T) {
	cond := func(typ, status, reason, msg string, gen int64) map[string]any {
		return map[string]any{"type": typ, "status": status, "reason": reason, "message": msg, "observedGeneration": gen}
	}
	obj := func(kind string, gen int64, status map[string]any) map[string]any {
		o := map[string]any{
			"apiVersion": "tableau.webhook-operator.dev/v1alpha1",
			"kind":       kind,
			"metadata":   map[string]any{"name": "x", "namespace": "y", "generation": gen},
		}
		if status != nil {
			o["status"] = status
		}
		return o
	}
	waiting := healthStatus{Status: "Progressing", Message: "Waiting for the operator"}
	cases := []struct {
		name string
		kind string // "" = both kinds
		obj  func(kind string) map[string]any
		want healthStatus
	}{
		{"empty status", "", func(k string) map[string]any { return obj(k, 1, map[string]any{}) }, waiting},
		{"empty conditions", "", func(k string) map[string]any {
			return obj(k, 1, map[string]any{"observedGeneration": int64(1), "conditions": []any{}})
		}, waiting},
		{"no Ready condition", "", func(k string) map[string]any {
			return obj(k, 1, map[string]any{"observedGeneration": int64(1), "conditions": []any{cond("Synced", "True", "ReconcileSuccess", "Reconciled", 1)}})
		}, waiting},
		{"no generation in metadata", "", func(k string) map[string]any {
			o := obj(k, 1, map[string]any{"observedGeneration": int64(1), "conditions": []any{cond("Ready", "True", "Whatever", "fine", 1)}})
			delete(o["metadata"].(map[string]any), "generation")
			return o
		}, healthStatus{Status: "Healthy", Message: "fine"}},
		{"no observedGeneration anywhere", "", func(k string) map[string]any {
			c := cond("Ready", "True", "Whatever", "fine", 0)
			delete(c, "observedGeneration")
			return obj(k, 5, map[string]any{"conditions": []any{c}})
		}, healthStatus{Status: "Healthy", Message: "fine"}},
		{"empty message falls back to reason", "", func(k string) map[string]any {
			return obj(k, 1, map[string]any{"observedGeneration": int64(1), "conditions": []any{cond("Ready", "False", "TableauError", "", 1)}})
		}, healthStatus{Status: "Progressing", Message: "TableauError"}},
		{"Suspended only on Ready", "TableauWebhook", func(k string) map[string]any {
			return obj(k, 2, map[string]any{"observedGeneration": int64(2), "conditions": []any{cond("Ready", "False", "Suspended", "paused", 2)}})
		}, healthStatus{Status: "Suspended", Message: "paused"}},
		{"suspended but generation not yet observed", "TableauWebhook", func(k string) map[string]any {
			return obj(k, 3, map[string]any{"observedGeneration": int64(2), "conditions": []any{cond("Synced", "False", "Suspended", "paused", 2)}})
		}, healthStatus{Status: "Progressing", Message: "Waiting for the operator to observe generation 3"}},
		{"Suspended reason means nothing for a site", "TableauSite", func(k string) map[string]any {
			return obj(k, 1, map[string]any{"observedGeneration": int64(1), "conditions": []any{cond("Ready", "False", "Suspended", "paused", 1)}})
		}, healthStatus{Status: "Progressing", Message: "paused"}},
	}
	for _, kind := range kinds {
		script := readHealthScript(t, kind)
		for _, tc := range cases {
			if tc.kind != "" && tc.kind != kind {
				continue
			}
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				got, err := runHealthLua(script, tc.obj(kind))
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.want {
					t.Errorf("health = %+v, want %+v", got, tc.want)
				}
			})
		}
	}
}

// renderArgoCDCMPatch renders config/argocd/argocd-cm-patch.yaml from the health.lua files.
func renderArgoCDCMPatch(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString(`# Argo CD health checks for tableau.webhook-operator.dev resources.
# Generated from config/argocd/tableau.webhook-operator.dev/*/health.lua by
#   go test ./test/gitops/ -run TestArgoCDConfigMapPatch -update
# Merge it into argocd-cm (see config/argocd/README.md).
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
data:
`)
	for _, kind := range kinds {
		fmt.Fprintf(&b, "  %s%s: |\n", healthKeyPrefix, kind)
		for _, line := range strings.SplitAfter(readHealthScript(t, kind), "\n") {
			if strings.TrimSpace(line) == "" {
				b.WriteString(strings.TrimLeft(line, " \t"))
				continue
			}
			b.WriteString("    " + line)
		}
	}
	return b.Bytes()
}

// TestArgoCDConfigMapPatch checks that the argocd-cm patch carries exactly the health.lua files.
func TestArgoCDConfigMapPatch(t *testing.T) {
	if *update {
		if err := os.WriteFile(argocdCMPatchPath, renderArgoCDCMPatch(t), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(argocdCMPatchPath)
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Data map[string]string `json:"data"`
	}
	if err := yaml.UnmarshalStrict(raw, &cm); err != nil {
		t.Fatalf("%s: %v", argocdCMPatchPath, err)
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Metadata.Name != "argocd-cm" || cm.Metadata.Namespace != "argocd" {
		t.Errorf("patch targets %s %s %s/%s, want v1 ConfigMap argocd/argocd-cm", cm.APIVersion, cm.Kind, cm.Metadata.Namespace, cm.Metadata.Name)
	}
	if len(cm.Data) != len(kinds) {
		t.Errorf("patch has %d data keys, want %d", len(cm.Data), len(kinds))
	}
	for _, kind := range kinds {
		key := healthKeyPrefix + kind
		got, ok := cm.Data[key]
		if !ok {
			t.Errorf("patch has no key %s", key)
			continue
		}
		if want := readHealthScript(t, kind); got != want {
			t.Errorf("%s differs from %s/health.lua; run go test ./test/gitops/ -run TestArgoCDConfigMapPatch -update", key, kind)
		}
	}
	if !bytes.Equal(raw, renderArgoCDCMPatch(t)) {
		t.Errorf("%s is not the rendered form; run go test ./test/gitops/ -run TestArgoCDConfigMapPatch -update", argocdCMPatchPath)
	}
}
