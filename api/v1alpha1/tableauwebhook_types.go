package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TableauWebhookSpec says which Tableau event should POST to which URL, on which site.
type TableauWebhookSpec struct {
	// SiteRef names the TableauSite whose site the webhook lives on. Immutable: to move a
	// webhook to another site, create a new TableauWebhook.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="siteRef is immutable: to move a webhook to another site, create a new TableauWebhook and delete this one"
	// +required
	SiteRef SiteReference `json:"siteRef"`

	// Event is the Tableau event that triggers the webhook, by its API event name
	// (for example DatasourceRefreshFailed or WorkbookCreated).
	// +kubebuilder:validation:Enum=AdminPromoted;AdminDemoted;DatasourceUpdated;DatasourceCreated;DatasourceDeleted;DatasourceRefreshStarted;DatasourceRefreshSucceeded;DatasourceRefreshFailed;LabelCreated;LabelUpdated;LabelDeleted;SiteCreated;SiteUpdated;SiteDeleted;UserDeleted;ViewDeleted;WorkbookUpdated;WorkbookCreated;WorkbookDeleted;WorkbookRefreshStarted;WorkbookRefreshSucceeded;WorkbookRefreshFailed
	// +required
	Event string `json:"event"`

	// Destination is where Tableau POSTs the event's JSON payload.
	// +required
	Destination Destination `json:"destination"`

	// WebhookName is the webhook's name in Tableau. Empty (the default) means
	// "<namespace>/<name>" of this resource. Two TableauWebhooks may not claim the same name
	// on the same site.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	WebhookName string `json:"webhookName,omitempty"`

	// Enabled says whether Tableau should deliver the webhook. Defaults to true. When Tableau
	// disables a webhook after repeated delivery failures, the operator re-enables it.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// DeletionPolicy says what happens to the webhook in Tableau when this resource is
	// deleted: Delete (the default) removes it, Orphan leaves it. Set Orphan to finish the
	// deletion of a resource whose site can no longer be reached.
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// AdoptionPolicy says what to do when Tableau already has a webhook of the same name that
	// this resource did not create: Refuse (the default) reports AlreadyExists, Adopt takes it
	// over and makes it match this spec, if the TableauSite's spec.adoption lets this namespace
	// adopt (by default only the site's own namespace may). A webhook that another
	// TableauWebhook manages is never adopted.
	// +optional
	AdoptionPolicy AdoptionPolicy `json:"adoptionPolicy,omitempty"`

	// Suspend stops every Tableau call for this resource except deletion. Defaults to false.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// ResyncPeriod is how often the webhook is compared with Tableau to correct drift, at
	// least 30s. Defaults to the operator's --resync-period (10m).
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self) >= duration('30s')",message="resyncPeriod must be at least 30s"
	// +optional
	ResyncPeriod *metav1.Duration `json:"resyncPeriod,omitempty"`
}

// SiteReference names a TableauSite.
type SiteReference struct {
	// Name of the TableauSite.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// Namespace of the TableauSite. Defaults to this resource's namespace. Another namespace
	// is allowed only if the TableauSite admits this one (spec.webhookNamespaces).
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// Destination is where Tableau delivers the webhook. Exactly one of url and urlFrom is set.
// +kubebuilder:validation:XValidation:rule="has(self.url) != has(self.urlFrom)",message="set exactly one of destination.url and destination.urlFrom"
type Destination struct {
	// URL Tableau POSTs to. Tableau requires https with a valid certificate.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() == 'https' && url(self).getHost() != ''",message="destination.url must be an absolute https URL such as https://hooks.example.com/tableau (Tableau delivers only to https)"
	// +optional
	URL string `json:"url,omitempty"`

	// URLFrom reads the URL from a Secret in this namespace, for URLs that embed a secret
	// (Slack, Teams, PagerDuty). It is never shown in status, Events or logs.
	// +optional
	URLFrom *URLSource `json:"urlFrom,omitempty"`
}

// URLSource reads a URL from a Secret.
type URLSource struct {
	// SecretKeyRef selects the Secret key that holds the URL.
	// +required
	SecretKeyRef SecretKeySelector `json:"secretKeyRef"`
}

// DeletionPolicy says what happens in Tableau when a TableauWebhook is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete deletes the webhook from Tableau.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves the webhook in Tableau.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// AdoptionPolicy says whether a same-named webhook in Tableau may be taken over.
// +kubebuilder:validation:Enum=Refuse;Adopt
type AdoptionPolicy string

const (
	// AdoptionPolicyRefuse reports AlreadyExists and leaves the foreign webhook alone.
	AdoptionPolicyRefuse AdoptionPolicy = "Refuse"
	// AdoptionPolicyAdopt takes over the foreign webhook.
	AdoptionPolicyAdopt AdoptionPolicy = "Adopt"
)

// TableauWebhookStatus is what the operator observed of the webhook in Tableau.
type TableauWebhookStatus struct {
	// ObservedGeneration is the generation of the spec that this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// WebhookID is the webhook's LUID in Tableau.
	// +optional
	WebhookID string `json:"webhookID,omitempty"`

	// PendingCreate is written by the operator just before it asks Tableau to create the
	// webhook, and cleared when webhookID is stored or the create failed for good: after a
	// crash or a lost answer, a webhook of that name on that site, made since, is recognised as
	// this resource's own instead of being created twice. It lives in status, which only the
	// operator writes, so that nothing a user writes can make the operator take a webhook for
	// its own.
	// +optional
	PendingCreate *PendingCreate `json:"pendingCreate,omitempty"`

	// SiteID is the LUID of the site the webhook lives on.
	// +optional
	SiteID string `json:"siteID,omitempty"`

	// WebhookName is the webhook's name in Tableau.
	// +optional
	WebhookName string `json:"webhookName,omitempty"`

	// Enabled is whether Tableau reports the webhook enabled.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// StatusChangeReason is Tableau's reason for the last change of the enabled state, such as
	// the reason it gave when it disabled a webhook whose deliveries kept failing.
	// +optional
	StatusChangeReason string `json:"statusChangeReason,omitempty"`

	// Owner is the Tableau user that owns the webhook.
	// +optional
	Owner *WebhookOwner `json:"owner,omitempty"`

	// CreatedAt is when Tableau says the webhook was created (its createdAt), when it says.
	// +optional
	CreatedAt *metav1.Time `json:"createdAt,omitempty"`

	// UpdatedAt is when Tableau says the webhook was last changed (its updatedAt), when it says.
	// +optional
	UpdatedAt *metav1.Time `json:"updatedAt,omitempty"`

	// Destination is the destination as configured, with a Secret-sourced URL shown as
	// secretKeyRef:<name>/<key>.
	// +optional
	Destination string `json:"destination,omitempty"`

	// LastTest is the result of the last Test Webhook run requested with the
	// tableau.webhook-operator.dev/test annotation.
	// +optional
	LastTest *WebhookTestResult `json:"lastTest,omitempty"`

	// Conditions: Ready (exists in Tableau and matches the spec) and Synced (the last
	// reconcile succeeded).
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// PendingCreate is a create the operator asked Tableau for and has not seen the answer of.
type PendingCreate struct {
	// Name is the name the webhook was created with.
	Name string `json:"name"`
	// SiteID is the LUID of the site it was created on.
	SiteID string `json:"siteID"`
	// Since is when the operator asked.
	Since metav1.Time `json:"since"`
}

// WebhookOwner is the Tableau user that owns a webhook.
type WebhookOwner struct {
	// ID is the user's LUID.
	// +optional
	ID string `json:"id,omitempty"`
	// Name is the user's name.
	// +optional
	Name string `json:"name,omitempty"`
}

// WebhookTestResult is the outcome of Tableau's Test Webhook.
type WebhookTestResult struct {
	// Request echoes the value of the test annotation that asked for this test.
	Request string `json:"request"`
	// Time is when the test ran.
	Time metav1.Time `json:"time"`
	// StatusCode is the HTTP status the destination answered Tableau with.
	// +optional
	StatusCode int32 `json:"statusCode,omitempty"`
	// Body is the start of the destination's answer (at most 1 KiB).
	// +optional
	Body string `json:"body,omitempty"`
	// Error says why the test could not run, if it could not.
	// +optional
	Error string `json:"error,omitempty"`
}

// TableauWebhook declares one webhook on one Tableau site: which event POSTs to which URL.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=twh,categories=tableau
// +kubebuilder:printcolumn:name="Site",type=string,JSONPath=`.spec.siteRef.name`
// +kubebuilder:printcolumn:name="Event",type=string,JSONPath=`.spec.event`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Webhook-ID",type=string,JSONPath=`.status.webhookID`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Enabled",type=boolean,JSONPath=`.status.enabled`,priority=1
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`,priority=1
type TableauWebhook struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired webhook.
	// +required
	Spec TableauWebhookSpec `json:"spec"`

	// Status is what the operator observed.
	// +optional
	Status TableauWebhookStatus `json:"status,omitempty"`
}

// TableauWebhookList is a list of TableauWebhooks.
// +kubebuilder:object:root=true
type TableauWebhookList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TableauWebhook `json:"items"`
}

func init() {
	SchemeBuilder.Register(&TableauWebhook{}, &TableauWebhookList{})
}

// TableauName is the webhook's name in Tableau: spec.webhookName or "<namespace>/<name>".
func (w *TableauWebhook) TableauName() string {
	if w.Spec.WebhookName != "" {
		return w.Spec.WebhookName
	}
	return w.Namespace + "/" + w.Name
}

// SiteNamespace is the namespace of the referenced TableauSite, defaulting to the webhook's.
func (w *TableauWebhook) SiteNamespace() string {
	if w.Spec.SiteRef.Namespace != "" {
		return w.Spec.SiteRef.Namespace
	}
	return w.Namespace
}

// WantEnabled reports whether the webhook should be enabled in Tableau (default true).
func (w *TableauWebhook) WantEnabled() bool {
	return w.Spec.Enabled == nil || *w.Spec.Enabled
}

// EffectiveDeletionPolicy applies the default (Delete).
func (w *TableauWebhook) EffectiveDeletionPolicy() DeletionPolicy {
	if w.Spec.DeletionPolicy == "" {
		return DeletionPolicyDelete
	}
	return w.Spec.DeletionPolicy
}

// EffectiveAdoptionPolicy applies the default (Refuse).
func (w *TableauWebhook) EffectiveAdoptionPolicy() AdoptionPolicy {
	if w.Spec.AdoptionPolicy == "" {
		return AdoptionPolicyRefuse
	}
	return w.Spec.AdoptionPolicy
}

// DestinationDisplay is the destination as it may be shown: the URL, or a reference to the
// Secret that holds it (never the Secret's content).
func (w *TableauWebhook) DestinationDisplay() string {
	if f := w.Spec.Destination.URLFrom; f != nil {
		return "secretKeyRef:" + f.SecretKeyRef.Name + "/" + f.SecretKeyRef.Key
	}
	return w.Spec.Destination.URL
}
