package v1alpha1

import (
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReasonInfo is what a Ready reason means to every reader of status: the controllers that
// write it, the Argo CD health checks (config/argocd), kstatus (Flux, kpt) and the demo.
// Their tests check them against this table, so that a reason is defined once.
// +kubebuilder:object:generate=false
type ReasonInfo struct {
	// Ready is the status of the Ready condition that goes with the reason.
	Ready metav1.ConditionStatus
	// Terminal means that retrying cannot help until something changes (the spec, the
	// TableauSite, a Secret, a namespace's labels): the controllers write Stalled=True and
	// do not retry in a loop; Argo CD reports Degraded and kstatus Failed. The others write
	// Reconciling=True (Argo CD Progressing, kstatus InProgress) and are retried.
	Terminal bool
}

// WebhookReadyReasons are the reasons of a TableauWebhook's Ready condition.
var WebhookReadyReasons = map[string]ReasonInfo{
	ReasonAvailable:                 {Ready: metav1.ConditionTrue},
	ReasonCreating:                  {Ready: metav1.ConditionFalse},
	ReasonUpdating:                  {Ready: metav1.ConditionFalse},
	ReasonDeleting:                  {Ready: metav1.ConditionFalse},
	ReasonSiteNotFound:              {Ready: metav1.ConditionFalse},
	ReasonSiteNotReady:              {Ready: metav1.ConditionFalse},
	ReasonDestinationSecretNotFound: {Ready: metav1.ConditionFalse},
	ReasonTableauError:              {Ready: metav1.ConditionFalse},
	ReasonSiteNotAllowed:            {Ready: metav1.ConditionFalse, Terminal: true},
	ReasonAlreadyExists:             {Ready: metav1.ConditionFalse, Terminal: true},
	ReasonNameConflict:              {Ready: metav1.ConditionFalse, Terminal: true},
	ReasonRejected:                  {Ready: metav1.ConditionFalse, Terminal: true},
}

// SiteReadyReasons are the reasons of a TableauSite's Ready condition.
var SiteReadyReasons = map[string]ReasonInfo{
	ReasonConnected:            {Ready: metav1.ConditionTrue},
	ReasonServerUnreachable:    {Ready: metav1.ConditionFalse},
	ReasonCredentialsNotFound:  {Ready: metav1.ConditionFalse},
	ReasonAuthenticationFailed: {Ready: metav1.ConditionFalse, Terminal: true},
	ReasonUnsupportedVersion:   {Ready: metav1.ConditionFalse, Terminal: true},
	ReasonCredentialsInUse:     {Ready: metav1.ConditionFalse, Terminal: true},
	ReasonInvalidSpec:          {Ready: metav1.ConditionFalse, Terminal: true},
	// Both are tried again with backoff (from 10 s, doubling, up to the resync period), so
	// that rights given back or a site restored are noticed without a change in Kubernetes.
	ReasonInsufficientPermissions: {Ready: metav1.ConditionFalse, Terminal: true},
	ReasonSiteNotFoundInTableau:   {Ready: metav1.ConditionFalse, Terminal: true},
}

// IsTerminalWebhookReason reports whether a TableauWebhook Ready reason is terminal.
func IsTerminalWebhookReason(reason string) bool { return WebhookReadyReasons[reason].Terminal }

// IsTerminalSiteReason reports whether a TableauSite Ready reason is terminal.
func IsTerminalSiteReason(reason string) bool { return SiteReadyReasons[reason].Terminal }

// TerminalReasons lists the terminal reasons of a table, sorted.
func TerminalReasons(table map[string]ReasonInfo) []string {
	var out []string
	for reason, info := range table {
		if info.Terminal {
			out = append(out, reason)
		}
	}
	sort.Strings(out)
	return out
}
