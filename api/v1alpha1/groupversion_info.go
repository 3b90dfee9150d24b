// Package v1alpha1 contains the v1alpha1 API of the tableau.webhook-operator.dev group:
// TableauSite (a connection to one Tableau site) and TableauWebhook (one webhook on it).
//
// +kubebuilder:object:generate=true
// +groupName=tableau.webhook-operator.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "tableau.webhook-operator.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this API with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this API to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
