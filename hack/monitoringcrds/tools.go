//go:build tools

// Package monitoringcrds pins the Prometheus Operator API (monitoring.coreos.com/v1) whose
// CustomResourceDefinitions the chart's tests install into the local API server, so that a
// server-side dry run validates the chart's ServiceMonitor and PrometheusRule against the real
// schemas. `make monitoring-crds` generates them from these Go types with the project's
// controller-gen into bin/monitoring-crds/.
package monitoringcrds

import (
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)
