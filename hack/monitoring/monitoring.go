package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// Where the shipped monitoring lives, relative to the repository's root.
const (
	RulesFile     = "config/prometheus/rules.yaml"
	DashboardsDir = "config/grafana"
)

// PrometheusRule is a monitoring.coreos.com/v1 PrometheusRule. It is decoded strictly below
// metadata, so that a misspelt field of a rule fails instead of being dropped.
type PrometheusRule struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Metadata   json.RawMessage `json:"metadata"`
	Spec       struct {
		Groups []RuleGroup `json:"groups"`
	} `json:"spec"`
}

// RuleGroup is a group of rules, as in a Prometheus rules file.
type RuleGroup struct {
	Name        string            `json:"name"`
	Interval    string            `json:"interval,omitempty"`
	QueryOffset string            `json:"query_offset,omitempty"`
	Limit       int               `json:"limit,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Rules       []Rule            `json:"rules"`
}

// Rule is an alerting or recording rule.
type Rule struct {
	Alert         string            `json:"alert,omitempty"`
	Record        string            `json:"record,omitempty"`
	Expr          string            `json:"expr"`
	For           string            `json:"for,omitempty"`
	KeepFiringFor string            `json:"keep_firing_for,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// LoadPrometheusRule reads a PrometheusRule manifest.
func LoadPrometheusRule(path string) (*PrometheusRule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pr PrometheusRule
	if err := yaml.UnmarshalStrict(data, &pr); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		return nil, fmt.Errorf("%s: %s %s, want a monitoring.coreos.com/v1 PrometheusRule", path, pr.APIVersion, pr.Kind)
	}
	if len(pr.Spec.Groups) == 0 {
		return nil, fmt.Errorf("%s: no rule groups", path)
	}
	return &pr, nil
}

// PlainRulesFile turns a PrometheusRule's spec.groups into a Prometheus rules file, which
// promtool and a Prometheus without the Operator load.
func PlainRulesFile(path string) ([]byte, error) {
	pr, err := LoadPrometheusRule(path)
	if err != nil {
		return nil, err
	}
	return yaml.Marshal(map[string]any{"groups": pr.Spec.Groups})
}

// Query is one PromQL expression and where it comes from.
type Query struct {
	Where string
	Expr  string
}

// RuleQueries returns the expressions of the rules, and those of the queries in their
// annotation templates (`query "..."` after a printf is checked by the unit tests instead).
func RuleQueries(path string) ([]Query, error) {
	pr, err := LoadPrometheusRule(path)
	if err != nil {
		return nil, err
	}
	var out []Query
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			out = append(out, Query{Where: fmt.Sprintf("%s: rule %s", filepath.Base(path), name), Expr: r.Expr})
			for k, v := range r.Annotations {
				for _, m := range templateQuery.FindAllStringSubmatch(v, -1) {
					out = append(out, Query{Where: fmt.Sprintf("%s: rule %s, annotation %s", filepath.Base(path), name, k),
						Expr: templateVerb.ReplaceAllString(m[1], `""`)})
				}
			}
		}
	}
	return out, nil
}

var (
	// templateQuery finds the selector a template hands to printf and then to query.
	templateQuery = regexp.MustCompile("printf `([^`]*)`[^|}]*\\| *query")
	// templateVerb is a printf verb inside it.
	templateVerb = regexp.MustCompile(`"%[sdv]"`)
)

// Dashboard is the part of a Grafana dashboard that holds queries.
type Dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []Panel `json:"panels"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
}

// Panel is a Grafana panel; a row holds panels of its own when collapsed.
type Panel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	Targets    []Target        `json:"targets"`
	Panels     []Panel         `json:"panels"`
}

// Target is one query of a panel.
type Target struct {
	Expr  string `json:"expr"`
	RefID string `json:"refId"`
}

// Variable is a dashboard variable; those of type query are label_values(...) lookups.
type Variable struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Query json.RawMessage `json:"query"`
}

// LoadDashboard reads a Grafana dashboard.
func LoadDashboard(path string) (*Dashboard, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d Dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &d, nil
}

// AllPanels returns the dashboard's panels, those inside rows included.
func (d *Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// grafanaInterval and grafanaVariable are what Grafana replaces before it sends a query.
var (
	grafanaInterval = regexp.MustCompile(`\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}`)
	grafanaVariable = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}|\$[A-Za-z_][A-Za-z0-9_]*`)
	labelValues     = regexp.MustCompile(`^label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\)$`)
)

// Expand replaces Grafana's interval variables with a duration and the dashboard's own
// variables (used in regex label matchers) with ".*", as Grafana would with "All" selected.
func Expand(expr string) string {
	expr = grafanaInterval.ReplaceAllString(expr, "5m")
	return grafanaVariable.ReplaceAllString(expr, ".*")
}

// DashboardQueries returns every target's expression, expanded, and the selectors of the
// query variables.
func DashboardQueries(path string) ([]Query, error) {
	d, err := LoadDashboard(path)
	if err != nil {
		return nil, err
	}
	base := filepath.Base(path)
	var out []Query
	for _, p := range d.AllPanels() {
		for _, t := range p.Targets {
			out = append(out, Query{Where: fmt.Sprintf("%s: panel %d %q, query %s", base, p.ID, p.Title, t.RefID), Expr: Expand(t.Expr)})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, err := variableQuery(v.Query)
		if err != nil {
			return nil, fmt.Errorf("%s: variable %s: %w", base, v.Name, err)
		}
		m := labelValues.FindStringSubmatch(strings.TrimSpace(q))
		if m == nil {
			return nil, fmt.Errorf("%s: variable %s: query %q is not label_values(SELECTOR, LABEL)", base, v.Name, q)
		}
		out = append(out, Query{Where: fmt.Sprintf("%s: variable %s", base, v.Name), Expr: Expand(m[1])})
	}
	return out, nil
}

// variableQuery reads a variable's query, a string or (newer Grafana) {"query": "..."}.
func variableQuery(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var o struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return "", err
	}
	return o.Query, nil
}

// Dashboards lists the dashboard files.
func Dashboards(root string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(root, DashboardsDir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no dashboard in %s", filepath.Join(root, DashboardsDir))
	}
	return paths, nil
}

// AllQueries returns the queries of the rules and of every dashboard.
func AllQueries(root string) ([]Query, error) {
	out, err := RuleQueries(filepath.Join(root, RulesFile))
	if err != nil {
		return nil, err
	}
	paths, err := Dashboards(root)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		qs, err := DashboardQueries(p)
		if err != nil {
			return nil, err
		}
		out = append(out, qs...)
	}
	return out, nil
}

// promql is Prometheus' parser with its default options, as a Prometheus server runs it.
var promql = parser.NewParser(parser.Options{})

// Parse parses one query.
func Parse(q Query) (parser.Expr, error) {
	expr, err := promql.ParseExpr(q.Expr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", q.Where, err, q.Expr)
	}
	return expr, nil
}

// SelectorNames returns the metric names that an expression selects, sorted. A selector
// without a name (only label matchers) is an error: it could not be checked against a scrape.
func SelectorNames(expr parser.Expr) ([]string, error) {
	var names []string
	var err error
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		if name == "" {
			err = fmt.Errorf("selector %s names no metric", vs)
			return err
		}
		names = append(names, name)
		return nil
	})
	slices.Sort(names)
	return slices.Compact(names), err
}

// MetricNames parses every query and returns the metric names they use, sorted.
func MetricNames(queries []Query) ([]string, error) {
	var all []string
	for _, q := range queries {
		expr, err := Parse(q)
		if err != nil {
			return nil, err
		}
		names, err := SelectorNames(expr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.Where, err)
		}
		all = append(all, names...)
	}
	slices.Sort(all)
	return slices.Compact(all), nil
}
