package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
)

const (
	// credentialsFinalizer is what the operator puts on a TableauSite's credential and CA
	// Secrets while the site still has TableauWebhooks whose deletion must reach Tableau.
	credentialsFinalizer = "tableau.webhook-operator.dev/credentials-in-use"
	// siteFinalizer is what a TableauSite carries while TableauWebhooks reference it.
	siteFinalizer = "tableau.webhook-operator.dev/site-in-use"

	// deletionBound is how long a deletion may take at the manager's default flags (issue 10,
	// item 2), measured from the delete request to the API server answering NotFound.
	deletionBound = 60 * time.Second
)

// TestDeletion is issue 10's item 2: deletion completes when Tableau is reachable, in every
// order a user, `kubectl delete namespace` or a GitOps prune can produce, and with a manager
// SIGKILLed in the middle (so that what the manager keeps in memory is not enough). It runs
// the real manager binary at its default flags, the local control plane with
// kube-controller-manager (namespace and garbage-collector controllers, as in a cluster), and
// one Tableau simulator per case, with its own PAT, so that cases share no session.
//
// Each case sets up a TableauSite with its credential and CA Secrets and three
// TableauWebhooks, one of them with deletionPolicy: Orphan, and proves that:
//   - while the site has webhooks, both Secrets carry the credentials-in-use finalizer;
//   - everything deleted is gone (the API server answers NotFound, namespaces included) within
//     60 s of its delete request;
//   - Tableau then holds exactly the Orphan webhook, under the ID it had;
//   - once the site is gone (or has no webhooks left), no Secret keeps the finalizer.
//
// Each deletion's duration is logged: the team reports these figures. The cases run one after
// the other, so that the figures are not disturbed by each other; the one that kills the
// manager comes last.
func TestDeletion(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	bins := binaries(t)
	env := startEnv(t, localenv.Options{})
	if env.ControllerManager == nil {
		t.Fatal("the local control plane runs no kube-controller-manager: no namespace could finish deleting")
	}
	ctx := within(t, 9*time.Minute)
	mgr, err := env.StartManager(ctx, localenv.ManagerOptions{Binary: bins.Manager})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range deletionOrders() {
		t.Run(c.name, func(t *testing.T) {
			s := newDeletionScene(t, env, mgr, bins.Simulator, c)
			c.run(t, s)
			s.onlyOrphansInTableau(t)
		})
	}
}

// deletionOrder is one row of TestDeletion's table.
type deletionOrder struct {
	name string
	// ns holds the TableauSite and its Secrets.
	ns string
	// hooksNS, if set, holds the TableauWebhooks instead, a namespace the site admits
	// (webhookNamespaces.from: All).
	hooksNS string
	// run deletes things in the case's order and checks what each deletion leaves.
	run func(t *testing.T, s *deletionScene)
}

func deletionOrders() []deletionOrder {
	return []deletionOrder{
		{
			name: "WebhooksThenSiteThenSecrets",
			ns:   "lc-webhooks-first",
			run: func(t *testing.T, s *deletionScene) {
				s.deleteAndWait(t, "the TableauWebhooks", s.webhookObjects()...)
				s.deleteAndWait(t, "the TableauSite", s.fixture.Site())
				s.deleteAndWait(t, "the credential and CA Secrets", s.secrets()...)
			},
		},
		{
			name: "CredentialSecretFirst",
			ns:   "lc-secret-first",
			run: func(t *testing.T, s *deletionScene) {
				pat := s.secret(s.fixture.PATSecret)
				patDeleted := s.remove(t, pat)
				s.expectTerminating(t, "the credential Secret, while the site still has webhooks to delete", pat)
				s.deleteAndWait(t, "the TableauWebhooks, after their site's credential Secret", s.webhookObjects()...)
				siteGone := s.deleteAndWait(t, "the TableauSite", s.fixture.Site())
				s.waitGone(t, patDeleted, "the credential Secret (deleted first)", pat)
				t.Logf("deletion: the credential Secret went %s after its TableauSite", since(siteGone))
				s.waitCredentialsFinalizer(t, false, s.secret(s.fixture.CASecret))
			},
		},
		{
			name: "SiteFirst",
			ns:   "lc-site-first",
			run: func(t *testing.T, s *deletionScene) {
				siteDeleted := s.remove(t, s.fixture.Site())
				s.waitSiteWaitsForWebhooks(t)
				s.waitCredentialsFinalizer(t, true, s.secrets()...)
				s.deleteAndWait(t, "the TableauWebhooks, after their TableauSite", s.webhookObjects()...)
				s.waitGone(t, siteDeleted, "the TableauSite (deleted first)", s.fixture.Site())
				s.waitCredentialsFinalizer(t, false, s.secrets()...)
				s.deleteAndWait(t, "the credential and CA Secrets, no longer needed", s.secrets()...)
			},
		},
		{
			name: "WholeNamespace",
			ns:   "lc-namespace",
			run: func(t *testing.T, s *deletionScene) {
				s.deleteNamespaceAndWait(t, "lc-namespace", s.operated()...)
				s.expectGone(t, s.everything()...)
			},
		},
		{
			name:    "NamespaceOfWebhooksOnly",
			ns:      "lc-cross-site",
			hooksNS: "lc-cross-hooks",
			run: func(t *testing.T, s *deletionScene) {
				s.deleteNamespaceAndWait(t, "lc-cross-hooks", s.webhookObjects()...)
				s.waitSiteUnused(t)
				s.waitCredentialsFinalizer(t, false, s.secrets()...)
				s.deleteNamespaceAndWait(t, "lc-cross-site", s.fixture.Site())
				s.expectGone(t, s.everything()...)
			},
		},
		{
			name: "WholeNamespaceWhileTheManagerIsKilled",
			ns:   "lc-restart",
			run: func(t *testing.T, s *deletionScene) {
				t.Cleanup(func() { s.ensureManagerRuns(t) })
				if err := s.mgr.Kill(); err != nil {
					t.Fatal(err)
				}
				ns := namespaceObject("lc-restart")
				deleted := s.remove(t, ns)
				// The namespace controller deletes everything in it; the finalizers hold what
				// still has work, with no manager to do it.
				s.waitMarkedForDeletion(t, s.everything()...)
				t.Logf("deletion: with the manager killed, the namespace controller marked its %d objects %s after the delete",
					len(s.everything()), since(deleted))
				restarted := time.Now()
				if err := s.mgr.Start(s.ctx); err != nil {
					t.Fatal(err)
				}
				t.Logf("deletion: the manager was ready again %s after the restart", since(restarted))
				s.waitGone(t, deleted, "the operator's resources in namespace lc-restart", s.operated()...)
				t.Logf("deletion: they went %s after the manager's restart", since(restarted))
				s.waitGone(t, deleted, "namespace lc-restart, with the manager killed then started again", ns)
				s.expectGone(t, s.everything()...)
			},
		},
	}
}

// deletionScene is one case's world: its simulator, its TableauSite with two Secrets, and its
// three TableauWebhooks, Ready, with what Tableau holds for them.
type deletionScene struct {
	env *localenv.Env
	mgr *localenv.Manager
	sim *localenv.Simulator
	ctx context.Context

	fixture  localenv.SiteFixture
	hooksNS  string
	webhooks []*tableauv1.TableauWebhook
	// orphans are the Tableau webhooks that must stay: ID to name.
	orphans map[string]string
}

// newDeletionScene starts the case's simulator, applies its objects and waits until they are
// Ready, Tableau holds the three webhooks and both Secrets carry the credentials finalizer.
func newDeletionScene(t *testing.T, env *localenv.Env, mgr *localenv.Manager, simBinary string, c deletionOrder) *deletionScene {
	t.Helper()
	s := &deletionScene{env: env, mgr: mgr, ctx: within(t, 3*time.Minute), hooksNS: c.hooksNS, orphans: map[string]string{}}
	// Cleanups run last registered first: what is left is shown before it is deleted.
	t.Cleanup(s.deleteNamespaces)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("what is left:\n%s", s.leftovers())
			t.Logf("end of the manager's log %s:\n%s", mgr.LogPath, mgr.LogTail(60))
			t.Logf("end of kube-controller-manager's log %s:\n%s", env.ControllerManager.LogPath, fileTail(env.ControllerManager.LogPath, 15))
		}
	})
	var err error
	s.sim, err = env.StartSimulator(s.ctx, localenv.SimulatorOptions{
		Binary: simBinary, Sites: []string{"marketing"}, TLS: true,
		PATName: c.ns + "-operator", PATSecret: "secret-of-" + c.ns, Name: "tableau-sim-" + c.ns,
	})
	if err != nil {
		t.Fatal(err)
	}
	fixture, objs := s.sim.SiteObjects(c.ns, "marketing", "marketing")
	s.fixture = fixture
	if s.hooksNS == "" {
		s.hooksNS = c.ns
	} else {
		for _, obj := range objs {
			if site, ok := obj.(*tableauv1.TableauSite); ok {
				site.Spec.WebhookNamespaces = &tableauv1.WebhookNamespaces{From: tableauv1.NamespacesFromAll}
			}
		}
		objs = append(objs, namespaceObject(s.hooksNS))
	}
	orphan := fixture.Webhook("kept-in-tableau", "WorkbookUpdated", "https://hooks.example.com/"+c.ns+"/kept")
	orphan.Spec.DeletionPolicy = tableauv1.DeletionPolicyOrphan
	deleted := fixture.Webhook("workbook-created", "WorkbookCreated", "https://hooks.example.com/"+c.ns+"/created")
	deleted.Spec.DeletionPolicy = tableauv1.DeletionPolicyDelete
	s.webhooks = []*tableauv1.TableauWebhook{
		fixture.Webhook("extract-failed", "DatasourceRefreshFailed", "https://hooks.example.com/"+c.ns+"/extract"), // Delete by default
		deleted,
		orphan,
	}
	for _, wh := range s.webhooks {
		wh.Namespace = s.hooksNS
		wh.Spec.SiteRef.Namespace = c.ns
		objs = append(objs, wh)
	}
	if err := env.Apply(s.ctx, objs); err != nil {
		t.Fatal(err)
	}
	waitReady(s.ctx, t, env, append([]client.Object{fixture.Site()}, s.webhookObjects()...)...)

	ids := map[string]string{}
	for _, wh := range s.webhooks {
		var got tableauv1.TableauWebhook
		if err := env.Client.Get(s.ctx, client.ObjectKeyFromObject(wh), &got); err != nil {
			t.Fatal(err)
		}
		ids[got.Status.WebhookID] = got.Status.WebhookName
		if wh.Spec.DeletionPolicy == tableauv1.DeletionPolicyOrphan {
			s.orphans[got.Status.WebhookID] = got.Status.WebhookName
		}
	}
	if have := s.tableauWebhooks(t); !maps.Equal(have, ids) {
		t.Fatalf("before any deletion Tableau holds %v, want the three webhooks %v", have, ids)
	}
	s.waitCredentialsFinalizer(t, true, s.secrets()...)
	return s
}

// secret returns a key-only Secret of the site's namespace.
func (s *deletionScene) secret(name string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: s.fixture.Namespace, Name: name}}
}

// secrets are the site's credential and CA Secrets.
func (s *deletionScene) secrets() []client.Object {
	return []client.Object{s.secret(s.fixture.PATSecret), s.secret(s.fixture.CASecret)}
}

func (s *deletionScene) webhookObjects() []client.Object {
	objs := make([]client.Object, 0, len(s.webhooks))
	for _, wh := range s.webhooks {
		objs = append(objs, wh)
	}
	return objs
}

// operated are the objects whose deletion waits for the operator: the TableauSite and its
// TableauWebhooks.
func (s *deletionScene) operated() []client.Object {
	return append([]client.Object{s.fixture.Site()}, s.webhookObjects()...)
}

// everything is the case's TableauSite, Secrets and TableauWebhooks.
func (s *deletionScene) everything() []client.Object {
	return append(append([]client.Object{s.fixture.Site()}, s.secrets()...), s.webhookObjects()...)
}

func namespaceObject(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// remove sends the delete requests, as `kubectl delete --wait=false` does (background
// propagation), and returns when it sent the first.
func (s *deletionScene) remove(t *testing.T, objs ...client.Object) time.Time {
	t.Helper()
	start := time.Now()
	for _, obj := range objs {
		if err := s.env.Client.Delete(s.ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
			t.Fatalf("delete %s: %v", localenv.Describe(obj), err)
		}
	}
	return start
}

// waitGone waits until every object is NotFound, at most deletionBound after start, logs how
// long that took, and returns when it saw them gone.
func (s *deletionScene) waitGone(t *testing.T, start time.Time, what string, objs ...client.Object) time.Time {
	t.Helper()
	ctx, cancel := context.WithDeadline(s.ctx, start.Add(deletionBound))
	defer cancel()
	if err := s.env.WaitGone(ctx, objs...); err != nil {
		t.Fatalf("%s: not gone within %s of the delete: %v", what, deletionBound, err)
	}
	gone := time.Now()
	t.Logf("deletion: %s gone %s after the delete", what, gone.Sub(start).Round(10*time.Millisecond))
	return gone
}

// deleteAndWait deletes the objects and waits until they are gone, as `kubectl delete` does.
func (s *deletionScene) deleteAndWait(t *testing.T, what string, objs ...client.Object) time.Time {
	t.Helper()
	return s.waitGone(t, s.remove(t, objs...), what, objs...)
}

// deleteNamespaceAndWait deletes a namespace as `kubectl delete namespace` does and waits,
// within deletionBound of the delete, first until the objects of it that the operator must
// let go are gone (the operator's share of the time), then until the namespace is (the
// namespace controller's pace).
func (s *deletionScene) deleteNamespaceAndWait(t *testing.T, name string, operated ...client.Object) {
	t.Helper()
	ns := namespaceObject(name)
	start := s.remove(t, ns)
	s.waitGone(t, start, "the operator's resources in namespace "+name, operated...)
	s.waitGone(t, start, "namespace "+name, ns)
}

// expectGone checks, once, that the API server answers NotFound for every object.
func (s *deletionScene) expectGone(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, obj := range objs {
		u, err := s.get(s.ctx, obj)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			t.Fatal(err)
		default:
			t.Errorf("%s still exists (deletionTimestamp %v, finalizers %v)", localenv.Describe(obj), u.GetDeletionTimestamp(), u.GetFinalizers())
		}
	}
}

// expectTerminating checks, once, that every object exists with a deletionTimestamp.
func (s *deletionScene) expectTerminating(t *testing.T, what string, objs ...client.Object) {
	t.Helper()
	for _, obj := range objs {
		u, err := s.get(s.ctx, obj)
		if err != nil {
			t.Fatalf("%s: %s: %v", what, localenv.Describe(obj), err)
		}
		if u.GetDeletionTimestamp() == nil {
			t.Errorf("%s: %s is not being deleted", what, localenv.Describe(obj))
		}
	}
}

// waitMarkedForDeletion waits until every object has a deletionTimestamp (and still exists).
func (s *deletionScene) waitMarkedForDeletion(t *testing.T, objs ...client.Object) {
	t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	err := localenv.Poll(ctx, func(ctx context.Context) error {
		for _, obj := range objs {
			u, err := s.get(ctx, obj)
			if err != nil {
				return fmt.Errorf("%s: %w", localenv.Describe(obj), err)
			}
			if u.GetDeletionTimestamp() == nil {
				return fmt.Errorf("%s is not being deleted yet", localenv.Describe(obj))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("want everything in the namespace being deleted and held by its finalizer: %v", err)
	}
}

// waitCredentialsFinalizer waits until every Secret carries the credentials-in-use finalizer
// (want) or none does.
func (s *deletionScene) waitCredentialsFinalizer(t *testing.T, want bool, secrets ...client.Object) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	err := localenv.Poll(ctx, func(ctx context.Context) error {
		for _, obj := range secrets {
			u, err := s.get(ctx, obj)
			if err != nil {
				return fmt.Errorf("%s: %w", localenv.Describe(obj), err)
			}
			if has := controllerutil.ContainsFinalizer(u, credentialsFinalizer); has != want {
				return fmt.Errorf("%s has finalizers %v", localenv.Describe(obj), u.GetFinalizers())
			}
		}
		return nil
	})
	if err != nil {
		if want {
			t.Fatalf("while the TableauSite has webhooks, its Secrets should carry %s: %v", credentialsFinalizer, err)
		}
		t.Fatalf("once the TableauSite is gone or has no webhooks, its Secrets should lose %s: %v", credentialsFinalizer, err)
	}
	if !want {
		t.Logf("the Secrets lost %s within %s", credentialsFinalizer, since(start))
	}
}

// waitSiteWaitsForWebhooks waits until the operator has answered the TableauSite's delete:
// it stays, Terminating with its site-in-use finalizer, and its Ready message says that
// deletion waits for the three webhooks.
func (s *deletionScene) waitSiteWaitsForWebhooks(t *testing.T) {
	t.Helper()
	want := fmt.Sprintf("Deletion waits for %d TableauWebhooks", len(s.webhooks))
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	err := localenv.Poll(ctx, func(ctx context.Context) error {
		var site tableauv1.TableauSite
		if err := s.env.Client.Get(ctx, client.ObjectKeyFromObject(s.fixture.Site()), &site); err != nil {
			return err
		}
		ready := apimeta.FindStatusCondition(site.Status.Conditions, tableauv1.ConditionReady)
		switch {
		case site.DeletionTimestamp.IsZero():
			return fmt.Errorf("the TableauSite is not being deleted")
		case !controllerutil.ContainsFinalizer(&site, siteFinalizer):
			return fmt.Errorf("the TableauSite lost %s while its webhooks exist (finalizers %v)", siteFinalizer, site.Finalizers)
		case ready == nil || !strings.Contains(ready.Message, want):
			return fmt.Errorf("its Ready condition does not say %q: %+v", want, ready)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("want the deleted TableauSite kept for its webhooks: %v", err)
	}
}

// waitSiteUnused waits until the TableauSite counts no webhooks and has let go of its
// site-in-use finalizer.
func (s *deletionScene) waitSiteUnused(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	err := localenv.Poll(ctx, func(ctx context.Context) error {
		var site tableauv1.TableauSite
		if err := s.env.Client.Get(ctx, client.ObjectKeyFromObject(s.fixture.Site()), &site); err != nil {
			return err
		}
		if site.Status.Webhooks != 0 || controllerutil.ContainsFinalizer(&site, siteFinalizer) {
			return fmt.Errorf("the TableauSite counts %d webhooks, finalizers %v", site.Status.Webhooks, site.Finalizers)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("once its webhooks' namespace is gone, the TableauSite should be unused: %v", err)
	}
}

// tableauWebhooks returns what the case's Tableau site holds: ID to name.
func (s *deletionScene) tableauWebhooks(t *testing.T) map[string]string {
	t.Helper()
	hooks, err := s.sim.Webhooks(s.ctx, "marketing")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, h := range hooks {
		out[h.ID] = h.Name
	}
	return out
}

// onlyOrphansInTableau checks that Tableau holds exactly the Orphan webhooks, by ID and name.
// Every TableauWebhook is gone by now, and each left only after its Tableau call.
func (s *deletionScene) onlyOrphansInTableau(t *testing.T) {
	t.Helper()
	if have := s.tableauWebhooks(t); !maps.Equal(have, s.orphans) {
		t.Errorf("Tableau holds %v, want exactly the Orphan webhooks %v", have, s.orphans)
	}
}

// ensureManagerRuns starts the manager again if a case left it killed.
func (s *deletionScene) ensureManagerRuns(t *testing.T) {
	if s.mgr.Running() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.mgr.Start(ctx); err != nil {
		t.Errorf("start the manager again: %v", err)
	}
}

// deleteNamespaces deletes what is left of the case's namespaces, without waiting.
func (s *deletionScene) deleteNamespaces() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, ns := range slices.Compact([]string{s.fixture.Namespace, s.hooksNS}) {
		if ns != "" {
			_ = s.env.Client.Delete(ctx, namespaceObject(ns))
		}
	}
}

// leftovers describes what exists of the case's objects: namespaces with their phase and
// conditions, TableauSites and TableauWebhooks with their finalizers and conditions, and the
// Secrets' finalizers.
func (s *deletionScene) leftovers() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	for _, name := range slices.Compact([]string{s.fixture.Namespace, s.hooksNS}) {
		var ns corev1.Namespace
		if err := s.env.Client.Get(ctx, client.ObjectKey{Name: name}, &ns); err != nil {
			fmt.Fprintf(&b, "Namespace %s: %v\n", name, err)
			continue
		}
		fmt.Fprintf(&b, "Namespace %s: phase %s%s\n", name, ns.Status.Phase, deleting(ns.DeletionTimestamp))
		for _, c := range ns.Status.Conditions {
			if c.Status == corev1.ConditionTrue {
				fmt.Fprintf(&b, "  %s %s: %s\n", c.Type, c.Reason, c.Message)
			}
		}
		var sites tableauv1.TableauSiteList
		if err := s.env.Client.List(ctx, &sites, client.InNamespace(name)); err == nil {
			for _, site := range sites.Items {
				fmt.Fprintf(&b, "  TableauSite %s%s, finalizers %v, status.webhooks %d\n%s",
					site.Name, deleting(site.DeletionTimestamp), site.Finalizers, site.Status.Webhooks, conditionLines(site.Status.Conditions))
			}
		}
		var hooks tableauv1.TableauWebhookList
		if err := s.env.Client.List(ctx, &hooks, client.InNamespace(name)); err == nil {
			for _, wh := range hooks.Items {
				fmt.Fprintf(&b, "  TableauWebhook %s%s, finalizers %v, webhookID %q\n%s",
					wh.Name, deleting(wh.DeletionTimestamp), wh.Finalizers, wh.Status.WebhookID, conditionLines(wh.Status.Conditions))
			}
		}
		var secrets corev1.SecretList
		if err := s.env.Client.List(ctx, &secrets, client.InNamespace(name)); err == nil {
			for _, sec := range secrets.Items {
				fmt.Fprintf(&b, "  Secret %s%s, finalizers %v\n", sec.Name, deleting(sec.DeletionTimestamp), sec.Finalizers)
			}
		}
	}
	if s.sim == nil {
		return b.String()
	}
	if hooks, err := s.sim.Webhooks(ctx, "marketing"); err == nil {
		for _, h := range hooks {
			fmt.Fprintf(&b, "in Tableau: %s %q\n", h.ID, h.Name)
		}
	}
	return b.String()
}

func deleting(ts *metav1.Time) string {
	if ts == nil {
		return ""
	}
	return fmt.Sprintf(" (Terminating since %s)", ts.Format(time.TimeOnly))
}

func conditionLines(conditions []metav1.Condition) string {
	var b strings.Builder
	for _, c := range conditions {
		fmt.Fprintf(&b, "    %s=%s %s: %s\n", c.Type, c.Status, c.Reason, c.Message)
	}
	return b.String()
}

func (s *deletionScene) get(ctx context.Context, obj client.Object) (*metav1.PartialObjectMetadata, error) {
	gvk, err := s.env.Client.GroupVersionKindFor(obj)
	if err != nil {
		return nil, err
	}
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(gvk)
	return m, s.env.Client.Get(ctx, client.ObjectKeyFromObject(obj), m)
}

// since is the time since t, rounded for a log line.
func since(t time.Time) time.Duration { return time.Since(t).Round(10 * time.Millisecond) }

// fileTail returns the last n lines of a file, or why it cannot be read.
func fileTail(path string, n int) string {
	data, err := os.ReadFile(path) //nolint:gosec // a log file of the environment
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
