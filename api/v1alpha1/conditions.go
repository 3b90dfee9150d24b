package v1alpha1

// Condition types shared by both kinds.
const (
	// ConditionReady is True when the resource exists in Tableau and matches its spec
	// (TableauWebhook), or when the site is signed in with a supported version (TableauSite).
	ConditionReady = "Ready"
	// ConditionSynced is True when the last reconcile of a TableauWebhook succeeded.
	ConditionSynced = "Synced"
)

// Ready reasons of a TableauSite.
const (
	// ReasonConnected: signed in to the site with a supported REST API version.
	ReasonConnected = "Connected"
	// ReasonAuthenticationFailed: Tableau refused the credentials.
	ReasonAuthenticationFailed = "AuthenticationFailed"
	// ReasonServerUnreachable: the server did not answer, or answered with a server error.
	ReasonServerUnreachable = "ServerUnreachable"
	// ReasonUnsupportedVersion: the server's REST API version is below the supported minimum.
	ReasonUnsupportedVersion = "UnsupportedVersion"
	// ReasonCredentialsNotFound: the credentials Secret or one of its keys is missing.
	ReasonCredentialsNotFound = "CredentialsNotFound"
	// ReasonCredentialsInUse: another TableauSite signs in to a different site with the same
	// personal access token; one token holds one session, so the two would evict each other.
	ReasonCredentialsInUse = "CredentialsInUse"
	// ReasonInvalidSpec: the spec passed admission but cannot be used (e.g. a bad CA bundle).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonInsufficientPermissions: Tableau refused webhook calls with 403: the user of the
	// credentials is not (or no longer) a site administrator.
	ReasonInsufficientPermissions = "InsufficientPermissions"
	// ReasonSiteNotFoundInTableau: Tableau answered that the site no longer exists (it was
	// deleted while the operator's session lasted).
	ReasonSiteNotFoundInTableau = "SiteNotFoundInTableau"
)

// Ready reasons of a TableauWebhook.
const (
	// ReasonAvailable: the webhook exists in Tableau and matches the spec.
	ReasonAvailable = "Available"
	// ReasonCreating: the webhook is being created in Tableau.
	ReasonCreating = "Creating"
	// ReasonUpdating: the webhook is being updated in Tableau.
	ReasonUpdating = "Updating"
	// ReasonDeleting: the webhook is being deleted from Tableau.
	ReasonDeleting = "Deleting"
	// ReasonSiteNotFound: the referenced TableauSite does not exist.
	ReasonSiteNotFound = "SiteNotFound"
	// ReasonSiteNotReady: the referenced TableauSite is not Ready.
	ReasonSiteNotReady = "SiteNotReady"
	// ReasonDestinationSecretNotFound: the Secret (or key) named by destination.urlFrom is missing.
	ReasonDestinationSecretNotFound = "DestinationSecretNotFound"
	// ReasonSiteNotAllowed: the TableauSite does not admit webhooks from this namespace.
	ReasonSiteNotAllowed = "SiteNotAllowed"
	// ReasonAlreadyExists: a webhook of the same name exists in Tableau, this resource did not
	// create it, and adoptionPolicy is Refuse.
	ReasonAlreadyExists = "AlreadyExists"
	// ReasonNameConflict: another TableauWebhook claims the same Tableau name on the same site.
	ReasonNameConflict = "NameConflict"
	// ReasonRejected: Tableau refused this spec (HTTP 400 or 403).
	ReasonRejected = "Rejected"
	// ReasonTableauError: a transient Tableau failure (5xx, 429, timeout, network); retried with backoff.
	ReasonTableauError = "TableauError"
	// ReasonSuspended: spec.suspend is true; no Tableau calls are made except for deletion.
	ReasonSuspended = "Suspended"
)

// Synced reasons of a TableauWebhook.
const (
	// ReasonReconcileSuccess: the last reconcile succeeded.
	ReasonReconcileSuccess = "ReconcileSuccess"
	// ReasonReconcileError: the last reconcile failed; the message says what failed.
	ReasonReconcileError = "ReconcileError"
)

// Annotations.
const (
	// AnnotationTest asks the operator to run Tableau's Test Webhook once for each new value.
	AnnotationTest = "tableau.webhook-operator.dev/test"
)
