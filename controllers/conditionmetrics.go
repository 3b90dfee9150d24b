package controllers

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
)

// collectTimeout bounds one scrape's reads of the cache, which are in memory once it synced.
const collectTimeout = 5 * time.Second

// conditionCollector exports tableau_resource_condition, the Ready condition of every
// TableauSite and TableauWebhook, in the style of Flux's gotk_reconcile_condition: one series
// per resource, value 1, labelled with the condition's current status and reason.
//
// The series are made at scrape time from the manager's informer cache, which holds the
// objects anyway: nothing is kept per resource between scrapes, a deleted resource has no
// series from the next scrape on, and a resource whose status or reason changes has exactly one
// series, the new one, with no old one to delete. Only a manager that leads (or runs without
// leader election) adds its cache, so that replicas waiting for the Lease export nothing.
//
// The resource's namespace is the label resource_namespace, not namespace: a scraper attaches
// the target's own namespace label (the manager's namespace) to every series, and would rename
// a clashing label to exported_namespace.
type conditionCollector struct {
	desc *prometheus.Desc

	mu      sync.Mutex
	sources []*conditionSource
}

func newConditionCollector() *conditionCollector {
	return &conditionCollector{desc: prometheus.NewDesc("tableau_resource_condition",
		"Condition of a TableauSite or TableauWebhook: one series per resource and condition type (Ready), value 1, "+
			"whose status (True, False, Unknown: no condition yet) and reason are the condition's.",
		[]string{"kind", "resource_namespace", "name", "type", "status", "reason"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *conditionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *conditionCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	sources := slices.Clone(c.sources)
	c.mu.Unlock()
	// One manager per process in production; tests run several, whose namespaces may overlap.
	var seen map[string]bool
	if len(sources) > 1 {
		seen = map[string]bool{}
	}
	emit := func(kind string, obj *metav1.ObjectMeta, conds []metav1.Condition) {
		if seen != nil {
			key := kind + "/" + obj.Namespace + "/" + obj.Name
			if seen[key] {
				return
			}
			seen[key] = true
		}
		status, reason := string(metav1.ConditionUnknown), ""
		if cond := meta.FindStatusCondition(conds, tableauv1.ConditionReady); cond != nil {
			status, reason = string(cond.Status), cond.Reason
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1,
			kind, obj.Namespace, obj.Name, tableauv1.ConditionReady, status, reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	for _, src := range sources {
		// The objects are only read: no deep copies of the cache.
		var sites tableauv1.TableauSiteList
		if err := src.cache.List(ctx, &sites, client.UnsafeDisableDeepCopy); err == nil {
			for i := range sites.Items {
				emit("TableauSite", &sites.Items[i].ObjectMeta, sites.Items[i].Status.Conditions)
			}
		}
		var hooks tableauv1.TableauWebhookList
		if err := src.cache.List(ctx, &hooks, client.UnsafeDisableDeepCopy); err == nil {
			for i := range hooks.Items {
				emit("TableauWebhook", &hooks.Items[i].ObjectMeta, hooks.Items[i].Status.Conditions)
			}
		}
	}
}

func (c *conditionCollector) add(s *conditionSource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sources = append(c.sources, s)
}

func (c *conditionCollector) remove(s *conditionSource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sources = slices.DeleteFunc(c.sources, func(x *conditionSource) bool { return x == s })
}

// conditionSource is the runnable that adds a manager's cache to the collector while the
// manager leads, once the cache holds both kinds (so that a scrape never waits for a sync).
type conditionSource struct {
	collector *conditionCollector
	cache     client.Reader
}

var _ manager.LeaderElectionRunnable = (*conditionSource)(nil)

// NeedLeaderElection implements manager.LeaderElectionRunnable: only the leader reports.
func (s *conditionSource) NeedLeaderElection() bool { return true }

// Start implements manager.Runnable.
func (s *conditionSource) Start(ctx context.Context) error {
	// A List from the cache returns once its informer has synced.
	for _, list := range []client.ObjectList{&tableauv1.TableauSiteList{}, &tableauv1.TableauWebhookList{}} {
		if err := s.cache.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
			if ctx.Err() != nil {
				return nil //nolint:nilerr // the manager is stopping: not a failure
			}
			return err
		}
	}
	s.collector.add(s)
	defer s.collector.remove(s)
	<-ctx.Done()
	return nil
}
