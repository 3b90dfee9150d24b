package gitops_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	apiv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
)

// The tests in this file read each kind's table of Ready reasons in api/v1alpha1/reasons.go
// and check every reader of status against every row: the Argo CD health checks (run on an
// object per reason, and their terminalReasons tables read as text), kstatus, the testdata
// objects and the documentation. A reason added to the table without the matching change
// fails here with the file to edit.

// reasonsGoPath is the table's file, as the failure messages name it.
const reasonsGoPath = "api/v1alpha1/reasons.go"

// reasonTable is one kind's table of Ready reasons.
type reasonTable struct {
	kind    string
	varName string
	reasons map[string]apiv1.ReasonInfo
}

func reasonTableOf(kind string) reasonTable {
	switch kind {
	case "TableauSite":
		return reasonTable{kind: kind, varName: "SiteReadyReasons", reasons: apiv1.SiteReadyReasons}
	case "TableauWebhook":
		return reasonTable{kind: kind, varName: "WebhookReadyReasons", reasons: apiv1.WebhookReadyReasons}
	}
	panic("no reason table for kind " + kind)
}

// source names the table in failure messages.
func (rt reasonTable) source() string { return reasonsGoPath + " " + rt.varName }

func (rt reasonTable) sortedReasons() []string { return slices.Sorted(maps.Keys(rt.reasons)) }

func (rt reasonTable) terminal() []string { return apiv1.TerminalReasons(rt.reasons) }

// kindPathInRepo is a kind's Argo CD directory from the repository root, for failure messages.
func kindPathInRepo(kind string) string { return "config/argocd/tableau.webhook-operator.dev/" + kind }

func luaPathInRepo(kind string) string { return kindPathInRepo(kind) + "/health.lua" }

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// argoHealthFor is the Argo CD health a reason of the table must map to. It fails the test on
// a row that no reader can make sense of: a terminal reason is one with Ready=False.
func argoHealthFor(t *testing.T, rt reasonTable, reason string) string {
	t.Helper()
	info := rt.reasons[reason]
	switch {
	case info.Terminal && info.Ready != metav1.ConditionFalse:
		t.Fatalf("%s: %s is Terminal with Ready=%s; a terminal reason has Ready=False", rt.source(), reason, info.Ready)
	case info.Ready == metav1.ConditionTrue:
		return "Healthy"
	case info.Terminal:
		return "Degraded"
	}
	return "Progressing"
}

// kstatusFor is the kstatus reading of an object with this reason, written as the
// controllers write it.
func kstatusFor(t *testing.T, rt reasonTable, reason string) status.Status {
	t.Helper()
	switch argoHealthFor(t, rt, reason) {
	case "Healthy":
		return status.CurrentStatus
	case "Degraded":
		return status.FailedStatus
	}
	return status.InProgressStatus
}

func readyMessage(kind, reason string) string {
	return fmt.Sprintf("%s Ready reason %s, as the controllers write it", kind, reason)
}

// controllerObject is a kind's object with the given Ready status and reason, shaped as the
// controllers write it (controllers/conditions.go setReadiness): Ready with the reason;
// Stalled=True with the same reason and message when terminal; Reconciling=True with them
// when Ready is not True and the reason is not terminal; neither when Ready=True; and
// observedGeneration equal to metadata.generation on status and on every condition. A
// TableauWebhook also has its Synced condition. The object goes through JSON into an
// unstructured object, as a client hands it to Argo CD or kstatus.
func controllerObject(t *testing.T, kind string, ready metav1.ConditionStatus, reason string, terminal bool) *unstructured.Unstructured {
	t.Helper()
	const generation = 3
	msg := readyMessage(kind, reason)
	var conds []metav1.Condition
	meta.SetStatusCondition(&conds, metav1.Condition{
		Type: apiv1.ConditionReady, Status: ready, Reason: reason, Message: msg, ObservedGeneration: generation,
	})
	switch {
	case ready == metav1.ConditionTrue:
	case terminal:
		meta.SetStatusCondition(&conds, metav1.Condition{
			Type: "Stalled", Status: metav1.ConditionTrue, Reason: reason, Message: msg, ObservedGeneration: generation,
		})
	default:
		meta.SetStatusCondition(&conds, metav1.Condition{
			Type: "Reconciling", Status: metav1.ConditionTrue, Reason: reason, Message: msg, ObservedGeneration: generation,
		})
	}
	typeMeta := metav1.TypeMeta{APIVersion: apiv1.GroupVersion.String(), Kind: kind}
	objectMeta := metav1.ObjectMeta{Name: "example", Namespace: "bi-platform", Generation: generation}
	var obj any
	switch kind {
	case "TableauSite":
		site := &apiv1.TableauSite{TypeMeta: typeMeta, ObjectMeta: objectMeta}
		site.Status.ObservedGeneration = generation
		site.Status.Conditions = conds
		obj = site
	case "TableauWebhook":
		synced := metav1.Condition{Type: apiv1.ConditionSynced, Status: metav1.ConditionTrue,
			Reason: apiv1.ReasonReconcileSuccess, ObservedGeneration: generation}
		if ready != metav1.ConditionTrue {
			synced.Status, synced.Reason, synced.Message = metav1.ConditionFalse, apiv1.ReasonReconcileError, msg
		}
		meta.SetStatusCondition(&conds, synced)
		wh := &apiv1.TableauWebhook{TypeMeta: typeMeta, ObjectMeta: objectMeta}
		wh.Status.ObservedGeneration = generation
		wh.Status.Conditions = conds
		obj = wh
	default:
		t.Fatalf("unknown kind %s", kind)
	}
	js, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestArgoCDHealthFollowsReasonTable runs each kind's health.lua on an object per Ready
// reason of the kind's table: Ready=True reads Healthy, Ready=False with a terminal reason
// Degraded, with any other reason Progressing, and the message is Ready's.
func TestArgoCDHealthFollowsReasonTable(t *testing.T) {
	for _, kind := range kinds {
		script := readHealthScript(t, kind)
		rt := reasonTableOf(kind)
		for _, reason := range rt.sortedReasons() {
			t.Run(kind+"/"+reason, func(t *testing.T) {
				info := rt.reasons[reason]
				want := healthStatus{Status: argoHealthFor(t, rt, reason), Message: readyMessage(kind, reason)}
				got, err := runHealthLua(script, controllerObject(t, kind, info.Ready, reason, info.Terminal).Object)
				if err != nil {
					t.Fatalf("%s: %v", luaPathInRepo(kind), err)
				}
				if got == want {
					return
				}
				switch {
				case want.Status == "Degraded" && got.Status == "Progressing":
					t.Errorf("%s: Ready=False %s reads %s, want Degraded: it is terminal in %s; add `%s = true,` to terminalReasons in %s, then run go test ./test/gitops/ -run TestArgoCDConfigMapPatch -update",
						kind, reason, got.Status, rt.source(), reason, luaPathInRepo(kind))
				case want.Status == "Progressing" && got.Status == "Degraded":
					t.Errorf("%s: Ready=False %s reads Degraded, want Progressing: it is not terminal in %s; remove it from terminalReasons in %s, then run go test ./test/gitops/ -run TestArgoCDConfigMapPatch -update",
						kind, reason, rt.source(), luaPathInRepo(kind))
				default:
					t.Errorf("%s: Ready=%s %s reads %+v, want %+v (%s, %s)", kind, info.Ready, reason, got, want, rt.source(), luaPathInRepo(kind))
				}
			})
		}
	}
}

// TestArgoCDHealthTerminalOnlyWhenFalse: a terminal reason degrades a resource only with
// Ready=False and only for its own kind; with Ready=Unknown, or on the other kind (unless that
// kind's table makes it terminal too), it reads Progressing.
func TestArgoCDHealthTerminalOnlyWhenFalse(t *testing.T) {
	for _, kind := range kinds {
		script := readHealthScript(t, kind)
		own := reasonTableOf(kind)
		for _, other := range kinds {
			for _, reason := range reasonTableOf(other).terminal() {
				for _, ready := range []metav1.ConditionStatus{metav1.ConditionUnknown, metav1.ConditionFalse} {
					if ready == metav1.ConditionFalse && own.reasons[reason].Terminal {
						continue // TestArgoCDHealthFollowsReasonTable
					}
					t.Run(fmt.Sprintf("%s/%s terminal reason %s with Ready=%s", kind, other, reason, ready), func(t *testing.T) {
						want := healthStatus{Status: "Progressing", Message: readyMessage(kind, reason)}
						got, err := runHealthLua(script, controllerObject(t, kind, ready, reason, false).Object)
						if err != nil {
							t.Fatalf("%s: %v", luaPathInRepo(kind), err)
						}
						if got != want {
							t.Errorf("health = %+v, want %+v (%s is not terminal for a %s with Ready=%s in %s; see %s)",
								got, want, reason, kind, ready, own.source(), luaPathInRepo(kind))
						}
					})
				}
			}
		}
	}
}

var (
	// luaTerminalBlock is the terminalReasons table of a health.lua.
	luaTerminalBlock = regexp.MustCompile(`(?ms)^local terminalReasons = \{\n(.*?)^\}`)
	luaTerminalEntry = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9]*) = true,?$`)
)

// luaTerminalReasons reads the terminalReasons table of a health.lua as text, sorted.
func luaTerminalReasons(t *testing.T, kind, script string) []string {
	t.Helper()
	blocks := luaTerminalBlock.FindAllStringSubmatch(script, -1)
	if len(blocks) != 1 {
		t.Fatalf("%s has %d `local terminalReasons = {` ... `}` tables at the start of a line, want 1", luaPathInRepo(kind), len(blocks))
	}
	var reasons []string
	for line := range strings.SplitSeq(blocks[0][1], "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "--") {
			continue
		}
		m := luaTerminalEntry.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("%s: cannot read %q in terminalReasons; write one `Reason = true,` a line", luaPathInRepo(kind), line)
		}
		reasons = append(reasons, m[1])
	}
	slices.Sort(reasons)
	return reasons
}

// TestArgoCDTerminalReasonsMatchTable reads the terminalReasons table of each health.lua and
// compares it with the kind's terminal reasons: none missing, none the table does not have.
// It also runs the script on each entry, so that the table it read is the one the script uses.
func TestArgoCDTerminalReasonsMatchTable(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			script := readHealthScript(t, kind)
			rt := reasonTableOf(kind)
			lua := luaTerminalReasons(t, kind, script)
			want := rt.terminal()
			for _, reason := range want {
				if !slices.Contains(lua, reason) {
					t.Errorf("%s is terminal in %s but not in terminalReasons of %s: add `%s = true,` there, then run go test ./test/gitops/ -run TestArgoCDConfigMapPatch -update",
						reason, rt.source(), luaPathInRepo(kind), reason)
				}
			}
			for _, reason := range lua {
				if slices.Contains(want, reason) {
					continue
				}
				if _, known := rt.reasons[reason]; known {
					t.Errorf("terminalReasons of %s has %s, which %s says is not terminal: remove it from the script, or mark it Terminal in the table",
						luaPathInRepo(kind), reason, rt.source())
				} else {
					t.Errorf("terminalReasons of %s has %s, which is no Ready reason of %s: remove it from the script, or add it to the table",
						luaPathInRepo(kind), reason, rt.source())
				}
			}
			for _, reason := range lua {
				got, err := runHealthLua(script, controllerObject(t, kind, metav1.ConditionFalse, reason, true).Object)
				if err != nil {
					t.Fatalf("%s: %v", luaPathInRepo(kind), err)
				}
				if got.Status != "Degraded" {
					t.Errorf("%s lists %s in terminalReasons, but Ready=False %s reads %s: the script does not use the table this test reads",
						luaPathInRepo(kind), reason, reason, got.Status)
				}
			}
		})
	}
}

// TestKstatusFollowsReasonTable computes kstatus on an object per Ready reason of each kind's
// table, as the controllers write it: Ready=True reads Current, a terminal reason Failed (with
// the Stalled condition's message), any other reason InProgress. Deleting is written only on
// an object being deleted, which kstatus reads as Terminating first (kstatus_test.go); here it
// reads as the non-terminal reason it is.
func TestKstatusFollowsReasonTable(t *testing.T) {
	for _, kind := range kinds {
		rt := reasonTableOf(kind)
		for _, reason := range rt.sortedReasons() {
			t.Run(kind+"/"+reason, func(t *testing.T) {
				info := rt.reasons[reason]
				want := kstatusFor(t, rt, reason)
				u := controllerObject(t, kind, info.Ready, reason, info.Terminal)
				res, err := status.Compute(u)
				if err != nil {
					t.Fatal(err)
				}
				if res.Status != want {
					t.Fatalf("%s Ready=%s %s (Terminal=%t in %s) reads %s (%s) in kstatus, want %s; the conditions are those of controllers/conditions.go setReadiness",
						kind, info.Ready, reason, info.Terminal, rt.source(), res.Status, res.Message, want)
				}
				if want == status.FailedStatus && res.Message != readyMessage(kind, reason) {
					t.Errorf("kstatus message = %q, want Stalled's %q", res.Message, readyMessage(kind, reason))
				}
			})
		}
	}
}

// TestTestdataFollowsReasonTable checks the shape of every testdata object whose Ready reason
// is in its kind's table: Ready has the table's status, Stalled=True goes with a terminal
// reason and Reconciling=True with the others, with Ready's reason, as setReadiness writes.
func TestTestdataFollowsReasonTable(t *testing.T) {
	for _, kind := range kinds {
		rt := reasonTableOf(kind)
		for _, f := range testdataFiles(t, kind) {
			u := readObject(t, filepath.Join(kindDir(kind), f))
			reason := readyReason(u)
			info, ok := rt.reasons[reason]
			if !ok {
				continue
			}
			t.Run(kind+"/"+f, func(t *testing.T) {
				where := kindPathInRepo(kind) + "/" + f
				if got := conditionField(u, "Ready", "status"); got != string(info.Ready) {
					t.Errorf("%s: Ready=%s with reason %s, but %s has Ready=%s", where, got, reason, rt.source(), info.Ready)
				}
				stalled := info.Ready == metav1.ConditionFalse && info.Terminal
				reconciling := info.Ready != metav1.ConditionTrue && !info.Terminal
				for _, c := range []struct {
					typ  string
					want bool
				}{{"Stalled", stalled}, {"Reconciling", reconciling}} {
					got := conditionField(u, c.typ, "status") == "True"
					if got != c.want {
						t.Errorf("%s: %s=True is %t, want %t for %s (Terminal=%t in %s)", where, c.typ, got, c.want, reason, info.Terminal, rt.source())
						continue
					}
					if got && conditionField(u, c.typ, "reason") != reason {
						t.Errorf("%s: %s reason %q, want Ready's %q", where, c.typ, conditionField(u, c.typ, "reason"), reason)
					}
				}
			})
		}
	}
}

var (
	// docTerminalRow is the Degraded row of the health tables in the READMEs.
	docTerminalRow = regexp.MustCompile("(?m)^\\| `Ready=False`, terminal reason.*\\| Degraded \\|$")
	docKindReasons = regexp.MustCompile("(TableauWebhook|TableauSite)((?:,? `[A-Za-z]+`)+)")
	docReason      = regexp.MustCompile("`([A-Za-z]+)`")
)

// TestDocsListTerminalReasons checks the Argo CD health tables of README.md and
// config/argocd/README.md: their Degraded row names exactly each kind's terminal reasons.
func TestDocsListTerminalReasons(t *testing.T) {
	for _, doc := range []string{"README.md", "config/argocd/README.md"} {
		t.Run(doc, func(t *testing.T) {
			b, err := os.ReadFile("../../" + doc)
			if err != nil {
				t.Fatal(err)
			}
			rows := docTerminalRow.FindAllString(string(b), -1)
			if len(rows) != 1 {
				t.Fatalf("%s has %d rows \"| `Ready=False`, terminal reason ... | Degraded |\", want 1", doc, len(rows))
			}
			listed := map[string][]string{}
			for _, m := range docKindReasons.FindAllStringSubmatch(rows[0], -1) {
				for _, r := range docReason.FindAllStringSubmatch(m[2], -1) {
					listed[m[1]] = append(listed[m[1]], r[1])
				}
			}
			for _, kind := range kinds {
				rt := reasonTableOf(kind)
				got := slices.Sorted(slices.Values(listed[kind]))
				if want := rt.terminal(); !slices.Equal(got, want) {
					t.Errorf("%s lists the terminal reasons of %s as %v; %s has %v: edit the Degraded row of its Argo CD health table",
						doc, kind, got, rt.source(), want)
				}
			}
		})
	}
}
