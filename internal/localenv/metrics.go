package localenv

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/rest"
)

// Sample is one counter or gauge value of a Prometheus text exposition.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Samples are the counters and gauges of one scrape. Histograms and summaries are left out:
// the benchmarks and chaos suites only count.
type Samples []Sample

// Sum adds up the samples named name whose labels include every pair of match.
func (s Samples) Sum(name string, match map[string]string) float64 {
	total := 0.0
	for _, x := range s {
		if x.Name == name && labelsMatch(x.Labels, match) {
			total += x.Value
		}
	}
	return total
}

func labelsMatch(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// ParseMetrics reads the Prometheus text format.
func ParseMetrics(r io.Reader) (Samples, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	var out Samples
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var v float64
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				v = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				v = m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				v = m.GetUntyped().GetValue()
			default:
				continue
			}
			labels := make(map[string]string, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out = append(out, Sample{Name: name, Labels: labels, Value: v})
		}
	}
	return out, nil
}

// ScrapeMetrics GETs a Prometheus endpoint with hc (http.DefaultClient if nil) and parses it.
func ScrapeMetrics(ctx context.Context, hc *http.Client, url string) (Samples, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("scrape %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return ParseMetrics(resp.Body)
}

// Metrics scrapes the manager's Prometheus endpoint.
func (m *Manager) Metrics(ctx context.Context) (Samples, error) {
	return ScrapeMetrics(ctx, nil, m.MetricsURL)
}

// IsLeader reports whether the manager holds the leader election Lease, from its
// leader_election_master_status gauge (absent, so false, before it first tried).
func (m *Manager) IsLeader(ctx context.Context) (bool, error) {
	s, err := m.Metrics(ctx)
	if err != nil {
		return false, err
	}
	return s.Sum("leader_election_master_status", nil) > 0, nil
}

// APIRequestKey identifies a counter of the API server's apiserver_request_total.
type APIRequestKey struct {
	Verb        string // POST, PUT, PATCH, APPLY, DELETE, GET, LIST, WATCH, ...
	Group       string // "" for the core group
	Resource    string // plural, e.g. tableauwebhooks, events
	Subresource string // e.g. status
}

// String renders the key as "PATCH tableauwebhooks/status".
func (k APIRequestKey) String() string {
	s := k.Verb + " " + k.Resource
	if k.Subresource != "" {
		s += "/" + k.Subresource
	}
	return s
}

// IsWrite reports whether the verb changes stored state.
func (k APIRequestKey) IsWrite() bool {
	switch k.Verb {
	case "POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION":
		return true
	}
	return false
}

// APIRequests counts the API server's requests (apiserver_request_total summed over response
// codes and the other labels). The counter has no user label: attribute requests by taking
// the difference over a window in which only the program of interest runs.
type APIRequests map[APIRequestKey]float64

// APIServerRequests scrapes the API server's /metrics with the admin's credentials.
func (e *Env) APIServerRequests(ctx context.Context) (APIRequests, error) {
	hc, err := rest.HTTPClientFor(e.Config)
	if err != nil {
		return nil, err
	}
	s, err := ScrapeMetrics(ctx, hc, strings.TrimSuffix(e.Config.Host, "/")+"/metrics")
	if err != nil {
		return nil, err
	}
	out := APIRequests{}
	for _, x := range s {
		if x.Name != "apiserver_request_total" {
			continue
		}
		k := APIRequestKey{Verb: x.Labels["verb"], Group: x.Labels["group"], Resource: x.Labels["resource"], Subresource: x.Labels["subresource"]}
		out[k] += x.Value
	}
	return out, nil
}

// Sub returns the requests made since before (counters only grow while the API server runs).
func (a APIRequests) Sub(before APIRequests) APIRequests {
	out := APIRequests{}
	for k, v := range a {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// Writes keeps the writes (POST, PUT, PATCH, APPLY, DELETE) to the given resources, or to
// every resource when none is given.
func (a APIRequests) Writes(resources ...string) APIRequests {
	out := APIRequests{}
	for k, v := range a {
		if !k.IsWrite() {
			continue
		}
		if len(resources) > 0 && !slices.Contains(resources, k.Resource) {
			continue
		}
		out[k] = v
	}
	return out
}

// Without drops the given resources.
func (a APIRequests) Without(resources ...string) APIRequests {
	out := APIRequests{}
	for k, v := range a {
		if !slices.Contains(resources, k.Resource) {
			out[k] = v
		}
	}
	return out
}

// Total adds up every count.
func (a APIRequests) Total() float64 {
	t := 0.0
	for _, v := range a {
		t += v
	}
	return t
}

// String lists the counts, largest first: "PATCH tableauwebhooks=2000, POST events=1000".
func (a APIRequests) String() string {
	keys := make([]APIRequestKey, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if a[keys[i]] != a[keys[j]] {
			return a[keys[i]] > a[keys[j]]
		}
		return keys[i].String() < keys[j].String()
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%g", k, a[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
