package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
)

// kstatus (Flux, kpt) reads these generic conditions beside Ready: Reconciling=True means
// in progress, Stalled=True means failed. They are set together with Ready, so that every
// reader agrees on the state of a resource.
const (
	conditionReconciling = "Reconciling"
	conditionStalled     = "Stalled"
)

// readiness is the Ready condition to write, and how kstatus should read it.
type readiness struct {
	status   metav1.ConditionStatus
	reason   string
	message  string
	terminal bool
}

// setReadiness writes Ready and the kstatus conditions that go with it.
func setReadiness(conds *[]metav1.Condition, generation int64, r readiness) {
	meta.SetStatusCondition(conds, metav1.Condition{
		Type: tableauv1.ConditionReady, Status: r.status, Reason: r.reason,
		Message: r.message, ObservedGeneration: generation,
	})
	switch {
	case r.status == metav1.ConditionTrue:
		meta.RemoveStatusCondition(conds, conditionReconciling)
		meta.RemoveStatusCondition(conds, conditionStalled)
	case r.terminal:
		meta.RemoveStatusCondition(conds, conditionReconciling)
		meta.SetStatusCondition(conds, metav1.Condition{
			Type: conditionStalled, Status: metav1.ConditionTrue, Reason: r.reason,
			Message: r.message, ObservedGeneration: generation,
		})
	default:
		meta.RemoveStatusCondition(conds, conditionStalled)
		meta.SetStatusCondition(conds, metav1.Condition{
			Type: conditionReconciling, Status: metav1.ConditionTrue, Reason: r.reason,
			Message: r.message, ObservedGeneration: generation,
		})
	}
}

// setCondition writes one condition with the resource's generation.
func setCondition(conds *[]metav1.Condition, generation int64, typ string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(conds, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: message, ObservedGeneration: generation,
	})
}

// truncateMessage keeps condition messages within what the API server accepts (32768) and
// what a person reads.
func truncateMessage(s string) string {
	const limit = 1024
	if len(s) <= limit {
		return s
	}
	return s[:limit-3] + "..."
}
