package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TableauSiteSpec is the connection to one site of one Tableau Server or Tableau Cloud pod.
// +kubebuilder:validation:XValidation:rule=`self.serverURL == oldSelf.serverURL && (has(self.site) ? self.site : "") == (has(oldSelf.site) ? oldSelf.site : "")`,message="serverURL and site are immutable: a TableauSite's webhooks live on that one Tableau site; to use another server or site, create a new TableauSite (and TableauWebhooks that reference it)"
type TableauSiteSpec struct {
	// ServerURL is the base URL of Tableau Server or of the Tableau Cloud pod, such as
	// https://tableau.example.com or https://10ax.online.tableau.com, without /api.
	// http is accepted for lab servers but draws a Warning event: credentials travel in clear.
	// Immutable, like site: the webhooks made through this TableauSite live on that site.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHost() != ''",message="serverURL must be an absolute http or https URL such as https://tableau.example.com"
	// +kubebuilder:validation:XValidation:rule="!self.contains('?') && !self.contains('#')",message="serverURL must not carry a query or fragment"
	// +required
	ServerURL string `json:"serverURL"`

	// Site is the site's contentUrl (the part after /site/ in Tableau's web addresses).
	// Empty means the Default site of Tableau Server. Immutable.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Site string `json:"site,omitempty"`

	// APIVersion pins the Tableau REST API version, like "3.24". Empty (the default) discovers
	// it from the server's serverinfo endpoint. Versions below 3.9 are not supported.
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:Pattern=`^([0-9]+\.[0-9]+)?$`
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`

	// Credentials used to sign in to the site. Exactly one of personalAccessToken and
	// password must be set. A personal access token holds one Tableau session at a time.
	// +required
	Credentials TableauCredentials `json:"credentials"`

	// TLS settings for connections to the server.
	// +optional
	TLS *TableauTLS `json:"tls,omitempty"`

	// WebhookNamespaces says from which namespaces TableauWebhooks may use this site.
	// When omitted, only TableauWebhooks in the TableauSite's own namespace may.
	// +optional
	WebhookNamespaces *WebhookNamespaces `json:"webhookNamespaces,omitempty"`

	// Adoption says from which namespaces a TableauWebhook with adoptionPolicy: Adopt may take
	// over a webhook that already exists on the site and that the operator did not create (made
	// by hand, by another tool, or left by a resource deleted with deletionPolicy: Orphan).
	// An adopted webhook is then deleted from Tableau with its TableauWebhook, so this is the
	// site owner's decision. When omitted, only TableauWebhooks in the TableauSite's own
	// namespace may adopt. A namespace must also be admitted by webhookNamespaces.
	// +optional
	Adoption *WebhookAdoption `json:"adoption,omitempty"`
}

// TableauCredentials selects how the operator signs in. Exactly one field is set.
// +kubebuilder:validation:XValidation:rule="has(self.personalAccessToken) != has(self.password)",message="set exactly one of credentials.personalAccessToken and credentials.password"
type TableauCredentials struct {
	// PersonalAccessToken signs in with a personal access token (PAT). The Secret holds the
	// keys tokenName and tokenSecret.
	// +optional
	PersonalAccessToken *SecretCredentials `json:"personalAccessToken,omitempty"`

	// Password signs in with a username and password. The Secret holds the keys username
	// and password.
	// +optional
	Password *SecretCredentials `json:"password,omitempty"`
}

// SecretCredentials names the Secret, in the TableauSite's namespace, that holds credentials.
type SecretCredentials struct {
	// SecretRef names the Secret in the TableauSite's namespace.
	// +required
	SecretRef LocalSecretReference `json:"secretRef"`
}

// LocalSecretReference names a Secret in the same namespace.
type LocalSecretReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// SecretKeySelector selects one key of a Secret in the same namespace.
type SecretKeySelector struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// Key within the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +required
	Key string `json:"key"`
}

// TableauTLS configures how the server's certificate is verified.
// +kubebuilder:validation:XValidation:rule="!(has(self.caBundleSecretRef) && has(self.insecureSkipVerify) && self.insecureSkipVerify)",message="tls.caBundleSecretRef and tls.insecureSkipVerify=true contradict each other: set one"
type TableauTLS struct {
	// CABundleSecretRef selects a Secret key holding PEM certificates to trust in addition to
	// the system roots, for servers with a private CA.
	// +optional
	CABundleSecretRef *SecretKeySelector `json:"caBundleSecretRef,omitempty"`

	// InsecureSkipVerify disables verification of the server's certificate. An explicit opt-in
	// for lab servers only; it is reported in the Ready condition's message. Defaults to false.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// NamespacesFrom says which namespaces may attach TableauWebhooks to a TableauSite.
// +kubebuilder:validation:Enum=Same;All;Selector
type NamespacesFrom string

const (
	// NamespacesFromSame admits only the TableauSite's own namespace.
	NamespacesFromSame NamespacesFrom = "Same"
	// NamespacesFromAll admits every namespace.
	NamespacesFromAll NamespacesFrom = "All"
	// NamespacesFromSelector admits the namespaces whose labels match the selector.
	NamespacesFromSelector NamespacesFrom = "Selector"
)

// WebhookNamespaces says from which namespaces TableauWebhooks may reference a TableauSite,
// in the manner of the Gateway API's allowedRoutes.
// +kubebuilder:validation:XValidation:rule="has(self.selector) == (has(self.from) && self.from == 'Selector')",message="webhookNamespaces.selector is required with from: Selector and allowed only with it"
type WebhookNamespaces struct {
	// From is Same (only this TableauSite's namespace, the default), All (every namespace),
	// or Selector (namespaces whose labels match selector).
	// +optional
	From NamespacesFrom `json:"from,omitempty"`

	// Selector selects namespaces by label; used only with from: Selector.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// AdoptionFrom says which namespaces may adopt webhooks the operator did not create.
// +kubebuilder:validation:Enum=Same;All;Selector;None
type AdoptionFrom string

const (
	// AdoptionFromSame lets only the TableauSite's own namespace adopt.
	AdoptionFromSame AdoptionFrom = "Same"
	// AdoptionFromAll lets every admitted namespace adopt.
	AdoptionFromAll AdoptionFrom = "All"
	// AdoptionFromSelector lets the admitted namespaces whose labels match the selector adopt.
	AdoptionFromSelector AdoptionFrom = "Selector"
	// AdoptionFromNone lets no namespace adopt.
	AdoptionFromNone AdoptionFrom = "None"
)

// WebhookAdoption says from which namespaces TableauWebhooks may adopt webhooks on a site.
// +kubebuilder:validation:XValidation:rule="has(self.selector) == (has(self.from) && self.from == 'Selector')",message="adoption.selector is required with from: Selector and allowed only with it"
type WebhookAdoption struct {
	// From is Same (only this TableauSite's namespace, the default), All (every namespace that
	// webhookNamespaces admits), Selector (the admitted namespaces whose labels match
	// selector) or None (no namespace: adoptionPolicy: Adopt is refused everywhere).
	// +optional
	From AdoptionFrom `json:"from,omitempty"`

	// Selector selects namespaces by label; used only with from: Selector.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// TableauSiteStatus is what the operator observed of the site.
type TableauSiteStatus struct {
	// ObservedGeneration is the generation of the spec that this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// SiteID is the site's LUID, returned by sign-in.
	// +optional
	SiteID string `json:"siteID,omitempty"`

	// ServerVersion is the Tableau product version (productVersion of serverinfo).
	// +optional
	ServerVersion string `json:"serverVersion,omitempty"`

	// RESTAPIVersion is the REST API version in use.
	// +optional
	RESTAPIVersion string `json:"restAPIVersion,omitempty"`

	// Webhooks is the number of TableauWebhooks attached to this site.
	// +optional
	Webhooks int32 `json:"webhooks,omitempty"`

	// Conditions: Ready is True when the operator is signed in with a supported version.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// TableauSite is a connection to one site of a Tableau Server or Tableau Cloud, with the
// credentials the operator signs in with. TableauWebhooks reference it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tsite,categories=tableau
// +kubebuilder:printcolumn:name="Server",type=string,JSONPath=`.spec.serverURL`
// +kubebuilder:printcolumn:name="Site",type=string,JSONPath=`.spec.site`
// +kubebuilder:printcolumn:name="API",type=string,JSONPath=`.status.restAPIVersion`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.serverVersion`,priority=1
// +kubebuilder:printcolumn:name="Webhooks",type=integer,JSONPath=`.status.webhooks`,priority=1
type TableauSite struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired connection.
	// +required
	Spec TableauSiteSpec `json:"spec"`

	// Status is what the operator observed.
	// +optional
	Status TableauSiteStatus `json:"status,omitempty"`
}

// TableauSiteList is a list of TableauSites.
// +kubebuilder:object:root=true
type TableauSiteList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TableauSite `json:"items"`
}

func init() {
	SchemeBuilder.Register(&TableauSite{}, &TableauSiteList{})
}

// AdmittedFrom returns how the site admits namespaces, applying the default (Same).
func (s *TableauSite) AdmittedFrom() NamespacesFrom {
	if s.Spec.WebhookNamespaces == nil || s.Spec.WebhookNamespaces.From == "" {
		return NamespacesFromSame
	}
	return s.Spec.WebhookNamespaces.From
}

// WebhookNamespacesSelectorError reports why spec.webhookNamespaces.selector cannot be used, or
// nil when it can or is not in use. The schema checks its shape, but not every value (an
// operator such as In with no values): such a selector admits no namespace.
func (s *TableauSite) WebhookNamespacesSelectorError() error {
	if s.AdmittedFrom() != NamespacesFromSelector || s.Spec.WebhookNamespaces.Selector == nil {
		return nil
	}
	_, err := metav1.LabelSelectorAsSelector(s.Spec.WebhookNamespaces.Selector)
	return err
}

// AdoptionFrom returns which namespaces may adopt webhooks, applying the default (Same).
func (s *TableauSite) AdoptionFrom() AdoptionFrom {
	if s.Spec.Adoption == nil || s.Spec.Adoption.From == "" {
		return AdoptionFromSame
	}
	return s.Spec.Adoption.From
}
