package controllers

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
)

// Sign-in results, as the Tableau client reports them (tableau.Observer).
var signInResults = []string{"success", "failure", "error"}

// driftFields are the fields a drift correction names (differences, and "exists" for a webhook
// deleted in Tableau).
var driftFields = []string{"exists", "name", "event", "url", "enabled"}

// Metrics are the operator's Prometheus metrics beside controller-runtime's own. They
// implement tableau.Observer so that the Tableau client reports every request.
//
// The counters whose label values are known in advance start at 0 with every value, so that a
// scrape shows them before the first event and rate() and increase() see the first one. Per
// resource there is one series for its Ready condition, made at scrape time from the cache
// (conditions), and one more only for a TableauWebhook that Tableau disabled and the operator
// re-enabled (reenabledAt), deleted with the resource.
type Metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	signIns        *prometheus.CounterVec
	driftCorrected *prometheus.CounterVec
	reenables      prometheus.Counter
	reenabledAt    *prometheus.GaugeVec
	conditions     *conditionCollector
}

// NewMetrics creates the metrics and registers them with reg; nil means controller-runtime's
// registry, which the manager serves on its metrics endpoint.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = metrics.Registry
	}
	m := &Metrics{
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tableau_api_requests_total",
			Help: "Tableau REST API requests by operation and HTTP status code (0: no response).",
		}, []string{"operation", "code"})),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tableau_api_request_duration_seconds",
			Help:    "Duration of Tableau REST API requests by operation.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"operation"})),
		signIns: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tableau_signins_total",
			Help: "Tableau sign-ins by result (success, failure, error).",
		}, []string{"result"})),
		driftCorrected: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tableau_drift_corrections_total",
			Help: "Webhooks changed in Tableau outside the operator and corrected, by field (exists, name, event, url, enabled).",
		}, []string{"field"})),
		reenables: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tableau_webhook_reenables_total",
			Help: "Webhooks that Tableau had disabled (typically after repeated delivery failures to their destination) and the operator enabled again.",
		})),
		reenabledAt: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tableau_webhook_reenabled_timestamp_seconds",
			Help: "Unix time at which the operator last enabled again the webhook of this TableauWebhook after Tableau had disabled it; one series per TableauWebhook re-enabled since the manager started, removed with the resource.",
		}, []string{"resource_namespace", "name"})),
		conditions: register(reg, newConditionCollector()),
	}
	for _, r := range signInResults {
		m.signIns.WithLabelValues(r).Add(0)
	}
	for _, f := range driftFields {
		m.driftCorrected.WithLabelValues(f).Add(0)
	}
	return m
}

// register registers c, or returns the collector registered before in its place: a second
// manager in one process (tests) shares the first one's collectors.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

// ObserveRequest records one Tableau REST API request.
func (m *Metrics) ObserveRequest(operation string, statusCode int, d time.Duration) {
	m.requests.WithLabelValues(operation, strconv.Itoa(statusCode)).Inc()
	m.duration.WithLabelValues(operation).Observe(d.Seconds())
}

// ObserveSignIn records one sign-in attempt.
func (m *Metrics) ObserveSignIn(result string) {
	m.signIns.WithLabelValues(result).Inc()
}

// driftCorrection records that a field drifted in Tableau and was put back.
func (m *Metrics) driftCorrection(field string) {
	m.driftCorrected.WithLabelValues(field).Inc()
}

// webhookReenabled records that the operator enabled again a webhook Tableau had disabled.
func (m *Metrics) webhookReenabled(wh *tableauv1.TableauWebhook, at time.Time) {
	m.reenables.Inc()
	m.reenabledAt.WithLabelValues(wh.Namespace, wh.Name).Set(float64(at.UnixNano()) / 1e9)
}

// forgetWebhook drops the series kept for a TableauWebhook that is gone.
func (m *Metrics) forgetWebhook(namespace, name string) {
	m.reenabledAt.DeleteLabelValues(namespace, name)
}
