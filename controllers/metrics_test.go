package controllers_test

import (
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

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
