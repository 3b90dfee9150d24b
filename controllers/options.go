package controllers

import (
	"errors"
	"fmt"
	"time"
)

// MinResyncPeriod is the shortest drift-check period of the --resync-period flag. A
// TableauWebhook's own spec.resyncPeriod must be at least 30s (the CRD validates it), but
// the flag goes lower so that tests, the demo and benchmarks can watch several periods pass;
// in production, periods under 30s spend the Tableau API budget on polling.
const MinResyncPeriod = time.Second

// Options are the operator-wide settings that main.go parses from its flags and hands to every
// reconciler. Zero values are not defaults: main.go always fills every field.
type Options struct {
	// ResyncPeriod is how often a TableauWebhook is compared with Tableau to correct drift when
	// its spec.resyncPeriod is not set (--resync-period, default 10m). Reconcilers requeue after
	// it with jitter.
	ResyncPeriod time.Duration

	// TableauQPS is the sustained rate of Tableau REST API requests allowed per TableauSite
	// (--tableau-qps, default 10), enforced client-side with a token bucket.
	TableauQPS float64

	// TableauBurst is the token bucket's size for TableauQPS (--tableau-burst, default 20).
	TableauBurst int

	// TableauTimeout bounds every single Tableau REST API call (--tableau-timeout, default 30s).
	TableauTimeout time.Duration

	// MaxConcurrentReconciles is how many resources of one kind are reconciled at the same time
	// (--max-concurrent-reconciles, default 4). main.go also makes it the manager-wide default
	// for every controller.
	MaxConcurrentReconciles int
}

// Validate reports every setting that cannot work, each naming its flag.
func (o Options) Validate() error {
	var errs []error
	if o.ResyncPeriod < MinResyncPeriod {
		errs = append(errs, fmt.Errorf("--resync-period must be at least %s, got %s", MinResyncPeriod, o.ResyncPeriod))
	}
	if o.TableauQPS <= 0 {
		errs = append(errs, fmt.Errorf("--tableau-qps must be greater than 0, got %v", o.TableauQPS))
	}
	if o.TableauBurst < 1 {
		errs = append(errs, fmt.Errorf("--tableau-burst must be at least 1, got %d", o.TableauBurst))
	}
	if o.TableauTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--tableau-timeout must be greater than 0, got %s", o.TableauTimeout))
	}
	if o.MaxConcurrentReconciles < 1 {
		errs = append(errs, fmt.Errorf("--max-concurrent-reconciles must be at least 1, got %d", o.MaxConcurrentReconciles))
	}
	return errors.Join(errs...)
}
