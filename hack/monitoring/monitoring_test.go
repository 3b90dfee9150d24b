package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const root = "../.."

// runbookBase is where every alert's runbook_url points, before the README section's anchor.
const runbookBase = "https://github.com/tableau-webhook-operator/tableau-webhook-operator/blob/main/README.md#"

// promtool returns the promtool that `make promtool` pins (PROMTOOL, else bin/promtool).
func promtool(t *testing.T) string {
	t.Helper()
	path := os.Getenv("PROMTOOL")
	if path == "" {
		path = filepath.Join(root, "bin", "promtool")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("promtool: %v (run `make promtool`, or `make test-monitoring`, which builds it into bin/)", err)
	}
	return path
}

// The rules' unit tests (testdata/rules_test.yaml) pass under Prometheus' own evaluator, on the
// rule groups extracted from the PrometheusRule, which promtool checks first.
func TestRules(t *testing.T) {
	tool := promtool(t)
	dir := t.TempDir()
	rules, err := PlainRulesFile(filepath.Join(root, RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join("testdata", "rules_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"rules.yaml": rules, "rules_test.yaml": tests} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "rules_test.yaml"}} {
		cmd := exec.Command(tool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), bytes.TrimSpace(out))
	}
}

// unitTests is the part of a promtool test file that says which alerts are checked when.
type unitTests struct {
	Tests []struct {
		Name          string `json:"name"`
		AlertRuleTest []struct {
			EvalTime  string `json:"eval_time"`
			Alertname string `json:"alertname"`
			ExpAlerts []any  `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

// Every alert has unit tests that see it fire and see it stay silent.
func TestEveryAlertIsUnitTested(t *testing.T) {
	pr, err := LoadPrometheusRule(filepath.Join(root, RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("testdata", "rules_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ut unitTests
	if err := yaml.Unmarshal(data, &ut); err != nil {
		t.Fatal(err)
	}
	fires, silent := map[string]int{}, map[string]int{}
	for _, tc := range ut.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname]++
			} else {
				silent[a.Alertname]++
			}
		}
	}
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if fires[r.Alert] == 0 || silent[r.Alert] == 0 {
				t.Errorf("alert %s: %d unit tests expect it to fire and %d expect it silent; want both", r.Alert, fires[r.Alert], silent[r.Alert])
			}
			delete(fires, r.Alert)
			delete(silent, r.Alert)
		}
	}
	for name := range fires {
		t.Errorf("unit tests expect alert %s, which the rules do not define", name)
	}
	for name := range silent {
		t.Errorf("unit tests check alert %s, which the rules do not define", name)
	}
}

// The alerts that issue 11 asks for are there, each with a severity, a summary, a description and
// a runbook_url that points at a section of the README that is about it.
func TestAlertsHaveRunbooks(t *testing.T) {
	pr, err := LoadPrometheusRule(filepath.Join(root, RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	sections := readmeSections(string(readme))
	var alerts []string
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
				t.Errorf("alert %s: severity %q, want critical, warning or info", r.Alert, s)
			}
			for _, k := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[k]) == "" {
					t.Errorf("alert %s: no %s annotation", r.Alert, k)
				}
			}
			anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookBase)
			if !ok {
				t.Errorf("alert %s: runbook_url %q does not point into %s", r.Alert, r.Annotations["runbook_url"], runbookBase)
				continue
			}
			body, ok := sections[anchor]
			switch {
			case !ok:
				t.Errorf("alert %s: the README has no section #%s", r.Alert, anchor)
			case !strings.Contains(body, "kubectl"):
				t.Errorf("alert %s: README section #%s says no kubectl command to look with", r.Alert, anchor)
			}
		}
	}
	for _, want := range []string{"TableauWebhookNotReady", "TableauWebhookReenabled", "TableauSignInsFailing", "TableauAPIErrorRateHigh", "TableauWebhookOperatorDown"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
}

var heading = regexp.MustCompile(`(?m)^#{1,6} +(.+)$`)

// readmeSections maps the anchors GitHub gives the README's headings to the text under them.
func readmeSections(md string) map[string]string {
	out := map[string]string{}
	locs := heading.FindAllStringSubmatchIndex(md, -1)
	for i, loc := range locs {
		end := len(md)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		out[githubAnchor(md[loc[2]:loc[3]])] = md[loc[1]:end]
	}
	return out
}

// githubAnchor is GitHub's anchor for a heading: lower case, punctuation but - and _ dropped,
// spaces to -.
func githubAnchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Every query of the dashboard parses as PromQL, and the dashboard shows what issue 11 asks for:
// Ready and not Ready resources, Tableau requests, errors and latency, sign-ins, drift
// corrections, re-enabled webhooks, reconciles and their errors, workqueue depth.
func TestDashboards(t *testing.T) {
	paths, err := Dashboards(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			d, err := LoadDashboard(path)
			if err != nil {
				t.Fatal(err)
			}
			if d.UID == "" || d.Title == "" {
				t.Errorf("uid %q, title %q: want both", d.UID, d.Title)
			}
			ids := map[int]bool{}
			for _, p := range d.AllPanels() {
				if ids[p.ID] {
					t.Errorf("panel id %d is used twice", p.ID)
				}
				ids[p.ID] = true
				if p.Type == "row" {
					continue
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %d %q has no query", p.ID, p.Title)
				}
				if !bytes.Contains(p.Datasource, []byte("${datasource}")) {
					t.Errorf("panel %d %q: datasource %s, want the dashboard's ${datasource} variable", p.ID, p.Title, p.Datasource)
				}
			}
			queries, err := DashboardQueries(path)
			if err != nil {
				t.Fatal(err)
			}
			names, err := MetricNames(queries)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				"tableau_resource_condition",
				"tableau_api_requests_total", "tableau_api_request_duration_seconds_bucket",
				"tableau_signins_total", "tableau_drift_corrections_total", "tableau_webhook_reenables_total",
				"controller_runtime_reconcile_total", "controller_runtime_reconcile_errors_total", "workqueue_depth",
			} {
				if !slices.Contains(names, want) {
					t.Errorf("no panel queries %s", want)
				}
			}
		})
	}
}

// A broken query is caught: the parser, not a pattern, reads them.
func TestParseRefusesBrokenQueries(t *testing.T) {
	for _, q := range []string{
		`sum(rate(tableau_api_requests_total[5m])`,
		`rate(tableau_api_requests_total)`,
		`{code="500"}`,
		`tableau_api_requests_total{code="500"`,
	} {
		if _, err := MetricNames([]Query{{Where: "test", Expr: q}}); err == nil {
			t.Errorf("%s: accepted", q)
		}
	}
	names, err := MetricNames([]Query{{Where: "test", Expr: Expand(
		`histogram_quantile(0.99, sum by (le) (rate(a_bucket{x=~"$v"}[$__rate_interval]))) / on() b + {__name__="c"} unless absent(d offset 1h)`)}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a_bucket", "b", "c", "d"}; !slices.Equal(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
}

// The README's metrics table documents every tableau_* metric that the rules and dashboards use.
func TestREADMEDocumentsTheMetrics(t *testing.T) {
	queries, err := AllQueries(root)
	if err != nil {
		t.Fatal(err)
	}
	names, err := MetricNames(queries)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "tableau_") {
			continue
		}
		family := strings.TrimSuffix(n, "_bucket")
		if !bytes.Contains(readme, []byte("| `"+family+"` |")) {
			t.Errorf("the README's metrics table has no row for %s", family)
		}
	}
}

// TableauWebhookOperatorDown names the manager's Lease and its TableauWebhook controller: they
// are the ones main.go and the controllers use.
func TestOperatorDownNamesTheManager(t *testing.T) {
	main, err := os.ReadFile(filepath.Join(root, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`leaderElectionID = "([^"]+)"`).FindSubmatch(main)
	if m == nil {
		t.Fatal("main.go: no leaderElectionID constant")
	}
	pr, err := LoadPrometheusRule(filepath.Join(root, RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert != "TableauWebhookOperatorDown" {
				continue
			}
			for _, want := range []string{`leader_election_master_status{name="` + string(m[1]) + `"}`, `controller_runtime_active_workers{controller="tableauwebhook"}`} {
				if !strings.Contains(r.Expr, want) {
					t.Errorf("TableauWebhookOperatorDown: expression does not select %s:\n%s", want, r.Expr)
				}
			}
			return
		}
	}
	t.Error("no alert TableauWebhookOperatorDown")
}
