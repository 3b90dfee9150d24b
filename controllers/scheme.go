package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
)

// NewScheme returns the scheme of the manager's client and cache: the kinds the controllers
// read and write (core/v1 for Secrets, Namespaces and Events' regarding objects, and this
// project's group). Events and the leader election Lease go through client-go's typed clients,
// which bring their own scheme.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, tableauv1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}
