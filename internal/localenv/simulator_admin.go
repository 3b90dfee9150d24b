package localenv

import (
	"context"
	"net/http"
	"net/url"
)

// ForeignSignIn makes someone else sign in with the simulator's PAT named patName (the
// simulator's own PAT when empty), which ends the session the operator holds with it.
func (s *Simulator) ForeignSignIn(ctx context.Context, patName string) error {
	if patName == "" {
		patName = s.PATName
	}
	return s.admin(ctx, http.MethodPost, "/_sim/foreign-signin", map[string]string{"patName": patName}, nil)
}

// EditWebhook changes a webhook out of band, as someone using Tableau's UI would. Only the
// keys of patch change: "name", "event", "url", "enabled", "statusChangeReason".
func (s *Simulator) EditWebhook(ctx context.Context, site, id string, patch map[string]any) (SimWebhook, error) {
	var out SimWebhook
	err := s.admin(ctx, http.MethodPost, "/_sim/webhooks/"+url.PathEscape(id)+"/edit?site="+url.QueryEscape(site), patch, &out)
	return out, err
}

// DeleteWebhook deletes a webhook out of band.
func (s *Simulator) DeleteWebhook(ctx context.Context, site, id string) error {
	return s.admin(ctx, http.MethodDelete, "/_sim/webhooks/"+url.PathEscape(id)+"?site="+url.QueryEscape(site), nil, nil)
}

// AddWebhook creates a webhook out of band (one the operator did not create): "name",
// "event", "url", optionally "enabled", "ownerName".
func (s *Simulator) AddWebhook(ctx context.Context, site string, w map[string]any) (SimWebhook, error) {
	var out SimWebhook
	err := s.admin(ctx, http.MethodPost, "/_sim/webhooks?site="+url.QueryEscape(site), w, &out)
	return out, err
}

// SimFaults are the keys of the simulator's /_sim/faults admin API, for SetFaults.
// Durations are Go duration strings ("250ms").
type SimFaults struct {
	ErrorRate           float64  `json:"errorRate,omitempty"`
	Statuses            []int    `json:"statuses,omitempty"`
	RetryAfter          string   `json:"retryAfter,omitempty"`
	HTMLBodies          bool     `json:"htmlBodies,omitempty"`
	TimeoutRate         float64  `json:"timeoutRate,omitempty"`
	Hang                string   `json:"hang,omitempty"`
	Latency             string   `json:"latency,omitempty"`
	Jitter              string   `json:"jitter,omitempty"`
	LoseCreateResponses int      `json:"loseCreateResponses,omitempty"`
	Operations          []string `json:"operations,omitempty"`
	IncludeServerInfo   bool     `json:"includeServerInfo,omitempty"`
	Seed                int64    `json:"seed,omitempty"`
}

// InjectFaults replaces the fault injection in force with f (typed SetFaults).
func (s *Simulator) InjectFaults(ctx context.Context, f SimFaults) error {
	return s.admin(ctx, http.MethodPost, "/_sim/faults", f, nil)
}
