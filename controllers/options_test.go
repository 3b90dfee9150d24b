package controllers

import (
	"strings"
	"testing"
	"time"
)

func TestOptionsValidate(t *testing.T) {
	valid := Options{
		ResyncPeriod:            10 * time.Minute,
		TableauQPS:              10,
		TableauBurst:            20,
		TableauTimeout:          30 * time.Second,
		MaxConcurrentReconciles: 4,
	}
	if err := valid.Validate(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"resync too short", func(o *Options) { o.ResyncPeriod = MinResyncPeriod - time.Millisecond }, "--resync-period must be at least " + MinResyncPeriod.String()},
		{"zero qps", func(o *Options) { o.TableauQPS = 0 }, "--tableau-qps must be greater than 0"},
		{"zero burst", func(o *Options) { o.TableauBurst = 0 }, "--tableau-burst must be at least 1"},
		{"zero timeout", func(o *Options) { o.TableauTimeout = 0 }, "--tableau-timeout must be greater than 0"},
		{"zero concurrency", func(o *Options) { o.MaxConcurrentReconciles = 0 }, "--max-concurrent-reconciles must be at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.change(&o)
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
