package controllers_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/controllers"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

var (
	restConfig *rest.Config
	scheme     = runtime.NewScheme()
	k8s        client.Client
	nsCounter  atomic.Int64
	// logSink receives every log line of every manager started by the tests, so that a test
	// can assert that no secret was logged.
	logSink = &capturedLog{}
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(tableauv1.AddToScheme(scheme))
}

// defaultParallel is how many tests run at once unless -test.parallel says otherwise. The
// tests mostly wait (for reconciles, resync periods, observation windows), so more of them
// than the machine has cores fit; GOMAXPROCS, the testing default, would serialise them.
const defaultParallel = "8"

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		if err := flag.Set("test.parallel", defaultParallel); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if testing.Short() {
		// Every test here needs the local control plane; `make test-unit` runs without one.
		fmt.Println("skipping the envtest integration suite in -short mode")
		os.Exit(0)
	}
	logf.SetLogger(funcr.New(logSink.write, funcr.Options{Verbosity: 10}))
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		env.BinaryAssetsDirectory = filepath.Join("..", "bin", "k8s")
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the local control plane (run `make controlplane` first): %v\n", err)
		os.Exit(1)
	}
	restConfig = cfg
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// capturedLog keeps every log line for the secret-leak assertions.
type capturedLog struct {
	mu    sync.Mutex
	lines []string
}

func (c *capturedLog) write(prefix, args string) {
	c.mu.Lock()
	c.lines = append(c.lines, prefix+" "+args)
	c.mu.Unlock()
}

func (c *capturedLog) all() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

// testEnv is one test's world: namespaces, a Tableau simulator, and a running manager that
// watches only those namespaces.
type testEnv struct {
	t    *testing.T
	ctx  context.Context
	ns   string
	sim  *tableautest.Server
	opts controllers.Options
}

// envOption adjusts a test environment before the manager starts.
type envOption func(*envConfig)

type envConfig struct {
	opts       controllers.Options
	simOptions []tableautest.Option
	extraNS    []string
	noManager  bool
	// footprint, when set, receives the manager's memory footprint counter.
	footprint *func() map[string]int
}

// withFootprint makes the environment's manager count what it keeps in memory per object.
func withFootprint(fp *func() map[string]int) envOption {
	return func(c *envConfig) { c.footprint = fp }
}

func withResync(d time.Duration) envOption {
	return func(c *envConfig) { c.opts.ResyncPeriod = d }
}

func withSim(opts ...tableautest.Option) envOption {
	return func(c *envConfig) { c.simOptions = append(c.simOptions, opts...) }
}

func withExtraNamespaces(names ...string) envOption {
	return func(c *envConfig) { c.extraNS = append(c.extraNS, names...) }
}

// withOptions adjusts the operator's options (flags) beyond the test defaults.
func withOptions(f func(*controllers.Options)) envOption {
	return func(c *envConfig) { f(&c.opts) }
}

const (
	patName   = "operator-pat"
	patSecret = "pat-secret-value-7f3a9c"
	siteName  = "marketing"
)

// newEnv starts a simulator with one site and PAT, creates a namespace, and runs a manager.
func newEnv(t *testing.T, options ...envOption) *testEnv {
	t.Helper()
	cfg := envConfig{opts: controllers.Options{
		ResyncPeriod:            time.Minute,
		TableauQPS:              200,
		TableauBurst:            200,
		TableauTimeout:          5 * time.Second,
		MaxConcurrentReconciles: 4,
	}}
	for _, o := range options {
		o(&cfg)
	}
	sim := tableautest.NewServer(append([]tableautest.Option{
		tableautest.WithSite(siteName), tableautest.WithPAT(patName, patSecret),
	}, cfg.simOptions...)...)
	t.Cleanup(sim.Close)

	ctx, cancel := context.WithCancel(context.Background())
	e := &testEnv{t: t, ctx: ctx, sim: sim, opts: cfg.opts}
	e.ns = e.createNamespace(fmt.Sprintf("t%d", nsCounter.Add(1)), nil)
	namespaces := map[string]cache.Config{e.ns: {}}
	for _, n := range cfg.extraNS {
		namespaces[n] = cache.Config{}
	}
	if !cfg.noManager {
		// The manager's own scheme (main.go's), not the tests' wider one.
		mgrScheme, err := controllers.NewScheme()
		if err != nil {
			t.Fatal(err)
		}
		mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
			Scheme:                 mgrScheme,
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			Cache:                  cacheOptions(namespaces),
			Logger:                 logf.Log.WithName(t.Name()),
			// Every test runs its own manager, with controllers of the same names.
			Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.footprint != nil {
			fp, err := controllers.SetupWithFootprint(ctx, mgr, cfg.opts)
			if err != nil {
				t.Fatal(err)
			}
			*cfg.footprint = fp
		} else if err := controllers.Setup(ctx, mgr, cfg.opts); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := mgr.Start(ctx); err != nil {
				t.Errorf("manager: %v", err)
			}
		}()
		t.Cleanup(func() { cancel(); <-done })
	} else {
		t.Cleanup(cancel)
	}
	return e
}

// cacheOptions are the manager's cache options (main.go's) for the namespaces.
func cacheOptions(namespaces map[string]cache.Config) cache.Options {
	o := cache.Options{DefaultNamespaces: namespaces}
	controllers.ConfigureCache(&o)
	return o
}

func (e *testEnv) createNamespace(name string, labels map[string]string) string {
	e.t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		e.t.Fatal(err)
	}
	return name
}

// create creates obj, failing the test on error.
func (e *testEnv) create(obj client.Object) {
	e.t.Helper()
	if err := k8s.Create(e.ctx, obj); err != nil {
		e.t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// patSecretObj is a Secret with the simulator's PAT.
func (e *testEnv) patSecretObj(name string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name},
		StringData: map[string]string{"tokenName": patName, "tokenSecret": patSecret},
	}
}

// siteObj is a TableauSite for the simulator's site using the Secret secretName.
func (e *testEnv) siteObj(name, secretName string) *tableauv1.TableauSite {
	return &tableauv1.TableauSite{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name},
		Spec: tableauv1.TableauSiteSpec{
			ServerURL: e.sim.URL,
			Site:      siteName,
			Credentials: tableauv1.TableauCredentials{
				PersonalAccessToken: &tableauv1.SecretCredentials{SecretRef: tableauv1.LocalSecretReference{Name: secretName}},
			},
		},
	}
}

// readySite creates a PAT Secret and a TableauSite and waits until it is Ready.
func (e *testEnv) readySite(name string) *tableauv1.TableauSite {
	e.t.Helper()
	e.create(e.patSecretObj(name + "-pat"))
	site := e.siteObj(name, name+"-pat")
	e.create(site)
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
	return site
}

// webhookObj is a TableauWebhook on the site for event with a fixed URL.
func (e *testEnv) webhookObj(name, site, event, url string) *tableauv1.TableauWebhook {
	return &tableauv1.TableauWebhook{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name},
		Spec: tableauv1.TableauWebhookSpec{
			SiteRef:     tableauv1.SiteReference{Name: site},
			Event:       event,
			Destination: tableauv1.Destination{URL: url},
		},
	}
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const waitTimeout = 20 * time.Second

// waitCondition waits until obj (re-read from the API server) has the condition.
func (e *testEnv) waitCondition(obj client.Object, typ string, status metav1.ConditionStatus, reason string) {
	e.t.Helper()
	eventually(e.t, waitTimeout, func() error {
		if err := k8s.Get(e.ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		c := apimeta.FindStatusCondition(conditionsOf(obj), typ)
		if c == nil {
			return fmt.Errorf("%s has no %s condition yet", obj.GetName(), typ)
		}
		if c.Status != status || (reason != "" && c.Reason != reason) {
			return fmt.Errorf("%s: %s=%s reason %s (%s), want %s/%s", obj.GetName(), typ, c.Status, c.Reason, c.Message, status, reason)
		}
		if c.ObservedGeneration != obj.GetGeneration() {
			return fmt.Errorf("%s: condition is for generation %d, object is at %d", obj.GetName(), c.ObservedGeneration, obj.GetGeneration())
		}
		return nil
	})
}

func conditionsOf(obj client.Object) []metav1.Condition {
	switch o := obj.(type) {
	case *tableauv1.TableauWebhook:
		return o.Status.Conditions
	case *tableauv1.TableauSite:
		return o.Status.Conditions
	}
	return nil
}

// events returns the Events recorded for the object, oldest first.
func (e *testEnv) events(obj client.Object) []eventsv1.Event {
	e.t.Helper()
	var list eventsv1.EventList
	if err := k8s.List(e.ctx, &list, client.InNamespace(obj.GetNamespace())); err != nil {
		e.t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, ev := range list.Items {
		if ev.Regarding.Name == obj.GetName() && ev.Regarding.Kind == kindOf(obj) {
			out = append(out, ev)
		}
	}
	return out
}

func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *tableauv1.TableauWebhook:
		return "TableauWebhook"
	case *tableauv1.TableauSite:
		return "TableauSite"
	}
	return ""
}

// waitEvent waits for an Event with the reason regarding obj, and returns its note.
func (e *testEnv) waitEvent(obj client.Object, reason string) string {
	e.t.Helper()
	var note string
	eventually(e.t, waitTimeout, func() error {
		for _, ev := range e.events(obj) {
			if ev.Reason == reason {
				note = ev.Note
				return nil
			}
		}
		return fmt.Errorf("no %s event for %s yet", reason, obj.GetName())
	})
	return note
}

// simWebhooks returns the simulator's webhooks on the test site.
func (e *testEnv) simWebhooks() []tableautest.Webhook {
	return e.sim.Webhooks(siteName)
}

// waitGone waits until obj no longer exists in the API server.
func (e *testEnv) waitGone(obj client.Object) {
	e.t.Helper()
	eventually(e.t, waitTimeout, func() error {
		err := k8s.Get(e.ctx, client.ObjectKeyFromObject(obj), obj)
		if err == nil {
			return fmt.Errorf("%s still exists (finalizers %v)", obj.GetName(), obj.GetFinalizers())
		}
		return client.IgnoreNotFound(err)
	})
}

// update applies mutate to a fresh copy of obj and writes it, retrying on conflicts.
func (e *testEnv) update(obj client.Object, mutate func()) {
	e.t.Helper()
	eventually(e.t, waitTimeout, func() error {
		if err := k8s.Get(e.ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate()
		return k8s.Update(e.ctx, obj)
	})
}

// forTest returns a copy of the environment whose helpers report to t, for parallel
// subtests that share one manager.
func (e *testEnv) forTest(t *testing.T) *testEnv {
	c := *e
	c.t = t
	return &c
}

// newNamespace creates a namespace with a unique name, for tests that need more than one.
// Create it before newEnv and pass it to withExtraNamespaces so that the manager watches it.
func newNamespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	name := fmt.Sprintf("t%d", nsCounter.Add(1))
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// newSim starts a simulator of its own (one site, siteName, with the standard PAT unless
// opts say otherwise), so that a test's request counts are not shared with anything else.
func newSim(t *testing.T, opts ...tableautest.Option) *tableautest.Server {
	t.Helper()
	sim := tableautest.NewServer(append([]tableautest.Option{tableautest.WithSite(siteName)}, opts...)...)
	t.Cleanup(sim.Close)
	return sim
}

// secretObj is a Secret in the test namespace.
func (e *testEnv) secretObj(name string, data map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name}, StringData: data}
}

// siteOn is a TableauSite for siteName on the given server URL using the PAT Secret secretName.
func (e *testEnv) siteOn(name, serverURL, secretName string) *tableauv1.TableauSite {
	s := e.siteObj(name, secretName)
	s.Spec.ServerURL = serverURL
	return s
}

// readySiteOn creates a PAT Secret (the standard PAT) and a TableauSite on sim, and waits
// until it is Ready.
func (e *testEnv) readySiteOn(name string, sim *tableautest.Server) *tableauv1.TableauSite {
	e.t.Helper()
	e.create(e.patSecretObj(name + "-pat"))
	site := e.siteOn(name, sim.URL, name+"-pat")
	e.create(site)
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
	return site
}

// readyWebhook creates a webhook and waits until it is Ready.
func (e *testEnv) readyWebhook(wh *tableauv1.TableauWebhook) *tableauv1.TableauWebhook {
	e.t.Helper()
	e.create(wh)
	e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	return wh
}

// delete deletes obj, failing the test on error.
func (e *testEnv) delete(obj client.Object) {
	e.t.Helper()
	if err := k8s.Delete(e.ctx, obj); err != nil {
		e.t.Fatalf("delete %T %s: %v", obj, obj.GetName(), err)
	}
}

// get re-reads obj from the API server.
func (e *testEnv) get(obj client.Object) {
	e.t.Helper()
	if err := k8s.Get(e.ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		e.t.Fatalf("get %T %s: %v", obj, obj.GetName(), err)
	}
}

// expectCondition checks a condition of obj as last read: nil want means absent.
func expectCondition(t *testing.T, obj client.Object, typ string, want *metav1.ConditionStatus, reason string) {
	t.Helper()
	c := apimeta.FindStatusCondition(conditionsOf(obj), typ)
	switch {
	case want == nil && c != nil:
		t.Errorf("%s: unexpected condition %s=%s (%s: %s)", obj.GetName(), typ, c.Status, c.Reason, c.Message)
	case want != nil && c == nil:
		t.Errorf("%s: no %s condition, want %s/%s", obj.GetName(), typ, *want, reason)
	case want != nil && (c.Status != *want || (reason != "" && c.Reason != reason)):
		t.Errorf("%s: %s=%s reason %s (%s), want %s/%s", obj.GetName(), typ, c.Status, c.Reason, c.Message, *want, reason)
	}
}

// expectStalled checks the kstatus conditions that go with a terminal problem (Stalled, no
// Reconciling); expectReconciling those of a transient one or a wait (Reconciling, no Stalled).
func expectStalled(t *testing.T, obj client.Object, reason string) {
	t.Helper()
	expectCondition(t, obj, "Stalled", ptr.To(metav1.ConditionTrue), reason)
	expectCondition(t, obj, "Reconciling", nil, "")
}

func expectReconciling(t *testing.T, obj client.Object, reason string) {
	t.Helper()
	expectCondition(t, obj, "Reconciling", ptr.To(metav1.ConditionTrue), reason)
	expectCondition(t, obj, "Stalled", nil, "")
}

// readyMessage is the message of obj's Ready condition as last read.
func readyMessage(obj client.Object) string {
	if c := apimeta.FindStatusCondition(conditionsOf(obj), tableauv1.ConditionReady); c != nil {
		return c.Message
	}
	return ""
}

// staysAtMost watches count for the window and fails if it ever exceeds limit: the bounded
// observation window that shows there is no hot loop. It polls; it does not wait for
// anything to happen.
func staysAtMost(t *testing.T, window time.Duration, what string, limit int, count func() int) {
	t.Helper()
	deadline := time.Now().Add(window)
	for {
		if n := count(); n > limit {
			t.Fatalf("%s: %d, want at most %d within %s", what, n, limit, window)
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// noEvent fails if obj has an Event with the reason.
func (e *testEnv) noEvent(obj client.Object, reason string) {
	e.t.Helper()
	for _, ev := range e.events(obj) {
		if ev.Reason == reason {
			e.t.Errorf("unexpected %s event for %s: %s", reason, obj.GetName(), ev.Note)
		}
	}
}

// eventOf returns the first Event with the reason regarding obj (waiting for it), with type.
func (e *testEnv) waitEventOf(obj client.Object, reason string) eventsv1.Event {
	e.t.Helper()
	var found eventsv1.Event
	eventually(e.t, waitTimeout, func() error {
		for _, ev := range e.events(obj) {
			if ev.Reason == reason {
				found = ev
				return nil
			}
		}
		return fmt.Errorf("no %s event for %s yet", reason, obj.GetName())
	})
	return found
}

// simWebhook returns the simulator's webhook with the id on siteName.
func simWebhook(t *testing.T, sim *tableautest.Server, id string) tableautest.Webhook {
	t.Helper()
	w, ok := sim.Webhook(siteName, id)
	if !ok {
		t.Fatalf("simulator has no webhook %s; it has %+v", id, sim.Webhooks(siteName))
	}
	return w
}

// simWebhooksNamed returns the simulator's webhooks with the name on siteName.
func simWebhooksNamed(sim *tableautest.Server, name string) []tableautest.Webhook {
	var out []tableautest.Webhook
	for _, w := range sim.Webhooks(siteName) {
		if w.Name == name {
			out = append(out, w)
		}
	}
	return out
}

// closedPortURL is an http URL on a loopback port nothing listens on.
func closedPortURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

// recordingProxy sits between the operator and a simulator and records what only the wire
// shows: the session tokens the operator sends, when requests arrive, and how many webhook
// creations run at once.
type recordingProxy struct {
	URL string

	mu          sync.Mutex
	tokens      map[string]bool
	arrivals    []time.Time
	creating    int
	maxCreating int
}

func newRecordingProxy(t *testing.T, target string) *recordingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{tokens: map[string]bool{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		create := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/webhooks")
		p.mu.Lock()
		p.arrivals = append(p.arrivals, time.Now())
		if tok := r.Header.Get("X-Tableau-Auth"); tok != "" {
			p.tokens[tok] = true
		}
		if create {
			p.creating++
			p.maxCreating = max(p.maxCreating, p.creating)
		}
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
		if create {
			p.mu.Lock()
			p.creating--
			p.mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *recordingProxy) seenTokens() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.tokens))
	for tok := range p.tokens {
		out = append(out, tok)
	}
	return out
}

func (p *recordingProxy) arrivalTimes() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.arrivals)
}

func (p *recordingProxy) maxConcurrentCreates() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.maxCreating
}

// waitReadyMessage waits until obj's Ready message contains part (a message may be refined
// by a later reconcile, e.g. once the site's own condition is known).
func (e *testEnv) waitReadyMessage(obj client.Object, part string) {
	e.t.Helper()
	eventually(e.t, waitTimeout, func() error {
		e.get(obj)
		if msg := readyMessage(obj); !strings.Contains(msg, part) {
			return fmt.Errorf("%s: Ready message %q does not mention %q", obj.GetName(), msg, part)
		}
		return nil
	})
}

// waitCreatePendingCleared waits until status.pendingCreate is gone and status.webhookID is
// stored: the operator clears the one in the status write that records the other.
func (e *testEnv) waitCreatePendingCleared(wh *tableauv1.TableauWebhook) {
	e.t.Helper()
	eventually(e.t, waitTimeout, func() error {
		e.get(wh)
		if wh.Status.WebhookID == "" {
			return fmt.Errorf("%s has no webhookID", wh.Name)
		}
		if p := wh.Status.PendingCreate; p != nil {
			return fmt.Errorf("%s still has status.pendingCreate (%+v)", wh.Name, *p)
		}
		return nil
	})
}
