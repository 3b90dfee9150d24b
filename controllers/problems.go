package controllers

import (
	"errors"
	"fmt"
	"strings"
	"time"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// retry says how a problem whose reason is not terminal is retried. Whether a reason is
// terminal is not decided here but in the reason table of api/v1alpha1, which the Argo CD
// health checks and kstatus are tested against.
type retry int

const (
	// retryOnChange: waits on another object (site, Secret); its watch retriggers.
	retryOnChange retry = iota
	// retryBackoff: transient; per-item exponential backoff from 1s to 5m.
	retryBackoff
)

// problem is why a TableauWebhook is not Ready: the Ready reason, a message for people, and
// how it is retried.
type problem struct {
	reason  string
	message string
	retry   retry
	// after is a minimum delay before the retry (Tableau's Retry-After).
	after time.Duration
	err   error
}

func (p *problem) Error() string { return p.message }
func (p *problem) Unwrap() error { return p.err }

// terminal reports whether only a change can fix the problem (no requeue; Stalled=True).
func (p *problem) terminal() bool { return tableauv1.IsTerminalWebhookReason(p.reason) }

// asProblem returns the problem in err's chain, if there is one.
func asProblem(err error) (*problem, bool) {
	var p *problem
	ok := errors.As(err, &p)
	return p, ok
}

// tableauProblem classifies a failed Tableau call made for what. A refusal that is the site's
// (401 after a new sign-in, 403, the site gone) is not the spec's: connectionLost turns it into
// the site's problem, so it is never Rejected here.
func tableauProblem(what string, err error) *problem {
	msg := fmt.Sprintf("%s: %v", what, err)
	switch {
	case tableau.IsRejected(err):
		return &problem{reason: tableauv1.ReasonRejected, message: msg, err: err}
	default:
		p := &problem{reason: tableauv1.ReasonTableauError, message: msg, retry: retryBackoff, err: err}
		if d, ok := tableau.IsRateLimited(err); ok && d > 0 {
			p.after = d
			p.message = fmt.Sprintf("%s; Tableau asked to retry after %s", msg, shortDuration(d))
		}
		return p
	}
}

// shortDuration writes a duration as people do: 29m, 1h30m, 45s.
func shortDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// deletingProblem reports a failed deletion under the Deleting reason, retried with backoff
// whatever the cause: a resource being deleted has no spec change to wait for.
func deletingProblem(p *problem) *problem {
	p.reason, p.retry = tableauv1.ReasonDeleting, retryBackoff
	return p
}
