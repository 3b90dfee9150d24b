package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// TestTenantIsolation is the attack table of README's "Tenancy: what a namespace can and
// cannot do to a site" (issue 9). It runs the real manager binary against one Tableau
// simulator. The victim team, bi-platform, owns the TableauSite "marketing" (it admits the
// namespaces labelled team=data), a few TableauWebhooks and one webhook made by hand in
// Tableau. The attacker, user tenant-mallory, holds only the shipped editor ClusterRoles,
// bound in its own namespace (one namespace per case), and makes every request by
// impersonation. The admin (system:masters) stands in for the operator's installer and the
// site's owners: it labels namespaces and writes Secrets.
//
// Whatever the attacker writes, each case proves that the victims' webhooks in Tableau keep
// their IDs, names, events, URLs and enabled state, that the refused resource reads the reason
// README promises, and that a resource its site does not admit causes no Tableau request at
// all: simulator request counts are compared between two points where the manager is
// quiescent (both workqueues empty and no reconcile running, from its metrics).
// AdoptionWithoutConsent also shows that the site's spec.adoption is the switch that does
// allow a take-over.
//
// The cases run in order on one control plane, simulator and manager. AdoptionWithoutConsent
// ends with the hand-made webhook adopted by the attacker, so the cases that aim at that
// webhook (ForgedFinalizerAndCreatePendingThenDelete) come before it.
func TestTenantIsolation(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	w := startTenancyWorld(t)

	t.Run("TenantHoldsOnlyTheEditorRoles", w.checkTenantRBAC)
	for _, c := range tenancyAttacks() {
		t.Run(c.name, func(t *testing.T) {
			m := w.newTenant(t, c.namespace, c.admitted)
			// Also after a case stops early: its damage is reported where it was done.
			t.Cleanup(func() {
				w.victimsUnchanged(t)
				if c.quietEvents {
					w.noTableauEvents(t, m.ns)
				}
			})
			c.run(t, w, m)
		})
	}
}

const (
	victimNS   = "bi-platform"
	siteName   = "marketing"
	tenantUser = "tenant-mallory"
	teamLabel  = "team"
	teamValue  = "data"

	// operatorFinalizer is the TableauWebhook finalizer of README; any editor can write it.
	operatorFinalizer = "tableau.webhook-operator.dev/webhook"
)

// tenancyAttack is one row of the table.
type tenancyAttack struct {
	name string
	// namespace is the attacker's, created for the case with the tenant's RoleBindings.
	namespace string
	// admitted labels the namespace team=data, so that the victim site admits it.
	admitted bool
	// run makes the attack as the tenant and checks its outcome; victimsUnchanged (and, with
	// quietEvents, noTableauEvents) follow, even if run stops early.
	run func(t *testing.T, w *tenancyWorld, m *tenant)
	// quietEvents: afterwards the attacker's namespace holds no Event saying that the
	// operator created, deleted or adopted a webhook in Tableau.
	quietEvents bool
}

func tenancyAttacks() []tenancyAttack {
	return []tenancyAttack{
		{
			name:        "ForgedFinalizerAndCreatePendingThenDelete",
			namespace:   "mallory-forge",
			quietEvents: true,
			run: func(t *testing.T, w *tenancyWorld, m *tenant) {
				forged := m.webhook("forged", w.handMade.Event, "https://attacker.example.com/forged")
				forged.Spec.WebhookName = w.handMade.Name
				forged.Finalizers = []string{operatorFinalizer}
				// The annotation an earlier version of the operator trusted: now it means nothing.
				forged.Annotations = map[string]string{"tableau.webhook-operator.dev/create-pending": time.Now().UTC().Format(time.RFC3339)}
				w.during(t, noRequests, func() {
					if err := m.c.Create(w.ctx, forged); err != nil {
						t.Fatalf("create it with the finalizer, the annotation and webhookName %q: %v", w.handMade.Name, err)
					}
					w.waitReason(t, forged, metav1.ConditionFalse, tableauv1.ReasonSiteNotAllowed)
					// What the operator does trust, status, is not the tenant's to write.
					base := forged.DeepCopy()
					marked := forged.DeepCopy()
					marked.Status.WebhookID = w.handMade.ID
					marked.Status.PendingCreate = &tableauv1.PendingCreate{Name: w.handMade.Name, SiteID: w.siteID(t), Since: metav1.Now()}
					if err := m.c.Status().Patch(w.ctx, marked, client.MergeFrom(base)); !apierrors.IsForbidden(err) {
						t.Errorf("the tenant's write of status.webhookID and status.pendingCreate: got %v, want Forbidden", err)
					}
					if err := m.c.Delete(w.ctx, forged); err != nil {
						t.Fatal(err)
					}
					w.waitGone(t, forged)
				})
			},
		},
		{
			name:        "SquattingADefaultName",
			namespace:   "mallory-squat",
			quietEvents: true,
			run: func(t *testing.T, w *tenancyWorld, m *tenant) {
				late := w.fixture.Webhook("late-hook", "WorkbookCreated", "https://hooks.example.com/bi/late-hook")
				squat := m.webhook("squat", "WorkbookCreated", "https://attacker.example.com/squat")
				squat.Spec.WebhookName = late.TableauName()
				counted := w.siteWebhookCount(t)
				w.during(t, noRequests, func() {
					if err := m.c.Create(w.ctx, squat); err != nil {
						t.Fatal(err)
					}
					w.waitReason(t, squat, metav1.ConditionFalse, tableauv1.ReasonSiteNotAllowed)
				})
				if n := w.siteWebhookCount(t); n != counted {
					t.Errorf("TableauSite %s/%s counts %d webhooks once the refused squatter exists, want %d: refused resources must not be counted",
						victimNS, siteName, n, counted)
				}

				// The victim team creates the webhook whose default name was squatted.
				d := w.during(t, anyRequests, func() {
					if err := w.env.Apply(w.ctx, []client.Object{late}); err != nil {
						t.Fatal(err)
					}
					w.waitAvailable(t, late)
				})
				if d[tableautest.OpCreateWebhook] != 1 || d[tableautest.OpUpdateWebhook] != 0 || d[tableautest.OpDeleteWebhook] != 0 {
					t.Errorf("the victim's create made these Tableau requests: %s; want one CreateWebhook and no Update or Delete", d)
				}
				w.addVictim(t, late)
				w.waitSiteWebhookCount(t, counted+1)
				w.expectReason(t, squat, metav1.ConditionFalse, tableauv1.ReasonSiteNotAllowed)
			},
		},
		{
			name:      "AdoptionWithoutConsent",
			namespace: "mallory-adopt",
			admitted:  true,
			run: func(t *testing.T, w *tenancyWorld, m *tenant) {
				if !w.stillInTableau(t, w.handMade.ID) {
					t.Fatalf("the hand-made webhook %s is gone from Tableau (an earlier case lost it): nothing to adopt", w.handMade.ID)
				}
				take := m.webhook("take-over", w.handMade.Event, "https://attacker.example.com/take-over")
				take.Spec.WebhookName = w.handMade.Name
				take.Spec.AdoptionPolicy = tableauv1.AdoptionPolicyAdopt
				w.during(t, noWrites, func() {
					if err := m.c.Create(w.ctx, take); err != nil {
						t.Fatal(err)
					}
					r := w.waitReason(t, take, metav1.ConditionFalse, tableauv1.ReasonAlreadyExists)
					if !strings.Contains(r.Message, "spec.adoption") {
						t.Errorf("the AlreadyExists message should name the site's spec.adoption: %q", r.Message)
					}
				})
				w.victimsUnchanged(t)

				// The site's owners consent: now, and only now, the hand-made webhook may change.
				w.setAdoption(t, &tableauv1.WebhookAdoption{From: tableauv1.AdoptionFromAll})
				t.Cleanup(func() { w.setAdoption(t, nil) })
				w.waitAvailable(t, take)
				var got tableauv1.TableauWebhook
				if err := w.env.Client.Get(w.ctx, client.ObjectKeyFromObject(take), &got); err != nil {
					t.Fatal(err)
				}
				if got.Status.WebhookID != w.handMade.ID {
					t.Errorf("with the site's consent the attacker should have adopted webhook %s, its status records %q", w.handMade.ID, got.Status.WebhookID)
				}
				w.waitSimWebhook(t, w.handMade.ID, func(h localenv.SimWebhook) bool {
					return h.Name == w.handMade.Name && h.URL == take.Spec.Destination.URL
				}, "adopted: same name, the attacker's URL")
				w.forget(w.handMade.ID)
			},
		},
		{
			name:        "SiteRefToASiteThatDoesNotAdmitIt",
			namespace:   "mallory-ref",
			quietEvents: true,
			run: func(t *testing.T, w *tenancyWorld, m *tenant) {
				plain := m.webhook("plain", "DatasourceRefreshFailed", "https://attacker.example.com/plain")
				w.during(t, noRequests, func() {
					if err := m.c.Create(w.ctx, plain); err != nil {
						t.Fatal(err)
					}
					r := w.waitReason(t, plain, metav1.ConditionFalse, tableauv1.ReasonSiteNotAllowed)
					if !strings.Contains(r.Message, m.ns) {
						t.Errorf("the SiteNotAllowed message should name the refused namespace %q: %q", m.ns, r.Message)
					}
					if err := m.c.Delete(w.ctx, plain); err != nil {
						t.Fatal(err)
					}
					w.waitGone(t, plain)
				})
			},
		},
		{
			name:        "OrphanPolicyFlip",
			namespace:   "mallory-flip",
			quietEvents: true,
			run: func(t *testing.T, w *tenancyWorld, m *tenant) {
				flip := m.webhook("flip", "DatasourceRefreshFailed", "https://attacker.example.com/flip")
				flip.Spec.WebhookName = w.victim("extract-failed").TableauName()
				flip.Spec.DeletionPolicy = tableauv1.DeletionPolicyOrphan
				flip.Finalizers = []string{operatorFinalizer}
				w.during(t, noRequests, func() {
					if err := m.c.Create(w.ctx, flip); err != nil {
						t.Fatal(err)
					}
					w.waitReason(t, flip, metav1.ConditionFalse, tableauv1.ReasonSiteNotAllowed)
					for _, policy := range []tableauv1.DeletionPolicy{tableauv1.DeletionPolicyDelete, tableauv1.DeletionPolicyOrphan, tableauv1.DeletionPolicyDelete} {
						base := flip.DeepCopy()
						flip.Spec.DeletionPolicy = policy
						if err := m.c.Patch(w.ctx, flip, client.MergeFrom(base)); err != nil {
							t.Fatalf("set deletionPolicy %s: %v", policy, err)
						}
						w.waitReason(t, flip, metav1.ConditionFalse, tableauv1.ReasonSiteNotAllowed)
					}
					if err := m.c.Delete(w.ctx, flip); err != nil {
						t.Fatal(err)
					}
					w.waitGone(t, flip)
				})
			},
		},
		{
			name:      "RenamingToAVictimsNameAfterBeingAdmitted",
			namespace: "mallory-rename",
			admitted:  true,
			run: func(t *testing.T, w *tenancyWorld, m *tenant) {
				mine := m.webhook("mine", "WorkbookCreated", "https://attacker.example.com/mine")
				if err := m.c.Create(w.ctx, mine); err != nil {
					t.Fatal(err)
				}
				w.waitAvailable(t, mine)
				// The victim's webhook comes after the attacker's: being older does not let the
				// attacker take a name the victim holds.
				younger := w.fixture.Webhook("younger-than-mallory", "WorkbookCreated", "https://hooks.example.com/bi/younger")
				if err := w.env.Apply(w.ctx, []client.Object{younger}); err != nil {
					t.Fatal(err)
				}
				w.waitAvailable(t, younger)
				w.addVictim(t, younger)
				target := younger.TableauName()
				d := w.during(t, anyRequests, func() {
					base := mine.DeepCopy()
					mine.Spec.WebhookName = target
					if err := m.c.Patch(w.ctx, mine, client.MergeFrom(base)); err != nil {
						t.Fatal(err)
					}
					r := w.waitReason(t, mine, metav1.ConditionFalse, tableauv1.ReasonNameConflict)
					if !strings.Contains(r.Message, target) {
						t.Errorf("the NameConflict message should name %q: %q", target, r.Message)
					}
				})
				// Its own webhook may stay as it was (or go); nothing may be created or renamed.
				if d[tableautest.OpCreateWebhook] != 0 || d[tableautest.OpUpdateWebhook] != 0 {
					t.Errorf("renaming to a claimed name made Tableau writes: %s", d)
				}
			},
		},
		{
			name:      "SamePATNameAnotherSecret",
			namespace: "mallory-pat",
			run: func(t *testing.T, w *tenancyWorld, m *tenant) {
				// The editor roles grant no Secrets: the admin writes them, as a tenant's
				// Secret workflow would.
				secrets := []client.Object{
					&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: m.ns, Name: "tableau-pat"},
						StringData: map[string]string{"tokenName": w.sim.PATName, "tokenSecret": "not-" + w.sim.PATSecret}},
					&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: m.ns, Name: "tableau-ca"},
						StringData: map[string]string{"ca.crt": string(w.sim.CAPEM)}},
				}
				for _, s := range secrets {
					if err := w.env.Client.Create(w.ctx, s); err != nil {
						t.Fatal(err)
					}
				}
				site := &tableauv1.TableauSite{
					ObjectMeta: metav1.ObjectMeta{Namespace: m.ns, Name: siteName},
					Spec: tableauv1.TableauSiteSpec{
						ServerURL: w.sim.URL,
						Site:      "marketing",
						Credentials: tableauv1.TableauCredentials{PersonalAccessToken: &tableauv1.SecretCredentials{
							SecretRef: tableauv1.LocalSecretReference{Name: "tableau-pat"},
						}},
						TLS: &tableauv1.TableauTLS{CABundleSecretRef: &tableauv1.SecretKeySelector{Name: "tableau-ca", Key: "ca.crt"}},
					},
				}
				if err := m.c.Create(w.ctx, site); err != nil {
					t.Fatal(err)
				}
				w.waitReason(t, site, metav1.ConditionFalse, tableauv1.ReasonAuthenticationFailed)
				w.quiesce(t)
				w.expectReason(t, w.fixture.Site(), metav1.ConditionTrue, tableauv1.ReasonConnected)

				// The victim's session still works: a change of its spec reaches Tableau.
				hook := w.victim("workbook-created")
				id := w.webhookID(t, hook)
				hook.Spec.Destination.URL = "https://hooks.example.com/bi/workbook-created-moved"
				if err := w.env.Apply(w.ctx, []client.Object{hook}); err != nil {
					t.Fatal(err)
				}
				w.waitAvailable(t, hook)
				w.waitSimWebhook(t, id, func(h localenv.SimWebhook) bool { return h.URL == hook.Spec.Destination.URL },
					"updated in place to "+hook.Spec.Destination.URL)
				w.remember(t, id)
				w.expectReason(t, w.fixture.Site(), metav1.ConditionTrue, tableauv1.ReasonConnected)
				w.expectReason(t, site, metav1.ConditionFalse, tableauv1.ReasonAuthenticationFailed)
			},
		},
	}
}

// tenancyWorld is what the cases share: the control plane, the simulator, the manager, and
// the victim team with what Tableau held for it.
type tenancyWorld struct {
	env *localenv.Env
	sim *localenv.Simulator
	mgr *localenv.Manager
	ctx context.Context

	// editorRoles are the names of the shipped editor ClusterRoles.
	editorRoles []string
	// fixture is the victim team's TableauSite and its Secrets.
	fixture localenv.SiteFixture
	// victims are the victim team's TableauWebhooks, as applied.
	victims []*tableauv1.TableauWebhook
	// handMade is the webhook made in Tableau without the operator, as it was made.
	handMade localenv.SimWebhook
	// inTableau is what Tableau must keep holding for the victims, by webhook ID.
	inTableau map[string]localenv.SimWebhook
}

func startTenancyWorld(t *testing.T) *tenancyWorld {
	t.Helper()
	bins := binaries(t)
	env := startEnv(t, localenv.Options{})
	ctx := within(t, 5*time.Minute)
	sim, err := env.StartSimulator(ctx, localenv.SimulatorOptions{Binary: bins.Simulator, Sites: []string{"marketing"}, TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := env.StartManager(ctx, localenv.ManagerOptions{Binary: bins.Manager, Args: []string{"--resync-period=10m"}})
	if err != nil {
		t.Fatal(err)
	}
	showLogOnFailure(t, mgr)
	w := &tenancyWorld{env: env, sim: sim, mgr: mgr, ctx: ctx, inTableau: map[string]localenv.SimWebhook{}}

	var roles []client.Object
	for _, obj := range installerObjects(t, env) {
		if cr, ok := obj.(*rbacv1.ClusterRole); ok &&
			(strings.HasSuffix(cr.Name, "-tableauwebhook-editor-role") || strings.HasSuffix(cr.Name, "-tableausite-editor-role")) {
			roles = append(roles, cr)
			w.editorRoles = append(w.editorRoles, cr.Name)
		}
	}
	if len(roles) != 2 {
		t.Fatalf("want the two editor ClusterRoles in the installer, found %v", w.editorRoles)
	}
	if err := env.Apply(ctx, roles); err != nil {
		t.Fatal(err)
	}

	fixture, objs := sim.SiteObjects(victimNS, siteName, "marketing")
	for _, obj := range objs {
		switch o := obj.(type) {
		case *corev1.Namespace:
			// With a Selector, the site's own namespace too must match.
			o.Labels = map[string]string{teamLabel: teamValue}
		case *tableauv1.TableauSite:
			o.Spec.WebhookNamespaces = &tableauv1.WebhookNamespaces{
				From:     tableauv1.NamespacesFromSelector,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{teamLabel: teamValue}},
			}
		}
	}
	w.fixture = fixture
	quiet := fixture.Webhook("quiet", "WorkbookUpdated", "https://hooks.example.com/bi/quiet")
	quiet.Spec.Enabled = ptr.To(false)
	w.victims = []*tableauv1.TableauWebhook{
		fixture.Webhook("extract-failed", "DatasourceRefreshFailed", "https://hooks.example.com/bi/extract-failed"),
		fixture.Webhook("workbook-created", "WorkbookCreated", "https://hooks.example.com/bi/workbook-created"),
		quiet,
	}
	applied := objs
	for _, v := range w.victims {
		applied = append(applied, v)
	}
	if err := env.Apply(ctx, applied); err != nil {
		t.Fatal(err)
	}
	ready := []client.Object{fixture.Site()}
	for _, v := range w.victims {
		ready = append(ready, v)
	}
	waitReady(ctx, t, env, ready...)

	if w.handMade, err = sim.AddWebhook(ctx, "marketing", map[string]any{
		"name": "Finance: datasource deleted", "event": "DatasourceDeleted", "url": "https://hooks.example.com/finance/by-hand",
	}); err != nil {
		t.Fatal(err)
	}
	ids := []string{w.handMade.ID}
	for _, v := range w.victims {
		ids = append(ids, w.webhookID(t, v))
	}
	w.remember(t, ids...)
	return w
}

// tenant is the attacker in one namespace: a client that impersonates tenantUser, who holds
// the editor ClusterRoles there and nothing else.
type tenant struct {
	ns string
	c  client.Client
}

// newTenant creates the namespace (labelled team=data if admitted) and binds the editor roles
// in it to tenantUser, then waits until the API server's authorizer knows the bindings.
func (w *tenancyWorld) newTenant(t *testing.T, ns string, admitted bool) *tenant {
	t.Helper()
	namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	if admitted {
		namespace.Labels = map[string]string{teamLabel: teamValue}
	}
	objs := []client.Object{namespace}
	for _, role := range w.editorRoles {
		objs = append(objs, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: role},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: tenantUser}},
		})
	}
	for _, obj := range objs {
		if err := w.env.Client.Create(w.ctx, obj); err != nil {
			t.Fatalf("create %s: %v", localenv.Describe(obj), err)
		}
	}
	cfg := rest.CopyConfig(w.env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: tenantUser}
	c, err := client.New(cfg, client.Options{Scheme: w.env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	m := &tenant{ns: ns, c: c}
	ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
	defer cancel()
	err = localenv.Poll(ctx, func(ctx context.Context) error {
		for _, resource := range []string{"tableauwebhooks", "tableausites"} {
			ok, err := m.may(ctx, access{verb: "create", group: tableauv1.GroupVersion.Group, resource: resource, namespace: ns})
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%s may not create %s in %s yet", tenantUser, resource, ns)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// webhook returns a TableauWebhook in the tenant's namespace on the victim's site.
func (m *tenant) webhook(name, event, url string) *tableauv1.TableauWebhook {
	return &tableauv1.TableauWebhook{
		ObjectMeta: metav1.ObjectMeta{Namespace: m.ns, Name: name},
		Spec: tableauv1.TableauWebhookSpec{
			SiteRef:     tableauv1.SiteReference{Name: siteName, Namespace: victimNS},
			Event:       event,
			Destination: tableauv1.Destination{URL: url},
		},
	}
}

// access is one question to the API server's authorizer.
type access struct {
	verb, group, resource, subresource, namespace, name string
}

func (a access) String() string {
	s := a.verb + " " + a.resource
	if a.subresource != "" {
		s += "/" + a.subresource
	}
	if a.name != "" {
		s += " " + a.name
	}
	if a.namespace != "" {
		s += " in " + a.namespace
	}
	return s
}

// may asks the API server whether the tenant may do a (SelfSubjectAccessReview).
func (m *tenant) may(ctx context.Context, a access) (bool, error) {
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.subresource, Namespace: a.namespace, Name: a.name,
		},
	}}
	if err := m.c.Create(ctx, review); err != nil {
		return false, fmt.Errorf("ask whether %s may %s: %w", tenantUser, a, err)
	}
	return review.Status.Allowed, nil
}

// checkTenantRBAC shows that the attacker is an ordinary tenant: it may manage TableauSites
// and TableauWebhooks in its namespace, and may not write their status, read Secrets, label
// its namespace (to opt in to a Selector) or touch the victim's namespace.
func (w *tenancyWorld) checkTenantRBAC(t *testing.T) {
	m := w.newTenant(t, "mallory-rbac", false)
	group := tableauv1.GroupVersion.Group
	for _, tc := range []struct {
		a    access
		want bool
	}{
		{access{verb: "create", group: group, resource: "tableauwebhooks", namespace: m.ns}, true},
		{access{verb: "patch", group: group, resource: "tableauwebhooks", namespace: m.ns}, true},
		{access{verb: "delete", group: group, resource: "tableauwebhooks", namespace: m.ns}, true},
		{access{verb: "create", group: group, resource: "tableausites", namespace: m.ns}, true},
		{access{verb: "update", group: group, resource: "tableauwebhooks", subresource: "status", namespace: m.ns}, false},
		{access{verb: "patch", group: group, resource: "tableauwebhooks", subresource: "status", namespace: m.ns}, false},
		{access{verb: "update", group: group, resource: "tableausites", subresource: "status", namespace: m.ns}, false},
		{access{verb: "get", resource: "secrets", namespace: m.ns}, false},
		{access{verb: "create", resource: "secrets", namespace: m.ns}, false},
		{access{verb: "patch", resource: "namespaces", name: m.ns}, false},
		{access{verb: "create", group: rbacv1.GroupName, resource: "rolebindings", namespace: m.ns}, false},
		{access{verb: "create", group: group, resource: "tableauwebhooks", namespace: victimNS}, false},
		{access{verb: "patch", group: group, resource: "tableausites", namespace: victimNS}, false},
		{access{verb: "get", resource: "secrets", namespace: victimNS}, false},
	} {
		got, err := m.may(w.ctx, tc.a)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s may %s: %t, want %t", tenantUser, tc.a, got, tc.want)
		}
	}
}

// budget is what Tableau requests a step may cause.
type budget int

const (
	// noRequests: not one request (a resource its site does not admit).
	noRequests budget = iota
	// noWrites: reads only (an admitted resource that is refused something).
	noWrites
	// anyRequests: the caller checks the counts itself.
	anyRequests
)

// during runs step between two points where the manager is quiescent, checks the Tableau
// requests made meanwhile against b, and returns them.
func (w *tenancyWorld) during(t *testing.T, b budget, step func()) requestDelta {
	t.Helper()
	w.quiesce(t)
	before := w.stats(t)
	step()
	w.quiesce(t)
	d := statsDelta(before, w.stats(t))
	switch b {
	case noRequests:
		if len(d) > 0 {
			t.Errorf("a resource its site does not admit caused Tableau requests: %s", d)
		}
	case noWrites:
		if writes := d.webhookWrites(); len(writes) > 0 {
			t.Errorf("a refused resource caused Tableau writes: %s (all requests: %s)", writes, d)
		}
	}
	return d
}

func (w *tenancyWorld) stats(t *testing.T) localenv.SimStats {
	t.Helper()
	s, err := w.sim.Stats(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// requestDelta counts Tableau requests by operation; zero counts are left out.
type requestDelta map[string]int

// statsDelta returns the requests the simulator served between two snapshots.
func statsDelta(before, after localenv.SimStats) requestDelta {
	d := requestDelta{}
	for op := range after.ByOperation {
		if n := after.Count(op) - before.Count(op); n != 0 {
			d[op] = n
		}
	}
	return d
}

// webhookWrites keeps the requests that change webhooks.
func (d requestDelta) webhookWrites() requestDelta {
	out := requestDelta{}
	for _, op := range []string{tableautest.OpCreateWebhook, tableautest.OpUpdateWebhook, tableautest.OpDeleteWebhook} {
		if d[op] != 0 {
			out[op] = d[op]
		}
	}
	return out
}

func (d requestDelta) String() string {
	if len(d) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(d))
	for op, n := range d {
		parts = append(parts, fmt.Sprintf("%s=%d", op, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// The manager is quiescent when quietSamples samples in a row, over at least quietWindow,
// show both workqueues empty and no reconcile running.
const (
	quietSamples = 5
	quietWindow  = 500 * time.Millisecond
)

// quiesce waits until the manager is quiescent.
func (w *tenancyWorld) quiesce(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
	defer cancel()
	idle := 0
	var idleSince time.Time
	err := localenv.Poll(ctx, func(ctx context.Context) error {
		s, err := w.mgr.Metrics(ctx)
		if err != nil {
			return err
		}
		if busy := busyControllers(s); busy != "" {
			idle = 0
			return errors.New(busy)
		}
		if idle == 0 {
			idleSince = time.Now()
		}
		idle++
		if idle < quietSamples || time.Since(idleSince) < quietWindow {
			return fmt.Errorf("idle in %d samples over %s so far", idle, time.Since(idleSince).Round(time.Millisecond))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the manager did not become quiescent: %v", err)
	}
}

// busyControllers says which controller has work queued or running, "" when neither has.
func busyControllers(s localenv.Samples) string {
	var busy []string
	for _, name := range []string{"tableauwebhook", "tableausite"} {
		queue, worker := map[string]string{"name": name}, map[string]string{"controller": name}
		if !hasSample(s, "workqueue_depth", queue) || !hasSample(s, "controller_runtime_active_workers", worker) {
			busy = append(busy, name+": no workqueue metrics yet")
			continue
		}
		depth, active := s.Sum("workqueue_depth", queue), s.Sum("controller_runtime_active_workers", worker)
		if depth > 0 || active > 0 {
			busy = append(busy, fmt.Sprintf("%s: %g queued, %g running", name, depth, active))
		}
	}
	return strings.Join(busy, "; ")
}

func hasSample(s localenv.Samples, name string, match map[string]string) bool {
	return slices.ContainsFunc(s, func(x localenv.Sample) bool {
		if x.Name != name {
			return false
		}
		for k, v := range match {
			if x.Labels[k] != v {
				return false
			}
		}
		return true
	})
}

// victimsUnchanged checks that Tableau still holds every victim webhook as remembered (ID,
// name, event, URL, enabled), with no second webhook of its name, and that the victims'
// TableauWebhooks are still Ready.
func (w *tenancyWorld) victimsUnchanged(t *testing.T) {
	t.Helper()
	hooks, err := w.sim.Webhooks(w.ctx, "marketing")
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]localenv.SimWebhook{}
	named := map[string]int{}
	for _, h := range hooks {
		byID[h.ID] = h
		named[h.Name]++
	}
	for id, want := range w.inTableau {
		got, ok := byID[id]
		switch {
		case !ok:
			t.Errorf("victim webhook %s %q is gone from Tableau", id, want.Name)
		case got.Name != want.Name || got.Event != want.Event || got.URL != want.URL || got.Enabled != want.Enabled:
			t.Errorf("victim webhook %s changed in Tableau:\n  was %s\n  now %s", id, describeSimWebhook(want), describeSimWebhook(got))
		}
		if n := named[want.Name]; n > 1 {
			t.Errorf("Tableau holds %d webhooks named %q, want only the victim's %s", n, want.Name, id)
		}
	}
	for _, v := range w.victims {
		r, err := localenv.CheckReady(w.ctx, w.env.Client, v)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Ready {
			t.Errorf("victim %s is no longer Ready: %s", localenv.Describe(v), r)
		}
	}
}

func describeSimWebhook(h localenv.SimWebhook) string {
	return fmt.Sprintf("name %q, event %s, url %s, enabled %t", h.Name, h.Event, h.URL, h.Enabled)
}

// remember records what Tableau now holds for these webhook IDs as what it must keep.
func (w *tenancyWorld) remember(t *testing.T, ids ...string) {
	t.Helper()
	hooks, err := w.sim.Webhooks(w.ctx, "marketing")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		i := slices.IndexFunc(hooks, func(h localenv.SimWebhook) bool { return h.ID == id })
		if i < 0 {
			t.Fatalf("no webhook %s in Tableau to remember; it holds %+v", id, hooks)
		}
		w.inTableau[id] = hooks[i]
	}
}

// stillInTableau reports whether Tableau holds a webhook of that ID.
func (w *tenancyWorld) stillInTableau(t *testing.T, id string) bool {
	t.Helper()
	hooks, err := w.sim.Webhooks(w.ctx, "marketing")
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(hooks, func(h localenv.SimWebhook) bool { return h.ID == id })
}

// forget stops checking a webhook that a case legitimately handed to someone else.
func (w *tenancyWorld) forget(id string) { delete(w.inTableau, id) }

// addVictim makes a Ready TableauWebhook of the victim team one of the victims.
func (w *tenancyWorld) addVictim(t *testing.T, wh *tableauv1.TableauWebhook) {
	t.Helper()
	w.victims = append(w.victims, wh)
	w.remember(t, w.webhookID(t, wh))
}

// victim returns the victim TableauWebhook of that name.
func (w *tenancyWorld) victim(name string) *tableauv1.TableauWebhook {
	i := slices.IndexFunc(w.victims, func(v *tableauv1.TableauWebhook) bool { return v.Name == name })
	return w.victims[i]
}

// webhookID returns the Tableau webhook ID that the operator recorded for a resource.
func (w *tenancyWorld) webhookID(t *testing.T, wh *tableauv1.TableauWebhook) string {
	t.Helper()
	var got tableauv1.TableauWebhook
	if err := w.env.Client.Get(w.ctx, client.ObjectKeyFromObject(wh), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.WebhookID == "" {
		t.Fatalf("%s records no webhook ID", localenv.Describe(wh))
	}
	return got.Status.WebhookID
}

// waitSimWebhook waits until Tableau's webhook id satisfies ok.
func (w *tenancyWorld) waitSimWebhook(t *testing.T, id string, ok func(localenv.SimWebhook) bool, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
	defer cancel()
	err := localenv.Poll(ctx, func(ctx context.Context) error {
		hooks, err := w.sim.Webhooks(ctx, "marketing")
		if err != nil {
			return err
		}
		i := slices.IndexFunc(hooks, func(h localenv.SimWebhook) bool { return h.ID == id })
		if i < 0 {
			return fmt.Errorf("no webhook %s in Tableau", id)
		}
		if !ok(hooks[i]) {
			return fmt.Errorf("webhook %s is %s", id, describeSimWebhook(hooks[i]))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("want Tableau's webhook %s %s: %v", id, want, err)
	}
}

// waitReason waits until obj's Ready condition, about its current generation, has the status
// and reason, and returns it.
func (w *tenancyWorld) waitReason(t *testing.T, obj client.Object, status metav1.ConditionStatus, reason string) localenv.Readiness {
	t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
	defer cancel()
	var last localenv.Readiness
	err := localenv.Poll(ctx, func(ctx context.Context) error {
		r, err := localenv.CheckReady(ctx, w.env.Client, obj)
		if err != nil {
			return err
		}
		last = r
		if !r.Current || r.Status != string(status) || r.Reason != reason {
			return fmt.Errorf("%s: %s", localenv.Describe(obj), r)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("want %s Ready=%s %s, last seen %s: %v", localenv.Describe(obj), status, reason, last, err)
	}
	return last
}

// expectReason checks, once, that obj's Ready condition has the status and reason.
func (w *tenancyWorld) expectReason(t *testing.T, obj client.Object, status metav1.ConditionStatus, reason string) {
	t.Helper()
	r, err := localenv.CheckReady(w.ctx, w.env.Client, obj)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Current || r.Status != string(status) || r.Reason != reason {
		t.Errorf("want %s Ready=%s %s, it is %s", localenv.Describe(obj), status, reason, r)
	}
}

// waitAvailable waits until a TableauWebhook is Ready, failing early on a terminal reason.
func (w *tenancyWorld) waitAvailable(t *testing.T, wh *tableauv1.TableauWebhook) {
	t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
	defer cancel()
	if err := localenv.WaitReady(ctx, w.env.Client, tableauv1.TerminalReasons(tableauv1.WebhookReadyReasons), wh); err != nil {
		t.Fatal(err)
	}
	w.expectReason(t, wh, metav1.ConditionTrue, tableauv1.ReasonAvailable)
}

// waitGone waits until the object is deleted, finalizers done.
func (w *tenancyWorld) waitGone(t *testing.T, obj client.Object) {
	t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
	defer cancel()
	if err := w.env.WaitGone(ctx, obj); err != nil {
		var left tableauv1.TableauWebhook
		_ = w.env.Client.Get(w.ctx, client.ObjectKeyFromObject(obj), &left)
		r, _ := localenv.CheckReady(w.ctx, w.env.Client, obj)
		t.Fatalf("the deletion did not complete (finalizers %v, %s): %v", left.Finalizers, r, err)
	}
}

// siteID is the victim site's LUID, as its TableauSite reports it.
func (w *tenancyWorld) siteID(t *testing.T) string {
	t.Helper()
	site := w.fixture.Site()
	if err := w.env.Client.Get(w.ctx, client.ObjectKeyFromObject(site), site); err != nil {
		t.Fatal(err)
	}
	return site.Status.SiteID
}

// siteWebhookCount is the victim TableauSite's status.webhooks.
func (w *tenancyWorld) siteWebhookCount(t *testing.T) int32 {
	t.Helper()
	var site tableauv1.TableauSite
	if err := w.env.Client.Get(w.ctx, client.ObjectKeyFromObject(w.fixture.Site()), &site); err != nil {
		t.Fatal(err)
	}
	return site.Status.Webhooks
}

// waitSiteWebhookCount waits until the victim TableauSite counts n webhooks.
func (w *tenancyWorld) waitSiteWebhookCount(t *testing.T, n int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
	defer cancel()
	err := localenv.Poll(ctx, func(ctx context.Context) error {
		var site tableauv1.TableauSite
		if err := w.env.Client.Get(ctx, client.ObjectKeyFromObject(w.fixture.Site()), &site); err != nil {
			return err
		}
		if site.Status.Webhooks != n {
			return fmt.Errorf("TableauSite %s/%s counts %d webhooks, want %d", victimNS, siteName, site.Status.Webhooks, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// setAdoption writes the victim TableauSite's spec.adoption, as its owners would (nil: omitted).
func (w *tenancyWorld) setAdoption(t *testing.T, adoption *tableauv1.WebhookAdoption) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), 30*time.Second)
	defer cancel()
	var site tableauv1.TableauSite
	if err := w.env.Client.Get(ctx, client.ObjectKeyFromObject(w.fixture.Site()), &site); err != nil {
		t.Fatal(err)
	}
	base := site.DeepCopy()
	site.Spec.Adoption = adoption
	if err := w.env.Client.Patch(ctx, &site, client.MergeFrom(base)); err != nil {
		t.Fatalf("set spec.adoption of TableauSite %s/%s: %v", victimNS, siteName, err)
	}
	// An API server prunes fields its CRD does not know, without an error.
	if adoption != nil && site.Spec.Adoption == nil {
		t.Fatalf("the API server dropped spec.adoption of TableauSite %s/%s: the TableauSite CRD in config/crd/bases has no such field (run `make manifests`)",
			victimNS, siteName)
	}
}

// noTableauEvents checks that the operator recorded, in the attacker's namespace, no Event
// saying that it created, deleted or adopted a webhook in Tableau.
func (w *tenancyWorld) noTableauEvents(t *testing.T, ns string) {
	t.Helper()
	var events eventsv1.EventList
	if err := w.env.Client.List(w.ctx, &events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		if e.Regarding.Kind != "TableauWebhook" {
			continue
		}
		if slices.Contains([]string{"Created", "Deleted", "Adopted"}, e.Reason) ||
			strings.HasPrefix(e.Note, "Deleted webhook") && strings.Contains(e.Note, "from Tableau") {
			t.Errorf("Event on %s/%s: %s %q: the operator acted in Tableau for a resource its site does not admit",
				e.Regarding.Namespace, e.Regarding.Name, e.Reason, e.Note)
		}
	}
}
