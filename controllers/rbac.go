// Package controllers holds the reconcilers of TableauSite and TableauWebhook and the settings
// the manager hands to them.
package controllers

// The permissions the reconcilers need, and no more: controller-gen turns these markers into
// config/rbac/role.yaml (make manifests). Leader election's permissions (leases, in the
// manager's namespace) are in config/rbac/leader_election_role.yaml.
//
// Both kinds: read and watch them, add and remove finalizers, and write status. The controllers
// never create or delete them, and never write spec.
// +kubebuilder:rbac:groups=tableau.webhook-operator.dev,resources=tableausites;tableauwebhooks,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=tableau.webhook-operator.dev,resources=tableausites/status;tableauwebhooks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=tableau.webhook-operator.dev,resources=tableausites/finalizers;tableauwebhooks/finalizers,verbs=update
//
// Secrets: Tableau credentials and Secret-sourced destination URLs, watched so that a rotation
// takes effect at once; patch adds and removes the credentials-in-use finalizer (and nothing
// else: the patch carries only the finalizers and the resourceVersion) on the Secrets of a
// TableauSite that still has TableauWebhooks to delete in Tableau, so that their deletion can
// sign in even after the Secret was deleted (a namespace deletion deletes Secrets first).
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;patch
//
// Namespaces: their labels decide whether a TableauSite with webhookNamespaces.from: Selector
// admits a TableauWebhook.
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
//
// Events, through either API (the recorder in use decides which).
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
