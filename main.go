// Command manager is tableau-webhook-operator: it runs the TableauSite and TableauWebhook
// reconcilers with leader election, health probes and Prometheus metrics.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	// Import all Kubernetes client auth plugins (e.g. Azure, GCP, OIDC, etc.)
	// to ensure that exec-entrypoint and run can make use of them.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/controllers"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/lazylog"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/metricsauth"
	// +kubebuilder:scaffold:imports
)

// leaderElectionID names the Lease that replicas of the manager compete for.
const leaderElectionID = "tableau-webhook-operator.webhook-operator.dev"

var setupLog = ctrl.Log.WithName("setup")

// defaultGCPercent is the manager's GOGC unless its environment sets one. Most of the manager's
// heap is long-lived (the informer caches, the site's observation cache), so Go's default of 100
// lets the heap grow to twice what is live between collections; 50 keeps less resident for a
// little more collection CPU (README, Performance).
const defaultGCPercent = 50

func main() {
	var (
		metricsAddr          string
		secureMetrics        bool
		probeAddr            string
		pprofAddr            string
		enableLeaderElection bool
		leaderElectionNS     string
		leaseDuration        time.Duration
		renewDeadline        time.Duration
		retryPeriod          time.Duration
		watchNamespaces      string
		opts                 controllers.Options
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080",
		"The address the Prometheus metrics endpoint binds to, plain HTTP unless --metrics-secure. Use 0 to disable it.")
	flag.BoolVar(&secureMetrics, "metrics-secure", false,
		"Serve metrics over HTTPS (self-signed certificate) and only to clients that authenticate and are "+
			"authorized to get /metrics; needs the RBAC in config/rbac/metrics_auth_role.yaml.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081",
		"The address the health probe endpoints (/healthz, /readyz) bind to.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "",
		"The address of Go's profiling endpoints (/debug/pprof/), plain HTTP and unauthenticated, for diagnosis only. Empty disables them.")
	flag.BoolVar(&enableLeaderElection, "leader-elect", false,
		"Enable leader election, so that only one of several replicas reconciles at a time (Lease "+leaderElectionID+").")
	flag.StringVar(&leaderElectionNS, "leader-election-namespace", "",
		"Namespace of the leader election Lease. Empty means the manager's own namespace, which only exists in-cluster: set it to run with --leader-elect elsewhere.")
	// A crashed leader is replaced after at most the lease duration; shorter values fail over
	// faster at the price of more Lease writes.
	flag.DurationVar(&leaseDuration, "leader-elect-lease-duration", 15*time.Second,
		"How long a non-leader waits before taking over a Lease whose holder stopped renewing it.")
	flag.DurationVar(&renewDeadline, "leader-elect-renew-deadline", 10*time.Second,
		"How long the leader keeps retrying to renew its Lease before it gives up leadership (less than the lease duration).")
	flag.DurationVar(&retryPeriod, "leader-elect-retry-period", 2*time.Second,
		"How often candidates try to acquire or renew the Lease.")
	flag.StringVar(&watchNamespaces, "watch-namespaces", "",
		"Comma-separated namespaces whose TableauSites, TableauWebhooks and Secrets the manager watches. Empty watches all namespaces.")
	flag.DurationVar(&opts.ResyncPeriod, "resync-period", 10*time.Minute,
		"How often each TableauWebhook is compared with Tableau to correct drift, unless its spec.resyncPeriod says otherwise. Periods under 30s are for tests and demos.")
	flag.Float64Var(&opts.TableauQPS, "tableau-qps", 10,
		"Sustained Tableau REST API requests per second allowed per TableauSite.")
	flag.IntVar(&opts.TableauBurst, "tableau-burst", 20,
		"Largest burst of Tableau REST API requests allowed per TableauSite (the size of the --tableau-qps token bucket).")
	flag.DurationVar(&opts.TableauTimeout, "tableau-timeout", 30*time.Second,
		"Timeout of every Tableau REST API request.")
	flag.IntVar(&opts.MaxConcurrentReconciles, "max-concurrent-reconciles", 4,
		"How many resources of each kind are reconciled concurrently.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()

	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}

	// Values given to a logger are encoded only when it writes a line (internal/lazylog).
	ctrl.SetLogger(lazylog.New(zap.New(zap.UseFlagOptions(&zapOpts))))

	if err := opts.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "invalid flags: %v\n", err)
		os.Exit(2)
	}

	metricsOpts := metricsserver.Options{
		BindAddress:   metricsAddr,
		SecureServing: secureMetrics,
	}
	if secureMetrics {
		metricsOpts.FilterProvider = metricsauth.Filter
		// HTTP/2 is disabled because of its stream-cancellation and rapid-reset vulnerabilities
		// (GHSA-qppj-fm5r-hxr3, GHSA-4374-p667-p6c8); metrics need nothing it offers.
		metricsOpts.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	}

	// What the cache keeps of each object: controllers.ConfigureCache.
	var cacheOpts cache.Options
	controllers.ConfigureCache(&cacheOpts)
	if namespaces := parseNamespaces(watchNamespaces); len(namespaces) > 0 {
		cacheOpts.DefaultNamespaces = make(map[string]cache.Config, len(namespaces))
		for _, ns := range namespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}

	scheme, err := controllers.NewScheme()
	if err != nil {
		setupLog.Error(err, "unable to build the scheme")
		os.Exit(1)
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  probeAddr,
		PprofBindAddress:        pprofAddr,
		LeaderElection:          enableLeaderElection,
		LeaderElectionID:        leaderElectionID,
		LeaderElectionNamespace: leaderElectionNS,
		LeaseDuration:           &leaseDuration,
		RenewDeadline:           &renewDeadline,
		RetryPeriod:             &retryPeriod,
		// The process exits as soon as the manager stops, so releasing the Lease on shutdown is
		// safe, and it lets another replica take over at once instead of after the lease expires.
		LeaderElectionReleaseOnCancel: true,
		Cache:                         cacheOpts,
		Controller:                    config.Controller{MaxConcurrentReconciles: opts.MaxConcurrentReconciles},
	})
	if err != nil {
		setupLog.Error(err, "unable to create manager")
		os.Exit(1)
	}

	// The signal handler's context stops the manager on SIGTERM or SIGINT; the reconcilers
	// sign their Tableau sessions out when it ends.
	ctx := ctrl.SetupSignalHandler()
	if err := controllers.Setup(ctx, mgr, opts); err != nil {
		setupLog.Error(err, "unable to set up the controllers")
		os.Exit(1)
	}
	// +kubebuilder:scaffold:builder

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to set up health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to set up ready check")
		os.Exit(1)
	}

	setupLog.Info("starting manager",
		"watchNamespaces", watchNamespaces,
		"resyncPeriod", opts.ResyncPeriod,
		"tableauQPS", opts.TableauQPS,
		"tableauBurst", opts.TableauBurst,
		"tableauTimeout", opts.TableauTimeout,
		"maxConcurrentReconciles", opts.MaxConcurrentReconciles,
		"leaderElection", enableLeaderElection)
	// SIGTERM or SIGINT stops the manager gracefully: in-flight reconciles finish, then the
	// Lease is released.
	if err := mgr.Start(ctx); err != nil {
		setupLog.Error(err, "problem running manager")
		os.Exit(1)
	}
}

// parseNamespaces splits the --watch-namespaces value, ignoring blanks and duplicates.
func parseNamespaces(s string) []string {
	var namespaces []string
	seen := map[string]bool{}
	for _, ns := range strings.Split(s, ",") {
		ns = strings.TrimSpace(ns)
		if ns == "" || seen[ns] {
			continue
		}
		seen[ns] = true
		namespaces = append(namespaces, ns)
	}
	return namespaces
}
