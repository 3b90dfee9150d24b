package localenv

import (
	"context"
	"net/http"
	"net/url"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// ForeignSignIn makes someone else sign in with the simulator's PAT named patName (the
// simulator's own PAT when empty), which ends the session the operator holds with it.
func (s *Simulator) ForeignSignIn(ctx context.Context, patName string) error {
	if patName == "" {
		patName = s.PATName
	}
	return s.admin(ctx, http.MethodPost, "/_sim/foreign-signin", map[string]string{"patName": patName}, nil)
}

// ExpireTokens makes every session token the simulator issued answer 401, as if they had all
// reached their idle limit: the next call signs in again.
func (s *Simulator) ExpireTokens(ctx context.Context) error {
	return s.admin(ctx, http.MethodPost, "/_sim/expire-tokens", nil, nil)
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

// Credentials and sites that stop working while the operator's Secret stays unchanged, for the
// e2e suites of credential failures and their recovery. An in-process simulator offers the
// same through Simulator.Server (tableautest.Server.RevokePAT, ...).

// SimPAT is a personal access token as the simulator's admin API reports it.
type SimPAT struct {
	Name     string `json:"name"`
	UserName string `json:"userName"`
	// State is "active", "revoked" or "expired" (tableautest.PATActive, ...).
	State tableautest.PATState `json:"state"`
}

// SimUser is a user as the simulator's admin API reports it. A PAT's user is named like the
// PAT; a password's like the username.
type SimUser struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	SiteRole string `json:"siteRole"`
	// SiteAdmin reports whether SiteRole may manage webhooks.
	SiteAdmin bool     `json:"siteAdmin"`
	Deleted   bool     `json:"deleted"`
	PATs      []string `json:"pats"`
	Password  bool     `json:"password"`
}

// SimSite is a site as the simulator's admin API reports it.
type SimSite struct {
	ID         string `json:"id"`
	ContentURL string `json:"contentUrl"`
	Name       string `json:"name"`
}

// SimSites are the simulator's live sites and those DeleteSite removed (latest first).
type SimSites struct {
	Sites        []SimSite `json:"sites"`
	DeletedSites []SimSite `json:"deletedSites"`
}

// RevokePAT revokes (tableautest.PATRevoked, or "" for it) or expires (tableautest.PATExpired)
// the PAT patName, the simulator's own PAT when empty: signing in with it answers 401
// (401001), and the session it holds answers 401 (401002). RestorePAT undoes it.
func (s *Simulator) RevokePAT(ctx context.Context, patName string, state tableautest.PATState) error {
	if patName == "" {
		patName = s.PATName
	}
	body := map[string]any{"patName": patName}
	if state != "" {
		body["state"] = state
	}
	return s.admin(ctx, http.MethodPost, "/_sim/pats/revoke", body, nil)
}

// RestorePAT makes a revoked or expired PAT (the simulator's own when empty) sign in again.
// The session it held stays ended: the operator must sign in again.
func (s *Simulator) RestorePAT(ctx context.Context, patName string) error {
	if patName == "" {
		patName = s.PATName
	}
	return s.admin(ctx, http.MethodPost, "/_sim/pats/restore", map[string]string{"patName": patName}, nil)
}

// PATs lists the simulator's personal access tokens and their states.
func (s *Simulator) PATs(ctx context.Context) ([]SimPAT, error) {
	var out struct {
		PATs []SimPAT `json:"pats"`
	}
	err := s.admin(ctx, http.MethodGet, "/_sim/pats", nil, &out)
	return out.PATs, err
}

// DeleteUser deletes the user userName (the user of the simulator's own PAT when empty): all
// its credentials then fail as a revoked PAT does (sign-in 401001, sessions 401002).
func (s *Simulator) DeleteUser(ctx context.Context, userName string) error {
	if userName == "" {
		userName = s.PATName
	}
	return s.admin(ctx, http.MethodPost, "/_sim/users/delete", map[string]string{"userName": userName}, nil)
}

// RestoreUser brings a deleted user (the simulator's own PAT's when empty) back with its LUID,
// site role and credentials. Its sessions stay ended.
func (s *Simulator) RestoreUser(ctx context.Context, userName string) error {
	if userName == "" {
		userName = s.PATName
	}
	return s.admin(ctx, http.MethodPost, "/_sim/users/restore", map[string]string{"userName": userName}, nil)
}

// SetSiteRole sets the site role of userName (the simulator's own PAT's user when empty), e.g.
// tableautest.SiteRoleExplorer to take away the site-administrator rights (every webhook call
// then answers 403/403004, open sessions included; sign-in and serverinfo still work) and
// tableautest.SiteRoleSiteAdministratorCreator to give them back.
func (s *Simulator) SetSiteRole(ctx context.Context, userName, role string) error {
	if userName == "" {
		userName = s.PATName
	}
	return s.admin(ctx, http.MethodPost, "/_sim/users/site-role", map[string]string{"userName": userName, "siteRole": role}, nil)
}

// Users lists the simulator's users, deleted ones included.
func (s *Simulator) Users(ctx context.Context) ([]SimUser, error) {
	var out struct {
		Users []SimUser `json:"users"`
	}
	err := s.admin(ctx, http.MethodGet, "/_sim/users", nil, &out)
	return out.Users, err
}

// DeleteSite deletes the site with contentUrl site: its webhooks go, sign-in to it answers
// 401 (401001), and sessions already open on it get 404 (404000, site not found) on webhook
// calls.
func (s *Simulator) DeleteSite(ctx context.Context, site string) error {
	return s.admin(ctx, http.MethodPost, "/_sim/sites/delete", map[string]string{"site": site}, nil)
}

// RestoreSite recreates a deleted site with its LUID and contentUrl, empty or, with
// keepWebhooks, with the webhooks it had. Sessions from before the deletion stay ended.
func (s *Simulator) RestoreSite(ctx context.Context, site string, keepWebhooks bool) error {
	return s.admin(ctx, http.MethodPost, "/_sim/sites/restore", map[string]any{"site": site, "keepWebhooks": keepWebhooks}, nil)
}

// RenameSite changes a site's contentUrl, keeping its LUID and webhooks: open sessions keep
// working, new sign-ins need newContentURL. Simulator.Sites keeps the contentUrls the
// simulator started with.
func (s *Simulator) RenameSite(ctx context.Context, site, newContentURL string) error {
	return s.admin(ctx, http.MethodPost, "/_sim/sites/rename", map[string]string{"site": site, "contentUrl": newContentURL}, nil)
}

// ListSites returns the simulator's live and deleted sites with their LUIDs.
func (s *Simulator) ListSites(ctx context.Context) (SimSites, error) {
	var out SimSites
	err := s.admin(ctx, http.MethodGet, "/_sim/sites", nil, &out)
	return out, err
}
