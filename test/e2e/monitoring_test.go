package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// metricsThatComeLater are the metrics of the alerting rules and dashboards that a manager
// which has seen nothing yet does not expose, and why. Every other one is there from the start,
// so that rate() and increase() count the first event and absent() means what it says.
var metricsThatComeLater = map[string]string{
	"tableau_resource_condition":                       "one series per TableauSite and TableauWebhook: none before the first resource",
	"tableau_webhook_reenabled_timestamp_seconds":      "one series per TableauWebhook that was re-enabled",
	"tableau_api_requests_total":                       "labelled by operation and HTTP status: none before the first Tableau request",
	"tableau_api_request_duration_seconds_bucket":      "labelled by operation: none before the first Tableau request",
	"controller_runtime_reconcile_time_seconds_bucket": "controller-runtime observes it per controller at the first reconcile",
	"workqueue_depth":                                  "controller-runtime's priority queue makes it per priority, at the first item queued",
}

var (
	monitoringOnce    sync.Once
	monitoringNames   []string
	monitoringNameErr error
)

// monitoringMetrics returns the metric names that config/prometheus/rules.yaml and the
// dashboards of config/grafana use, read by Prometheus' PromQL parser (hack/monitoring, a
// module of its own so that the operator's go.mod does not carry Prometheus).
func monitoringMetrics(ctx context.Context, t *testing.T) []string {
	t.Helper()
	root := repoRoot(t)
	monitoringOnce.Do(func() {
		// go test caches a result by the files the test itself reads: read what the command
		// reads, so that a changed rule, dashboard or parser runs this test again.
		for _, dir := range []string{"config/prometheus", "config/grafana", "hack/monitoring"} {
			entries, err := os.ReadDir(filepath.Join(root, dir))
			if err != nil {
				monitoringNameErr = err
				return
			}
			for _, e := range entries {
				if !e.IsDir() {
					if _, err := os.ReadFile(filepath.Join(root, dir, e.Name())); err != nil {
						monitoringNameErr = err
						return
					}
				}
			}
		}
		cmd := exec.CommandContext(ctx, "go", "run", ".", "metrics", "-root", root)
		cmd.Dir = filepath.Join(root, "hack", "monitoring")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			monitoringNameErr = fmt.Errorf("hack/monitoring: go run . metrics: %w\n%s", err, stderr.String())
			return
		}
		monitoringNames = strings.Fields(string(out))
		if len(monitoringNames) == 0 {
			monitoringNameErr = fmt.Errorf("hack/monitoring: go run . metrics printed no metric name")
		}
	})
	if monitoringNameErr != nil {
		t.Fatal(monitoringNameErr)
	}
	return monitoringNames
}

// exposedMetrics scrapes the manager's /metrics and returns the names of the series it exposes
// (a histogram's as _bucket, _sum and _count, a summary's as itself, _sum and _count), with the
// samples of the counters and gauges.
func exposedMetrics(ctx context.Context, t *testing.T, mgr *localenv.Manager) (map[string]bool, localenv.Samples) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, mgr.MetricsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", mgr.MetricsURL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s %v", mgr.MetricsURL, resp.Status, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("scrape %s: %v", mgr.MetricsURL, err)
	}
	names := map[string]bool{}
	for name, f := range families {
		if len(f.GetMetric()) == 0 {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
		default:
			names[name] = true
		}
	}
	samples, err := localenv.ParseMetrics(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return names, samples
}

// checkMonitoringMetrics fails unless a scrape of the manager exposes every metric that the
// alerting rules and the dashboards use; early, before the manager saw any resource or made
// any Tableau request, but those of metricsThatComeLater.
func checkMonitoringMetrics(ctx context.Context, t *testing.T, mgr *localenv.Manager, early bool) localenv.Samples {
	t.Helper()
	used := monitoringMetrics(ctx, t)
	for name := range metricsThatComeLater {
		if !slices.Contains(used, name) {
			t.Errorf("metricsThatComeLater names %s, which no rule or dashboard uses any more", name)
		}
	}
	exposed, samples := exposedMetrics(ctx, t, mgr)
	var missing []string
	for _, name := range used {
		if _, later := metricsThatComeLater[name]; (!early || !later) && !exposed[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		have := make([]string, 0, len(exposed))
		for n := range exposed {
			have = append(have, n)
		}
		sort.Strings(have)
		when := "after a TableauSite and a TableauWebhook were reconciled and a webhook re-enabled"
		if early {
			when = "before any resource"
		}
		t.Errorf("the rules and dashboards use metrics that the manager does not expose %s: %s\nexposed: %s",
			when, strings.Join(missing, ", "), strings.Join(have, " "))
	}
	return samples
}

// conditionOf returns "status reason" of each tableau_resource_condition series of one resource.
func conditionOf(s localenv.Samples, kind, namespace, name string) []string {
	var out []string
	for _, x := range s {
		if x.Name == "tableau_resource_condition" && x.Labels["kind"] == kind &&
			x.Labels["resource_namespace"] == namespace && x.Labels["name"] == name {
			out = append(out, fmt.Sprintf("%s %s %s=%g", x.Labels["type"], x.Labels["status"], x.Labels["reason"], x.Value))
		}
	}
	sort.Strings(out)
	return out
}

// alertsLease is the manager's leader election Lease (main.go), which TableauWebhookOperatorDown names.
const alertsLease = "tableau-webhook-operator.webhook-operator.dev"

// waitLeading waits until the manager leads its Lease and has started its controllers.
func waitLeading(ctx context.Context, t *testing.T, mgr *localenv.Manager) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := localenv.Poll(ctx, func(ctx context.Context) error {
		s, err := mgr.Metrics(ctx)
		if err != nil {
			return err
		}
		if s.Sum("leader_election_master_status", map[string]string{"name": alertsLease}) != 1 {
			return fmt.Errorf("the manager does not lead the Lease %s yet", alertsLease)
		}
		for _, x := range s {
			if x.Name == "controller_runtime_active_workers" && x.Labels["controller"] == "tableauwebhook" {
				return nil
			}
		}
		return fmt.Errorf("the TableauWebhook controller has not started yet")
	})
	if err != nil {
		t.Fatal(err)
	}
}

// reenabledLikeTableau disables the webhook in the simulator as Tableau does after repeated
// failed deliveries, waits until the operator has enabled it again (its drift check) and
// says so in its metrics, and checks that every metric of the alerts and dashboards is served.
func reenabledLikeTableau(ctx context.Context, t *testing.T, mgr *localenv.Manager, sim *localenv.Simulator, site, webhookID, namespace, name string) {
	t.Helper()
	reenables := func(s localenv.Samples) float64 { return s.Sum("tableau_webhook_reenables_total", nil) }
	before, err := mgr.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sim.Server.EditWebhook(site, webhookID, func(w *tableautest.Webhook) {
		w.Enabled, w.StatusChangeReason = false, tableautest.ReasonDeliveryFailures
	})
	key := map[string]string{"resource_namespace": namespace, "name": name}
	// The webhook's next drift check that lists (its resync period, 30 s, or its cache's age
	// limit, 45 s) finds it disabled.
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err = localenv.Poll(waitCtx, func(ctx context.Context) error {
		s, err := mgr.Metrics(ctx)
		if err != nil {
			return err
		}
		if s.Sum("tableau_webhook_reenabled_timestamp_seconds", key) == 0 {
			return fmt.Errorf("no tableau_webhook_reenabled_timestamp_seconds%v yet", key)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range sim.Server.Webhooks(site) {
		if w.ID == webhookID && !w.Enabled {
			t.Errorf("webhook %s is still disabled in Tableau", webhookID)
		}
	}
	s := checkMonitoringMetrics(ctx, t, mgr, false)
	if d := reenables(s) - reenables(before); d != 1 {
		t.Errorf("tableau_webhook_reenables_total grew by %g, want 1", d)
	}
	if got := conditionOf(s, "TableauWebhook", namespace, name); !slices.Equal(got, []string{"Ready True Available=1"}) {
		t.Errorf("tableau_resource_condition of TableauWebhook %s/%s: %q, want one series, Ready True Available", namespace, name, got)
	}
}

// noSeriesLeft waits until the manager serves no per-resource series for a deleted TableauWebhook.
func noSeriesLeft(ctx context.Context, t *testing.T, mgr *localenv.Manager, namespace, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := localenv.Poll(ctx, func(ctx context.Context) error {
		s, err := mgr.Metrics(ctx)
		if err != nil {
			return err
		}
		var left []string
		for _, x := range s {
			if (x.Name == "tableau_resource_condition" || x.Name == "tableau_webhook_reenabled_timestamp_seconds") &&
				x.Labels["resource_namespace"] == namespace && x.Labels["name"] == name {
				left = append(left, fmt.Sprintf("%s%v", x.Name, x.Labels))
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("series left for the deleted TableauWebhook %s/%s: %s", namespace, name, strings.Join(left, ", "))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
