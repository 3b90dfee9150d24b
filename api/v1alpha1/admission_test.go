package v1alpha1_test

import (
	"context"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// validSite and validWebhook are the smallest valid manifests; the cases below change them with
// JSON merge patches (null removes a field), as `kubectl patch --type=merge` would.
const (
	validSite = `
apiVersion: tableau.webhook-operator.dev/v1alpha1
kind: TableauSite
metadata:
  name: marketing
spec:
  serverURL: https://tableau.example.com
  site: marketing
  credentials:
    personalAccessToken:
      secretRef:
        name: tableau-pat
`
	validWebhook = `
apiVersion: tableau.webhook-operator.dev/v1alpha1
kind: TableauWebhook
metadata:
  name: extract-refresh-failed
spec:
  siteRef:
    name: marketing
  event: DatasourceRefreshFailed
  destination:
    url: https://hooks.example.com/tableau
`
)

// object decodes a YAML manifest, applies a JSON merge patch to it, and puts it in namespace.
func object(t *testing.T, manifest, patch, namespace string) *unstructured.Unstructured {
	t.Helper()
	doc, err := yaml.YAMLToJSON([]byte(manifest))
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if patch != "" {
		if doc, err = jsonpatch.MergePatch(doc, []byte(patch)); err != nil {
			t.Fatalf("patch %s: %v", patch, err)
		}
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(doc); err != nil {
		t.Fatalf("decode: %v", err)
	}
	u.SetNamespace(namespace)
	return u
}

// create creates obj as kubectl does, rejecting unknown fields instead of dropping them.
func create(ctx context.Context, c client.Client, obj client.Object) error {
	return c.Create(ctx, obj, client.FieldValidation("Strict"))
}

// update applies a JSON merge patch to obj, as `kubectl patch --type=merge` does.
func update(ctx context.Context, c client.Client, obj client.Object, patch string) error {
	return c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch)), client.FieldValidation("Strict"))
}

// TestAdmissionRejects checks that the API server refuses invalid manifests with a message that
// says what to fix, without any webhook server: OpenAPI and CEL rules of the CRDs only.
func TestAdmissionRejects(t *testing.T) {
	for _, tc := range []struct {
		name     string
		manifest string
		patch    string // applied before creating
		update   string // when set: created valid, then this update must be rejected
		want     string // in the API server's message
	}{
		// TableauWebhook
		{
			name: "unknown event", manifest: validWebhook,
			patch: `{"spec":{"event":"DatasourceExploded"}}`,
			want:  `spec.event: Unsupported value: "DatasourceExploded": supported values: "AdminPromoted", "AdminDemoted"`,
		},
		{
			name: "event missing", manifest: validWebhook,
			patch: `{"spec":{"event":null}}`,
			want:  `spec.event: Required value`,
		},
		{
			name: "http destination", manifest: validWebhook,
			patch: `{"spec":{"destination":{"url":"http://hooks.example.com/tableau"}}}`,
			want:  `destination.url must be an absolute https URL such as https://hooks.example.com/tableau (Tableau delivers only to https)`,
		},
		{
			name: "malformed destination", manifest: validWebhook,
			patch: `{"spec":{"destination":{"url":"hooks.example.com/tableau"}}}`,
			want:  `destination.url must be an absolute https URL`,
		},
		{
			name: "destination without host", manifest: validWebhook,
			patch: `{"spec":{"destination":{"url":"https:///tableau"}}}`,
			want:  `destination.url must be an absolute https URL`,
		},
		{
			name: "both url and urlFrom", manifest: validWebhook,
			patch: `{"spec":{"destination":{"urlFrom":{"secretKeyRef":{"name":"slack-hook","key":"url"}}}}}`,
			want:  `set exactly one of destination.url and destination.urlFrom`,
		},
		{
			name: "neither url nor urlFrom", manifest: validWebhook,
			patch: `{"spec":{"destination":{"url":null}}}`,
			want:  `set exactly one of destination.url and destination.urlFrom`,
		},
		{
			name: "urlFrom without key", manifest: validWebhook,
			patch: `{"spec":{"destination":{"url":null,"urlFrom":{"secretKeyRef":{"name":"slack-hook"}}}}}`,
			want:  `spec.destination.urlFrom.secretKeyRef.key: Required value`,
		},
		{
			name: "urlFrom with a bad key", manifest: validWebhook,
			patch: `{"spec":{"destination":{"url":null,"urlFrom":{"secretKeyRef":{"name":"slack-hook","key":"a/b"}}}}}`,
			want:  `spec.destination.urlFrom.secretKeyRef.key in body should match`,
		},
		{
			name: "empty siteRef.name", manifest: validWebhook,
			patch: `{"spec":{"siteRef":{"name":""}}}`,
			want:  `spec.siteRef.name in body should be at least 1 chars long`,
		},
		{
			name: "siteRef missing", manifest: validWebhook,
			patch: `{"spec":{"siteRef":null}}`,
			want:  `spec.siteRef: Required value`,
		},
		{
			name: "siteRef name changed", manifest: validWebhook,
			update: `{"spec":{"siteRef":{"name":"sales"}}}`,
			want:   `siteRef is immutable: to move a webhook to another site, create a new TableauWebhook and delete this one`,
		},
		{
			name: "siteRef namespace added", manifest: validWebhook,
			update: `{"spec":{"siteRef":{"namespace":"bi-platform"}}}`,
			want:   `siteRef is immutable`,
		},
		{
			name: "resyncPeriod below 30s", manifest: validWebhook,
			patch: `{"spec":{"resyncPeriod":"10s"}}`,
			want:  `resyncPeriod must be at least 30s`,
		},
		{
			name: "malformed resyncPeriod", manifest: validWebhook,
			patch: `{"spec":{"resyncPeriod":"ten minutes"}}`,
			want:  `spec.resyncPeriod in body should match`,
		},
		{
			name: "resyncPeriod without unit", manifest: validWebhook,
			patch: `{"spec":{"resyncPeriod":"600"}}`,
			want:  `spec.resyncPeriod in body should match`,
		},
		{
			name: "bad deletionPolicy", manifest: validWebhook,
			patch: `{"spec":{"deletionPolicy":"Keep"}}`,
			want:  `spec.deletionPolicy: Unsupported value: "Keep": supported values: "Delete", "Orphan"`,
		},
		{
			name: "bad adoptionPolicy", manifest: validWebhook,
			patch: `{"spec":{"adoptionPolicy":"Steal"}}`,
			want:  `spec.adoptionPolicy: Unsupported value: "Steal": supported values: "Refuse", "Adopt"`,
		},
		{
			name: "webhookName too long", manifest: validWebhook,
			patch: `{"spec":{"webhookName":"` + strings.Repeat("n", 256) + `"}}`,
			want:  `spec.webhookName: Too long: may not be more than 255`,
		},
		{
			name: "enabled not a boolean", manifest: validWebhook,
			patch: `{"spec":{"enabled":"yes"}}`,
			want:  `spec.enabled: Invalid value: "string": spec.enabled in body must be of type boolean`,
		},
		{
			name: "unknown field", manifest: validWebhook,
			patch: `{"spec":{"destination":null,"destinationURL":"https://hooks.example.com/tableau"}}`,
			want:  `unknown field "spec.destinationURL"`,
		},
		{
			name: "bad event on update", manifest: validWebhook,
			update: `{"spec":{"event":"WorkbookExploded"}}`,
			want:   `spec.event: Unsupported value: "WorkbookExploded"`,
		},

		// TableauSite
		{
			name: "serverURL ftp", manifest: validSite,
			patch: `{"spec":{"serverURL":"ftp://tableau.example.com"}}`,
			want:  `serverURL must be an absolute http or https URL such as https://tableau.example.com`,
		},
		{
			name: "serverURL malformed", manifest: validSite,
			patch: `{"spec":{"serverURL":"tableau.example.com"}}`,
			want:  `serverURL must be an absolute http or https URL`,
		},
		{
			name: "serverURL empty", manifest: validSite,
			patch: `{"spec":{"serverURL":""}}`,
			want:  `spec.serverURL in body should be at least 1 chars long`,
		},
		{
			name: "serverURL with a query", manifest: validSite,
			patch: `{"spec":{"serverURL":"https://tableau.example.com/?site=marketing"}}`,
			want:  `serverURL must not carry a query or fragment`,
		},
		{
			name: "serverURL with a fragment", manifest: validSite,
			patch: `{"spec":{"serverURL":"https://tableau.example.com/#/site/marketing"}}`,
			want:  `serverURL must not carry a query or fragment`,
		},
		{
			name: "both credential kinds", manifest: validSite,
			patch: `{"spec":{"credentials":{"password":{"secretRef":{"name":"tableau-login"}}}}}`,
			want:  `set exactly one of credentials.personalAccessToken and credentials.password`,
		},
		{
			name: "no credential kind", manifest: validSite,
			patch: `{"spec":{"credentials":{"personalAccessToken":null}}}`,
			want:  `set exactly one of credentials.personalAccessToken and credentials.password`,
		},
		{
			name: "credentials Secret without name", manifest: validSite,
			patch: `{"spec":{"credentials":{"personalAccessToken":{"secretRef":{"name":""}}}}}`,
			want:  `spec.credentials.personalAccessToken.secretRef.name in body should be at least 1 chars long`,
		},
		{
			name: "apiVersion pin not a version", manifest: validSite,
			patch: `{"spec":{"apiVersion":"v3.24"}}`,
			want:  `spec.apiVersion in body should match`,
		},
		{
			name: "apiVersion pin without minor", manifest: validSite,
			patch: `{"spec":{"apiVersion":"3"}}`,
			want:  `spec.apiVersion in body should match`,
		},
		{
			name: "tls CA bundle and insecureSkipVerify", manifest: validSite,
			patch: `{"spec":{"tls":{"caBundleSecretRef":{"name":"tableau-ca","key":"ca.crt"},"insecureSkipVerify":true}}}`,
			want:  `tls.caBundleSecretRef and tls.insecureSkipVerify=true contradict each other: set one`,
		},
		{
			name: "selector with from: All", manifest: validSite,
			patch: `{"spec":{"webhookNamespaces":{"from":"All","selector":{"matchLabels":{"team":"data"}}}}}`,
			want:  `webhookNamespaces.selector is required with from: Selector and allowed only with it`,
		},
		{
			name: "selector without from", manifest: validSite,
			patch: `{"spec":{"webhookNamespaces":{"selector":{"matchLabels":{"team":"data"}}}}}`,
			want:  `webhookNamespaces.selector is required with from: Selector and allowed only with it`,
		},
		{
			name: "from: Selector without selector", manifest: validSite,
			patch: `{"spec":{"webhookNamespaces":{"from":"Selector"}}}`,
			want:  `webhookNamespaces.selector is required with from: Selector and allowed only with it`,
		},
		{
			name: "bad webhookNamespaces.from", manifest: validSite,
			patch: `{"spec":{"webhookNamespaces":{"from":"Some"}}}`,
			want:  `spec.webhookNamespaces.from: Unsupported value: "Some": supported values: "Same", "All", "Selector"`,
		},
		{
			name: "adoption selector with from: All", manifest: validSite,
			patch: `{"spec":{"adoption":{"from":"All","selector":{"matchLabels":{"team":"data"}}}}}`,
			want:  `adoption.selector is required with from: Selector and allowed only with it`,
		},
		{
			name: "adoption from: Selector without selector", manifest: validSite,
			patch: `{"spec":{"adoption":{"from":"Selector"}}}`,
			want:  `adoption.selector is required with from: Selector and allowed only with it`,
		},
		{
			name: "bad adoption.from", manifest: validSite,
			patch: `{"spec":{"adoption":{"from":"Everyone"}}}`,
			want:  `spec.adoption.from: Unsupported value: "Everyone": supported values: "Same", "All", "Selector", "None"`,
		},
		{
			name: "serverURL changed", manifest: validSite,
			update: `{"spec":{"serverURL":"https://other.example.com"}}`,
			want:   `serverURL and site are immutable`,
		},
		{
			name: "site changed", manifest: validSite,
			update: `{"spec":{"site":"sales"}}`,
			want:   `serverURL and site are immutable`,
		},
		{
			name: "site removed (the Default site)", manifest: validSite,
			update: `{"spec":{"site":null}}`,
			want:   `serverURL and site are immutable`,
		},
		{
			name: "serverURL ftp on update", manifest: validSite,
			update: `{"spec":{"serverURL":"ftp://tableau.example.com"}}`,
			want:   `serverURL must be an absolute http or https URL`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := apiServer(t)
			ctx := context.Background()
			obj := object(t, tc.manifest, tc.patch, newNamespace(t))
			err := create(ctx, c, obj)
			if tc.update != "" {
				if err != nil {
					t.Fatalf("create before the update: %v", err)
				}
				err = update(ctx, c, obj, tc.update)
			}
			if err == nil {
				t.Fatalf("accepted; want rejected with %q", tc.want)
			}
			t.Logf("rejected: %v", err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("rejected with\n  %v\nwant a message containing\n  %s", err, tc.want)
			}
			// A CEL rule that fails to evaluate adds noise that tells the user nothing.
			if strings.Contains(err.Error(), "conversion error") {
				t.Errorf("rejected with a CEL evaluation error beside the real message:\n  %v", err)
			}
		})
	}
}

// TestAdmissionAccepts checks that the rules reject nothing valid, including the edges of each
// rule.
func TestAdmissionAccepts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		manifest string
		patch    string
	}{
		{"webhook minimal", validWebhook, ``},
		{"webhook all fields", validWebhook, `{"spec":{"siteRef":{"namespace":"bi-platform"},"webhookName":"Refresh failures","enabled":false,"deletionPolicy":"Orphan","adoptionPolicy":"Adopt","suspend":true,"resyncPeriod":"1h30m"}}`},
		{"destination with port, path and query", validWebhook, `{"spec":{"destination":{"url":"https://hooks.example.com:8443/a/b?token=x"}}}`},
		{"destination from a Secret", validWebhook, `{"spec":{"destination":{"url":null,"urlFrom":{"secretKeyRef":{"name":"slack-hook","key":"url"}}}}}`},
		{"resyncPeriod exactly 30s", validWebhook, `{"spec":{"resyncPeriod":"30s"}}`},
		{"resyncPeriod in milliseconds", validWebhook, `{"spec":{"resyncPeriod":"45000ms"}}`},
		{"resyncPeriod fractional", validWebhook, `{"spec":{"resyncPeriod":"1.5h"}}`},
		{"deletionPolicy Delete", validWebhook, `{"spec":{"deletionPolicy":"Delete","adoptionPolicy":"Refuse"}}`},
		{"site minimal", validSite, ``},
		{"site over http", validSite, `{"spec":{"serverURL":"http://tableau.lab:8000"}}`},
		{"site with a path", validSite, `{"spec":{"serverURL":"https://example.com/tableau/"}}`},
		{"default site", validSite, `{"spec":{"site":""}}`},
		{"password credentials", validSite, `{"spec":{"credentials":{"personalAccessToken":null,"password":{"secretRef":{"name":"tableau-login"}}}}}`},
		{"apiVersion pinned", validSite, `{"spec":{"apiVersion":"3.24"}}`},
		{"apiVersion empty", validSite, `{"spec":{"apiVersion":""}}`},
		{"tls CA bundle", validSite, `{"spec":{"tls":{"caBundleSecretRef":{"name":"tableau-ca","key":"ca.crt"},"insecureSkipVerify":false}}}`},
		{"tls insecureSkipVerify", validSite, `{"spec":{"tls":{"insecureSkipVerify":true}}}`},
		{"from Same", validSite, `{"spec":{"webhookNamespaces":{"from":"Same"}}}`},
		{"from All", validSite, `{"spec":{"webhookNamespaces":{"from":"All"}}}`},
		{"from Selector", validSite, `{"spec":{"webhookNamespaces":{"from":"Selector","selector":{"matchExpressions":[{"key":"team","operator":"In","values":["data","bi"]}]}}}}`},
		{"webhookNamespaces empty", validSite, `{"spec":{"webhookNamespaces":{}}}`},
		{"adoption from None", validSite, `{"spec":{"adoption":{"from":"None"}}}`},
		{"adoption from All", validSite, `{"spec":{"adoption":{"from":"All"}}}`},
		{"adoption from Selector", validSite, `{"spec":{"adoption":{"from":"Selector","selector":{"matchLabels":{"team":"data"}}}}}`},
		{"adoption empty", validSite, `{"spec":{"adoption":{}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := apiServer(t)
			if err := create(context.Background(), c, object(t, tc.manifest, tc.patch, newNamespace(t))); err != nil {
				t.Fatalf("rejected: %v", err)
			}
		})
	}
}

// TestUpdatesKeepingSiteRef checks that the immutability of siteRef blocks nothing else: every
// other field can change, and re-applying the same siteRef (as kubectl apply does) is no change.
func TestUpdatesKeepingSiteRef(t *testing.T) {
	c := apiServer(t)
	ctx := context.Background()
	obj := object(t, validWebhook, `{"spec":{"siteRef":{"namespace":"bi-platform"}}}`, newNamespace(t))
	if err := create(ctx, c, obj); err != nil {
		t.Fatalf("create: %v", err)
	}
	for _, patch := range []string{
		`{"spec":{"event":"WorkbookCreated"}}`,
		`{"spec":{"destination":{"url":"https://hooks.example.com/other"}}}`,
		`{"spec":{"destination":{"url":null,"urlFrom":{"secretKeyRef":{"name":"slack-hook","key":"url"}}}}}`,
		`{"spec":{"enabled":false,"suspend":true}}`,
		`{"spec":{"deletionPolicy":"Orphan","adoptionPolicy":"Adopt"}}`,
		`{"spec":{"webhookName":"renamed","resyncPeriod":"5m"}}`,
		`{"spec":{"siteRef":{"name":"marketing","namespace":"bi-platform"}}}`,
		`{"metadata":{"labels":{"team":"data"},"annotations":{"tableau.webhook-operator.dev/test":"1"}}}`,
		`{"spec":{"resyncPeriod":null,"webhookName":null,"enabled":null}}`,
	} {
		if err := update(ctx, c, obj, patch); err != nil {
			t.Errorf("update %s rejected: %v", patch, err)
		}
	}
	// A status write, as the controller makes, with the siteRef unchanged.
	if err := c.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType,
		[]byte(`{"status":{"webhookID":"9f9bcaf8-8c4c-403c-b7e1-10dd85620f00","observedGeneration":1}}`))); err != nil {
		t.Errorf("status update rejected: %v", err)
	}
}

// TestSiteUpdatesKeepingServer checks that the immutability of serverURL and site blocks
// nothing else: credentials, TLS, pins and namespace rules can change, and re-applying the same
// values (as kubectl apply does) is no change.
func TestSiteUpdatesKeepingServer(t *testing.T) {
	c := apiServer(t)
	ctx := context.Background()
	obj := object(t, validSite, ``, newNamespace(t))
	if err := create(ctx, c, obj); err != nil {
		t.Fatalf("create: %v", err)
	}
	for _, patch := range []string{
		`{"spec":{"apiVersion":"3.24"}}`,
		`{"spec":{"credentials":{"personalAccessToken":null,"password":{"secretRef":{"name":"tableau-login"}}}}}`,
		`{"spec":{"tls":{"caBundleSecretRef":{"name":"tableau-ca","key":"ca.crt"}}}}`,
		`{"spec":{"webhookNamespaces":{"from":"All"},"adoption":{"from":"None"}}}`,
		`{"spec":{"serverURL":"https://tableau.example.com","site":"marketing"}}`,
	} {
		if err := update(ctx, c, obj, patch); err != nil {
			t.Errorf("update %s rejected: %v", patch, err)
		}
	}
	// The Default site stays the Default site, whether "" is written or left out.
	def := object(t, validSite, `{"metadata":{"name":"default-site"},"spec":{"site":""}}`, newNamespace(t))
	if err := create(ctx, c, def); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := update(ctx, c, def, `{"spec":{"site":null,"apiVersion":"3.24"}}`); err != nil {
		t.Errorf("leaving out site \"\" rejected: %v", err)
	}
}
