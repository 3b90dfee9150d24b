package controllers

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics are the operator's Prometheus metrics beside controller-runtime's own. They
// implement tableau.Observer so that the Tableau client reports every request.
type Metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	signIns        *prometheus.CounterVec
	driftCorrected *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg; nil means controller-runtime's
// registry, which the manager serves on its metrics endpoint.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = metrics.Registry
	}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tableau_api_requests_total",
			Help: "Tableau REST API requests by operation and HTTP status code (0: no response).",
		}, []string{"operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tableau_api_request_duration_seconds",
			Help:    "Duration of Tableau REST API requests by operation.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"operation"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tableau_signins_total",
			Help: "Tableau sign-ins by result (success, failure, error).",
		}, []string{"result"}),
		driftCorrected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tableau_drift_corrections_total",
			Help: "Webhooks changed in Tableau outside the operator and corrected, by field (exists, name, event, url, enabled).",
		}, []string{"field"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.signIns, m.driftCorrected} {
		if err := reg.Register(c); err != nil {
			// A second manager in one process (tests) registers again: reuse the first collectors.
			if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
				switch c {
				case m.requests:
					m.requests = are.ExistingCollector.(*prometheus.CounterVec)
				case m.duration:
					m.duration = are.ExistingCollector.(*prometheus.HistogramVec)
				case m.signIns:
					m.signIns = are.ExistingCollector.(*prometheus.CounterVec)
				case m.driftCorrected:
					m.driftCorrected = are.ExistingCollector.(*prometheus.CounterVec)
				}
			}
		}
	}
	return m
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
