package controllers_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// metricValue sums a counter's samples, or a histogram's sample counts, whose labels include
// the given ones, from controller-runtime's registry (the one the manager serves).
func metricValue(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	samples:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue samples
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				sum += m.GetCounter().GetValue()
			case dto.MetricType_HISTOGRAM:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// The tableau_* metrics are served beside controller-runtime's and count what happened.
// Not parallel: the registry is shared by every manager in the process, so the deltas are
// this test's only while no other test runs.
func TestMetrics(t *testing.T) {
	const resync = 2 * time.Second
	type sample struct {
		name   string
		labels map[string]string
	}
	samples := []sample{
		{"tableau_api_requests_total", map[string]string{"operation": "CreateWebhook", "code": "201"}},
		{"tableau_api_requests_total", map[string]string{"operation": "ListWebhooks", "code": "200"}},
		{"tableau_api_requests_total", map[string]string{"operation": "SignIn", "code": "200"}},
		{"tableau_api_request_duration_seconds", map[string]string{"operation": "CreateWebhook"}},
		{"tableau_signins_total", map[string]string{"result": "success"}},
		{"tableau_drift_corrections_total", map[string]string{"field": "url"}},
	}
	before := make([]float64, len(samples))
	for i, s := range samples {
		before[i] = metricValue(t, s.name, s.labels)
	}
	delta := func(i int) float64 { return metricValue(t, samples[i].name, samples[i].labels) - before[i] }

	e := newEnv(t, withResync(resync))
	site := e.readySite("tableau")
	wh := e.readyWebhook(e.webhookObj("measured", site.Name, "WorkbookCreated", "https://hooks.example.com/m"))
	e.sim.EditWebhook(siteName, wh.Status.WebhookID, func(w *tableautest.Webhook) { w.URL = "https://elsewhere.example.com/" })
	e.waitEvent(wh, "DriftCorrected")

	eventually(t, waitTimeout, func() error {
		want := []float64{
			float64(e.sim.CountStatus(tableautest.OpCreateWebhook, 201)),
			float64(e.sim.CountStatus(tableautest.OpListWebhooks, 200)),
			float64(e.sim.CountStatus(tableautest.OpSignIn, 200)),
			float64(e.sim.Count(tableautest.OpCreateWebhook)),
			float64(e.sim.CountStatus(tableautest.OpSignIn, 200)),
			1,
		}
		for i, s := range samples {
			if got := delta(i); got != want[i] {
				return fmt.Errorf("%s%v grew by %v, want %v", s.name, s.labels, got, want[i])
			}
		}
		return nil
	})
}

// series returns the label sets and values of the samples named name whose labels include the
// given ones, from controller-runtime's registry.
func series(t *testing.T, name string, labels map[string]string) map[string]float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	samples:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			var parts []string
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
				parts = append(parts, l.GetName()+"="+l.GetValue())
			}
			for k, v := range labels {
				if have[k] != v {
					continue samples
				}
			}
			out[strings.Join(parts, ",")] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return out
}

// conditionSeries is what tableau_resource_condition holds for one resource: "status reason".
func conditionSeries(t *testing.T, kind, namespace, name string) []string {
	t.Helper()
	var out []string
	for labels, v := range series(t, "tableau_resource_condition", map[string]string{"kind": kind, "resource_namespace": namespace, "name": name}) {
		if v != 1 {
			t.Errorf("tableau_resource_condition{%s} = %v, want 1", labels, v)
		}
		have := map[string]string{}
		for _, kv := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			have[k] = v
		}
		out = append(out, have["type"]+" "+have["status"]+" "+have["reason"])
	}
	return out
}

// waitConditionSeries waits until the resource has exactly the one series want ("Ready True
// Available"), or none when want is "".
func waitConditionSeries(t *testing.T, kind, namespace, name, want string) {
	t.Helper()
	eventually(t, waitTimeout, func() error {
		got := conditionSeries(t, kind, namespace, name)
		if (want == "" && len(got) == 0) || (len(got) == 1 && got[0] == want) {
			return nil
		}
		return fmt.Errorf("tableau_resource_condition of %s %s/%s: %q, want %q", kind, namespace, name, got, want)
	})
}

// tableau_resource_condition has one series per resource that follows its Ready condition and
// goes with the resource; a webhook that Tableau disabled and the operator enabled again is
// counted and timestamped, and its timestamp goes with the resource too. Not parallel: the
// re-enabling counter is shared by every manager in the process.
func TestConditionAndReenabledMetrics(t *testing.T) {
	const resync = 2 * time.Second
	e := newEnv(t, withResync(resync))
	site := e.readySite("tableau")
	waitConditionSeries(t, "TableauSite", e.ns, site.Name, "Ready True Connected")

	// A webhook whose site does not exist yet: not Ready; then Ready once the site is. The
	// series follows, and there is only ever one.
	waiting := e.webhookObj("waiting", "later", "WorkbookCreated", "https://hooks.example.com/w")
	e.create(waiting)
	e.waitCondition(waiting, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonSiteNotFound)
	waitConditionSeries(t, "TableauWebhook", e.ns, waiting.Name, "Ready False SiteNotFound")
	e.readySite("later")
	e.waitCondition(waiting, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	waitConditionSeries(t, "TableauWebhook", e.ns, waiting.Name, "Ready True Available")

	wh := e.readyWebhook(e.webhookObj("disabled-by-tableau", site.Name, "WorkbookCreated", "https://hooks.example.com/d"))
	whSeries := map[string]string{"resource_namespace": e.ns, "name": wh.Name}
	if got := series(t, "tableau_webhook_reenabled_timestamp_seconds", whSeries); len(got) != 0 {
		t.Errorf("a webhook never disabled has a re-enabled timestamp: %v", got)
	}
	reenables := metricValue(t, "tableau_webhook_reenables_total", nil)
	before := time.Now()
	e.sim.EditWebhook(siteName, wh.Status.WebhookID, func(w *tableautest.Webhook) {
		w.Enabled, w.StatusChangeReason = false, tableautest.ReasonDeliveryFailures
	})
	if ev := e.waitEventOf(wh, "Reenabled"); ev.Type != corev1.EventTypeWarning {
		t.Errorf("Reenabled event is %s", ev.Type)
	}
	eventually(t, waitTimeout, func() error {
		got := series(t, "tableau_webhook_reenabled_timestamp_seconds", whSeries)
		if len(got) != 1 {
			return fmt.Errorf("tableau_webhook_reenabled_timestamp_seconds%v: %v, want one series", whSeries, got)
		}
		for _, v := range got {
			if at := time.Unix(0, int64(v*1e9)); at.Before(before.Add(-time.Second)) || at.After(time.Now()) {
				return fmt.Errorf("re-enabled at %s, want between %s and now", at, before)
			}
		}
		return nil
	})
	if d := metricValue(t, "tableau_webhook_reenables_total", nil) - reenables; d != 1 {
		t.Errorf("tableau_webhook_reenables_total grew by %v, want 1", d)
	}

	for _, obj := range []*tableauv1.TableauWebhook{wh, waiting} {
		e.delete(obj)
		e.waitGone(obj)
		waitConditionSeries(t, "TableauWebhook", e.ns, obj.Name, "")
	}
	if got := series(t, "tableau_webhook_reenabled_timestamp_seconds", whSeries); len(got) != 0 {
		t.Errorf("the deleted webhook keeps its re-enabled timestamp: %v", got)
	}
	waitConditionSeries(t, "TableauSite", e.ns, site.Name, "Ready True Connected")
}

// perNamespace counts the per-resource series of one namespace, by metric.
func perNamespace(t *testing.T, namespace string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, name := range []string{"tableau_resource_condition", "tableau_webhook_reenabled_timestamp_seconds"} {
		out[name] = len(series(t, name, map[string]string{"resource_namespace": namespace}))
	}
	return out
}
