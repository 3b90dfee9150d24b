package eventrecorder

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	fakeclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/testenv"
)

// testConfig reaches the kube-apiserver that TestMain starts; nil in -short mode.
var testConfig *rest.Config

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // the tests that need the API server skip themselves
	}
	env, err := testenv.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if testConfig, err = env.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "start kube-apiserver and etcd: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop the control plane: %v\n", err)
	}
	os.Exit(code)
}

const controller = "eventrecorder-test"

// logs collects a logger's lines, for tests to look for.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, prefix+" "+args)
	}, funcr.Options{Verbosity: 1})
}

// count is how many lines contain s.
func (l *logs) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// fixture is a Recorder on the test API server, with a namespace of the test's own.
type fixture struct {
	t    *testing.T
	cs   kubernetes.Interface
	ns   string
	rec  *Recorder
	logs *logs
}

// setup makes a Recorder with opts writing to the API server through cfg (the test API server
// when nil), and a namespace for the test. It does not start it.
func setup(t *testing.T, cfg *rest.Config, opts Options) *fixture {
	t.Helper()
	if testing.Short() {
		t.Skip("needs kube-apiserver and etcd; run without -short")
	}
	cs, err := kubernetes.NewForConfig(testConfig)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "evrec-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg == nil {
		cfg = testConfig
	}
	writeClient, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, cs: cs, ns: ns.Name, logs: &logs{}}
	f.rec = New(writeClient.EventsV1(), clientgoscheme.Scheme, controller, f.logs.logger(), opts)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("recorder logs:\n%s", f.logs)
		}
	})
	return f
}

// start runs the Recorder until the test ends, and checks that Start then returns nil.
func (f *fixture) start() {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.rec.Start(ctx) }()
	f.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				f.t.Errorf("Start returned %v", err)
			}
		case <-time.After(10 * time.Second):
			f.t.Error("Start did not return after its context was cancelled")
		}
	})
}

// configMap is an object to report on. It need not exist: Events may regard any object.
func (f *fixture) configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: f.ns, UID: types.UID(f.ns + "-" + name), ResourceVersion: "1",
	}}
}

// events lists the Events of namespace ns regarding name, oldest first.
func (f *fixture) events(ctx context.Context, ns, name string) ([]eventsv1.Event, error) {
	list, err := f.cs.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b eventsv1.Event) int { return a.EventTime.Compare(b.EventTime.Time) })
	return out, nil
}

// waitEvents waits until check accepts the Events regarding name in the test's namespace, and
// returns them.
func (f *fixture) waitEvents(name string, check func([]eventsv1.Event) error) []eventsv1.Event {
	f.t.Helper()
	return f.waitEventsIn(f.ns, name, check)
}

func (f *fixture) waitEventsIn(ns, name string, check func([]eventsv1.Event) error) []eventsv1.Event {
	f.t.Helper()
	var got []eventsv1.Event
	testenv.Eventually(f.t, 30*time.Second, func(ctx context.Context) error {
		events, err := f.events(ctx, ns, name)
		if err != nil {
			return err
		}
		if err := check(events); err != nil {
			return fmt.Errorf("%w; events: %s", err, describe(events))
		}
		got = events
		return nil
	})
	return got
}

func describe(events []eventsv1.Event) string {
	parts := make([]string, 0, len(events))
	for _, e := range events {
		count := int32(1)
		if e.Series != nil {
			count = e.Series.Count
		}
		parts = append(parts, fmt.Sprintf("%s(count %d, note %.40q)", e.Name, count, e.Note))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// counts is the series count of each Event (1 without a series).
func counts(events []eventsv1.Event) []int32 {
	out := make([]int32, 0, len(events))
	for _, e := range events {
		if e.Series == nil {
			out = append(out, 1)
		} else {
			out = append(out, e.Series.Count)
		}
	}
	return out
}

// wantCounts accepts the Events whose series counts are want, in order.
func wantCounts(want ...int32) func([]eventsv1.Event) error {
	return func(events []eventsv1.Event) error {
		if got := counts(events); !slices.Equal(got, want) {
			return fmt.Errorf("series counts %v, want %v", got, want)
		}
		return nil
	}
}

// TestEventFields checks that an Event is made as client-go makes it.
func TestEventFields(t *testing.T) {
	f := setup(t, nil, Options{})
	f.start()
	cm := f.configMap("fields")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "related-pod", Namespace: f.ns, UID: "pod-uid"}}
	before := time.Now()
	annotations := map[string]string{"example.dev/key": "value"}
	f.rec.AnnotatedEventf(cm, pod, annotations,
		corev1.EventTypeWarning, "SyncFailed", "Reconcile", "failed %d times: %s", 3, "boom")
	annotations["example.dev/key"] = "changed after the call" // the Event keeps what it was given

	e := f.waitEvents(cm.Name, wantCounts(1))[0]
	hostname, _ := os.Hostname()
	if !strings.HasPrefix(e.Name, cm.Name+".") || e.Namespace != f.ns {
		t.Errorf("event %s/%s, want %s/%s.<hex time>", e.Namespace, e.Name, f.ns, cm.Name)
	}
	wantRegarding := corev1.ObjectReference{Kind: "ConfigMap", APIVersion: "v1", Namespace: f.ns, Name: cm.Name, UID: cm.UID, ResourceVersion: "1"}
	if e.Regarding != wantRegarding {
		t.Errorf("regarding %+v, want %+v", e.Regarding, wantRegarding)
	}
	if e.Related == nil || e.Related.Kind != "Pod" || e.Related.Name != pod.Name || e.Related.UID != pod.UID {
		t.Errorf("related %+v, want Pod %s", e.Related, pod.Name)
	}
	for field, got := range map[string][2]string{
		"reportingController": {e.ReportingController, controller},
		"reportingInstance":   {e.ReportingInstance, controller + "-" + hostname},
		"type":                {e.Type, corev1.EventTypeWarning},
		"reason":              {e.Reason, "SyncFailed"},
		"action":              {e.Action, "Reconcile"},
		"note":                {e.Note, "failed 3 times: boom"},
		"annotation":          {e.Annotations["example.dev/key"], "value"},
	} {
		if got[0] != got[1] {
			t.Errorf("%s %q, want %q", field, got[0], got[1])
		}
	}
	if e.EventTime.Time.Before(before.Truncate(time.Microsecond)) || e.EventTime.After(time.Now()) {
		t.Errorf("eventTime %s, not between %s and now", e.EventTime, before)
	}
	if e.Series != nil {
		t.Errorf("series %+v on a single event", e.Series)
	}
	// The V(1) line controller-runtime's provider logs for each Event.
	logLine := fmt.Sprintf(`"msg"="Event occurred" "object"={"name"=%q "namespace"=%q} "kind"="ConfigMap" "apiVersion"="v1" "type"="Warning" "reason"="SyncFailed" "action"="Reconcile" "note"="failed 3 times: boom"`, cm.Name, f.ns)
	if n := f.logs.count(logLine); n != 1 {
		t.Errorf("%d V(1) lines %s, want 1", n, logLine)
	}

	// For reports as another controller, through the same writer.
	f.rec.For("other-controller").Eventf(f.configMap("other"), nil, corev1.EventTypeNormal, "Synced", "Reconcile", "ok")
	other := f.waitEvents("other", wantCounts(1))[0]
	if other.ReportingController != "other-controller" || other.ReportingInstance != "other-controller-"+hostname || other.Related != nil {
		t.Errorf("For: controller %q instance %q related %v", other.ReportingController, other.ReportingInstance, other.Related)
	}

	// A cluster-scoped object's Events go to the default namespace, as client-go puts them.
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: f.ns + "-node", UID: "node-uid"}}
	f.rec.Eventf(node, nil, corev1.EventTypeNormal, "Seen", "Observe", "cluster-scoped")
	f.waitEventsIn(metav1.NamespaceDefault, node.Name, wantCounts(1))
}

// TestUnreportableEvents checks that Events that cannot be made are dropped with a log line,
// not a panic, and do not stop the ones after them.
func TestUnreportableEvents(t *testing.T) {
	f := setup(t, nil, Options{})
	f.start()
	var nilPod *corev1.Pod
	f.rec.Eventf(nil, nil, corev1.EventTypeNormal, "R", "A", "nil object")
	f.rec.Eventf(nilPod, nil, corev1.EventTypeNormal, "R", "A", "typed nil object")
	f.rec.Eventf(&struct{ corev1.Pod }{}, nil, corev1.EventTypeNormal, "R", "A", "kind not in the scheme")
	f.rec.Eventf(f.configMap("bad-type"), nil, "Critical", "R", "A", "type neither Normal nor Warning")
	if n := f.logs.count("will not report event"); n != 4 {
		t.Errorf("%d lines about unreportable events, want 4", n)
	}
	// An unreferenceable related object costs the Event only its related field.
	f.rec.Eventf(f.configMap("good"), nilPod, corev1.EventTypeNormal, "R", "A", "fine")
	if e := f.waitEvents("good", wantCounts(1))[0]; e.Related != nil {
		t.Errorf("related %+v, want none", e.Related)
	}
	if events, err := f.events(t.Context(), f.ns, "bad-type"); err != nil || len(events) != 0 {
		t.Errorf("events of an invalid type: %v, %v", describe(events), err)
	}
}

// TestSeries checks that repeats within the window make one Event whose series counts them
// all, including repeats written by the periodic flush and by a changed resourceVersion, and
// that a different note is a different Event.
func TestSeries(t *testing.T) {
	f := setup(t, nil, Options{SeriesUpdateInterval: 50 * time.Millisecond})
	f.start()
	cm := f.configMap("series")
	for i := range 5 {
		if i == 3 {
			cm.ResourceVersion = "2" // a status write between two events does not end the series
		}
		f.rec.Eventf(cm, nil, corev1.EventTypeWarning, "Failed", "Reconcile", "still failing")
	}
	last := time.Now()
	f.rec.Eventf(cm, nil, corev1.EventTypeWarning, "Failed", "Reconcile", "failing differently")

	events := f.waitEvents(cm.Name, func(events []eventsv1.Event) error {
		byNote := map[string][]int32{}
		for _, e := range events {
			byNote[e.Note] = append(byNote[e.Note], counts([]eventsv1.Event{e})...)
		}
		if len(events) != 2 || !slices.Equal(byNote["still failing"], []int32{5}) || !slices.Equal(byNote["failing differently"], []int32{1}) {
			return errors.New("want one Event with series count 5 and one single Event")
		}
		return nil
	})
	for _, e := range events {
		if e.Series != nil && e.Series.LastObservedTime.After(last) {
			t.Errorf("series last observed %s, after the last repeat at %s", e.Series.LastObservedTime, last)
		}
		if e.Series != nil && !e.Series.LastObservedTime.After(e.EventTime.Time) {
			t.Errorf("series last observed %s, not after the first observation %s", e.Series.LastObservedTime, e.EventTime)
		}
	}
}

// TestSeriesWindow checks that the window runs from the last observation: a repeat within 6
// minutes of it joins the series, even 10 minutes after the first, and one after 7 minutes
// starts a new Event.
func TestSeriesWindow(t *testing.T) {
	clock := fakeclock.NewFakePassiveClock(time.Now())
	f := setup(t, nil, Options{Clock: clock, SeriesUpdateInterval: time.Millisecond})
	f.start()
	cm := f.configMap("window")
	emit := func() { f.rec.Eventf(cm, nil, corev1.EventTypeNormal, "Tick", "Reconcile", "tick") }
	step := func(d time.Duration) { clock.SetTime(clock.Now().Add(d)) }

	emit()
	f.waitEvents(cm.Name, wantCounts(1))
	step(5 * time.Minute)
	emit()
	f.waitEvents(cm.Name, wantCounts(2))
	step(5 * time.Minute)
	emit()
	f.waitEvents(cm.Name, wantCounts(3))
	step(7 * time.Minute)
	emit()
	f.waitEvents(cm.Name, wantCounts(3, 1))
}

// TestCacheBound checks that the series cache holds at most CacheSize events, that a repeat of
// an evicted one makes a new Event rather than a PATCH, and that one still cached is patched.
// One writer, so that its cache is the whole CacheSize (TestShares checks the division).
func TestCacheBound(t *testing.T) {
	const size = 2
	f := setup(t, nil, Options{Writers: 1, CacheSize: size, SeriesUpdateInterval: time.Millisecond})
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n := int64(f.rec.cached()); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	f.start()
	emit := func(name string) {
		f.rec.Eventf(f.configMap(name), nil, corev1.EventTypeNormal, "Synced", "Reconcile", "synced")
	}
	for _, name := range []string{"a", "b", "c"} {
		emit(name)
		f.waitEvents(name, wantCounts(1))
	}
	emit("a") // evicted by c: a new Event
	emit("c") // cached: its series
	f.waitEvents("a", wantCounts(1, 1))
	f.waitEvents("c", wantCounts(2))
	f.waitEvents("b", wantCounts(1))
	close(stop)
	<-sampled
	if p := peak.Load(); p > size || p == 0 {
		t.Errorf("cache held up to %d entries, want 1 to %d", p, size)
	}
	if n := f.rec.cached(); n != size {
		t.Errorf("cache holds %d entries, want %d", n, size)
	}
}

// TestEvictionWritesPendingCount checks that a series count not yet written when its event
// leaves the cache is written then, not lost.
func TestEvictionWritesPendingCount(t *testing.T) {
	// One writer, so that b evicts a from the one cache entry.
	f := setup(t, nil, Options{Writers: 1, CacheSize: 1, SeriesUpdateInterval: time.Hour})
	f.start()
	a := f.configMap("a")
	for range 3 {
		f.rec.Eventf(a, nil, corev1.EventTypeNormal, "Synced", "Reconcile", "synced")
	}
	// Count 2 is written at once; 3 waits for the hourly update...
	f.waitEvents("a", wantCounts(2))
	// ... or for a to leave the cache, pushed out by b.
	f.rec.Eventf(f.configMap("b"), nil, corev1.EventTypeNormal, "Synced", "Reconcile", "synced")
	f.waitEvents("b", wantCounts(1))
	f.waitEvents("a", wantCounts(3))
}

// TestSeriesOfDeletedEvent checks that a repeat of an Event deleted from the API makes a new
// Event, whose own repeats then make its series.
func TestSeriesOfDeletedEvent(t *testing.T) {
	f := setup(t, nil, Options{SeriesUpdateInterval: time.Millisecond})
	f.start()
	cm := f.configMap("deleted")
	emit := func() { f.rec.Eventf(cm, nil, corev1.EventTypeNormal, "Synced", "Reconcile", "synced") }
	emit()
	first := f.waitEvents(cm.Name, wantCounts(1))[0]
	if err := f.cs.EventsV1().Events(f.ns).Delete(t.Context(), first.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitEvents(cm.Name, wantCounts())
	emit()
	second := f.waitEvents(cm.Name, wantCounts(1))[0]
	if second.Name == first.Name {
		t.Errorf("the new Event has the deleted one's name %s", first.Name)
	}
	emit()
	if e := f.waitEvents(cm.Name, wantCounts(2))[0]; e.Name != second.Name {
		t.Errorf("series on %s, want it on the new Event %s", e.Name, second.Name)
	}
}

// TestQueueFull checks that Eventf does not block on a full queue (nothing is writing it
// before Start), drops what does not fit, says so once rather than once per Event, and that
// the queued ones are written once the writer starts. One writer, so that its queue is the
// whole QueueSize and the Events of one series fill it.
func TestQueueFull(t *testing.T) {
	const queued, emitted = 3, 50
	f := setup(t, nil, Options{Writers: 1, QueueSize: queued})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range emitted {
			f.rec.Eventf(f.configMap("full"), nil, corev1.EventTypeNormal, "Synced", "Reconcile", "event %d", i)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Eventf blocked on a full queue")
	}
	if d := f.rec.Dropped(); d != emitted-queued {
		t.Errorf("dropped %d events, want %d", d, emitted-queued)
	}
	if n := f.logs.count("Event queue is full"); n != 1 {
		t.Errorf("%d log lines about the full queue, want 1", n)
	}
	f.start()
	f.waitEvents("full", wantCounts(1, 1, 1))
	testenv.Eventually(t, 10*time.Second, func(context.Context) error {
		if n := f.rec.queued(); n > 0 {
			return fmt.Errorf("%d events still queued", n)
		}
		return nil
	})
	if events, err := f.events(t.Context(), f.ns, "full"); err != nil || len(events) != queued {
		t.Errorf("after the queue drained: %s, %v; want %d events", describe(events), err, queued)
	}
}

// TestLongNoteTruncated checks that a note over the API's limit, which the API server rejects
// as it is, is cut to fit at a character boundary and accepted.
func TestLongNoteTruncated(t *testing.T) {
	f := setup(t, nil, Options{})
	cm := f.configMap("long")
	long := strings.Repeat("é", noteLengthLimit) // 2 bytes each
	tooLong := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "too-long", Namespace: f.ns},
		EventTime:  metav1.NowMicro(), ReportingController: controller, ReportingInstance: controller + "-x",
		Action: "Reconcile", Reason: "Long", Type: corev1.EventTypeNormal,
		Regarding: corev1.ObjectReference{Kind: "ConfigMap", APIVersion: "v1", Namespace: f.ns, Name: cm.Name},
		Note:      long[:noteLengthLimit+1],
	}
	if _, err := f.cs.EventsV1().Events(f.ns).Create(t.Context(), tooLong, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("the API server accepted a note of %d bytes (%v): the limit is not %d", len(tooLong.Note), err, noteLengthLimit)
	}
	f.start()
	f.rec.Eventf(cm, nil, corev1.EventTypeNormal, "Long", "Reconcile", "%s", long)
	note := f.waitEvents(cm.Name, wantCounts(1))[0].Note
	if len(note) > noteLengthLimit || len(note) < noteLengthLimit-len(truncatedSuffix)-utf8.UTFMax || !utf8.ValidString(note) ||
		!strings.HasSuffix(note, truncatedSuffix) || !strings.HasPrefix(long, strings.TrimSuffix(note, truncatedSuffix)) {
		t.Errorf("note of %d bytes, valid UTF-8 %v, ends %q", len(note), utf8.ValidString(note), note[max(0, len(note)-10):])
	}
}

func TestTruncateNote(t *testing.T) {
	exact := strings.Repeat("x", noteLengthLimit)
	if got := truncateNote(exact); got != exact {
		t.Errorf("a note of exactly %d bytes was changed to %d bytes", noteLengthLimit, len(got))
	}
	for _, s := range []string{"x", "é", "日本", "🙂"} {
		got := truncateNote(strings.Repeat(s, noteLengthLimit+1))
		if len(got) > noteLengthLimit || !utf8.ValidString(got) || !strings.HasSuffix(got, truncatedSuffix) {
			t.Errorf("%q×%d: %d bytes, valid UTF-8 %v", s, noteLengthLimit+1, len(got), utf8.ValidString(got))
		}
	}
}

// flakyProxy forwards requests to the test API server, answering the first failures POSTs
// itself with status instead, and counts the POSTs. Its other fields fault writes (POSTs and
// PATCHes) in other ways: lostAnswers forwards the POSTs after the failures but answers them
// 503, as when the answer of a create that went through is lost; latency delays every write;
// hold makes every write wait until it is closed (release); stuck fails, with 503, every POST
// whose body contains it.
type flakyProxy struct {
	failures    int32
	status      int
	lostAnswers int32
	latency     time.Duration
	hold        chan struct{}
	stuck       string

	posts       atomic.Int32
	held        atomic.Int32 // writes that have waited for hold
	inFlight    atomic.Int32 // writes being answered
	peak        atomic.Int32 // the most writes answered at once
	releaseOnce sync.Once
}

// release lets the writes held by hold through, and those after them.
func (p *flakyProxy) release() {
	p.releaseOnce.Do(func() { close(p.hold) })
}

func (p *flakyProxy) config(t *testing.T) *rest.Config {
	t.Helper()
	if testing.Short() {
		t.Skip("needs kube-apiserver and etcd; run without -short")
	}
	upstream, err := url.Parse(testConfig.Host)
	if err != nil {
		t.Fatal(err)
	}
	transport, err := rest.TransportFor(testConfig)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	proxy.Transport = transport
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost || r.Method == http.MethodPatch {
			n := p.inFlight.Add(1)
			defer p.inFlight.Add(-1)
			for {
				peak := p.peak.Load()
				if n <= peak || p.peak.CompareAndSwap(peak, n) {
					break
				}
			}
			if p.hold != nil {
				p.held.Add(1)
				select {
				case <-p.hold:
				case <-r.Context().Done():
					return
				}
			}
			if p.latency > 0 { // the API server's latency, simulated: not a wait for anything
				select {
				case <-time.After(p.latency):
				case <-r.Context().Done():
					return
				}
			}
		}
		if r.Method == http.MethodPost {
			n := p.posts.Add(1)
			if p.stuck != "" {
				body, err := io.ReadAll(r.Body)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				if bytes.Contains(body, []byte(p.stuck)) {
					http.Error(w, "injected failure", http.StatusServiceUnavailable)
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
			if n <= p.failures {
				http.Error(w, "injected failure", p.status)
				return
			}
			if n <= p.failures+p.lostAnswers {
				proxy.ServeHTTP(httptest.NewRecorder(), r)
				http.Error(w, "injected loss of the answer", http.StatusServiceUnavailable)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(server.Close)
	if p.hold != nil {
		t.Cleanup(p.release) // before server.Close, which waits for the held requests
	}
	// No client-side rate limit, as controller-runtime's GetConfig configures it (QPS -1, left
	// to the API server's priority and fairness): client-go's default, 5 a second, would bound
	// the writers below what the tests measure.
	return &rest.Config{Host: server.URL, QPS: -1}
}

// TestRetriesTransientErrors checks that a write failing with 503 is retried until it succeeds.
func TestRetriesTransientErrors(t *testing.T) {
	p := &flakyProxy{failures: 2, status: http.StatusServiceUnavailable}
	f := setup(t, p.config(t), Options{RetryDelay: time.Millisecond})
	f.start()
	f.rec.Eventf(f.configMap("flaky"), nil, corev1.EventTypeNormal, "Synced", "Reconcile", "synced")
	f.waitEvents("flaky", wantCounts(1))
	if n := p.posts.Load(); n != 3 {
		t.Errorf("%d POSTs, want 3 (two failures and the one that succeeds)", n)
	}
}

// TestGivesUpAfterMaxAttempts checks that retries stop at MaxAttempts.
func TestGivesUpAfterMaxAttempts(t *testing.T) {
	p := &flakyProxy{failures: 1000, status: http.StatusInternalServerError}
	f := setup(t, p.config(t), Options{RetryDelay: time.Millisecond, MaxAttempts: 4})
	f.start()
	f.rec.Eventf(f.configMap("down"), nil, corev1.EventTypeNormal, "Synced", "Reconcile", "synced")
	testenv.Eventually(t, 10*time.Second, func(context.Context) error {
		if f.logs.count("retry limit exceeded after 4 attempts") == 0 {
			return errors.New("the writer has not given up")
		}
		return nil
	})
	if n := p.posts.Load(); n != 4 {
		t.Errorf("%d POSTs, want 4", n)
	}
}

// TestPermanentErrorsNotRetried checks that an Event the API server rejects (invalid, or in a
// namespace that does not exist) is tried once: a retry would wait an hour and hold up the
// Event after it (one writer, so that it is after them on the same one).
func TestPermanentErrorsNotRetried(t *testing.T) {
	p := &flakyProxy{}
	f := setup(t, p.config(t), Options{Writers: 1, RetryDelay: time.Hour})
	f.start()
	f.rec.Eventf(f.configMap("invalid"), nil, corev1.EventTypeNormal, "", "Reconcile", "no reason")
	missing := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: f.ns + "-missing"}}
	f.rec.Eventf(missing, nil, corev1.EventTypeNormal, "Synced", "Reconcile", "no namespace")
	f.rec.Eventf(f.configMap("valid"), nil, corev1.EventTypeNormal, "Synced", "Reconcile", "fine")
	f.waitEvents("valid", wantCounts(1))
	if n := p.posts.Load(); n != 3 {
		t.Errorf("%d POSTs, want 3, one per Event", n)
	}
	if n := f.logs.count("Unable to write event, dropping it"); n != 2 {
		t.Errorf("%d log lines about rejected events, want 2", n)
	}
	if n := f.logs.count("will retry"); n != 0 {
		t.Errorf("%d retries, want none", n)
	}
}

// TestStartStopsWhileRetrying checks that cancelling Start's context ends it within
// ShutdownGrace, also while it waits to retry a write to an API server that is not there; and
// that Start runs once.
func TestStartStopsWhileRetrying(t *testing.T) {
	if testing.Short() {
		t.Skip("needs kube-apiserver and etcd; run without -short")
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nowhere := "http://" + listener.Addr().String()
	_ = listener.Close()
	f := setup(t, &rest.Config{Host: nowhere}, Options{RetryDelay: time.Hour, ShutdownGrace: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.rec.Start(ctx) }()
	f.rec.Eventf(f.configMap("unsent"), nil, corev1.EventTypeNormal, "Synced", "Reconcile", "synced")
	testenv.Eventually(t, 10*time.Second, func(context.Context) error {
		if f.logs.count("will retry") == 0 {
			return errors.New("the writer has not failed a write yet")
		}
		return nil
	})
	if err := f.rec.Start(ctx); err == nil {
		t.Error("a second Start returned nil")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Start returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Start did not return after its context was cancelled")
	}
	// After Start, Eventf drops at once rather than filling the queue.
	f.rec.Eventf(f.configMap("late"), nil, corev1.EventTypeNormal, "Synced", "Reconcile", "synced")
	if n := f.rec.queued(); n != 0 {
		t.Errorf("%d events queued after Start returned", n)
	}
}

// TestConcurrentUse checks that Eventf from many goroutines loses no repeat: the series counts
// add up to the number of calls.
func TestConcurrentUse(t *testing.T) {
	const goroutines, calls, objects = 20, 50, 5
	// Each of the default 8 shards can queue every call: all the repeats of an object go to
	// one shard, which may be busy creating the Event while they come.
	f := setup(t, nil, Options{QueueSize: 8 * goroutines * calls, SeriesUpdateInterval: 20 * time.Millisecond})
	f.start()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				name := fmt.Sprintf("obj-%d", (g+i)%objects)
				f.rec.AnnotatedEventf(f.configMap(name), nil, map[string]string{"k": "v"}, corev1.EventTypeNormal, "Synced", "Reconcile", "synced")
			}
		})
	}
	wg.Wait()
	if d := f.rec.Dropped(); d != 0 {
		t.Fatalf("dropped %d events", d)
	}
	for o := range objects {
		f.waitEvents(fmt.Sprintf("obj-%d", o), wantCounts(goroutines*calls/objects))
	}
}

// TestWritesWithoutLeadership checks the Recorder as a manager Runnable: it writes Events while
// the manager waits for a leader Lease that another holds.
func TestWritesWithoutLeadership(t *testing.T) {
	f := setup(t, nil, Options{})
	holder := "someone-else"
	if _, err := f.cs.CoordinationV1().Leases(f.ns).Create(t.Context(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "evrec-leader", Namespace: f.ns},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: &holder, LeaseDurationSeconds: ptr.To[int32](3600),
			AcquireTime: ptr.To(metav1.NowMicro()), RenewTime: ptr.To(metav1.NowMicro()),
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mgr, err := manager.New(testConfig, manager.Options{
		Scheme:                  clientgoscheme.Scheme,
		LeaderElection:          true,
		LeaderElectionID:        "evrec-leader",
		LeaderElectionNamespace: f.ns,
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		Logger:                  logr.Discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.Add(f.rec); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	f.rec.Eventf(f.configMap("follower"), nil, corev1.EventTypeNormal, "Synced", "Reconcile", "written by a follower")
	f.waitEvents("follower", wantCounts(1))
	select {
	case <-mgr.Elected():
		t.Error("the manager was elected although another holds the Lease: the test proves nothing")
	default:
	}
}

// TestKey checks what makes two events one series.
func TestKey(t *testing.T) {
	base := func() *eventsv1.Event {
		return &eventsv1.Event{
			Type: corev1.EventTypeNormal, Reason: "R", Action: "A", Note: "n",
			ReportingController: "c", ReportingInstance: "c-h",
			Regarding: corev1.ObjectReference{Kind: "ConfigMap", Namespace: "ns", Name: "x", UID: "u", ResourceVersion: "1"},
		}
	}
	same := map[string]func(*eventsv1.Event){
		"event name":      func(e *eventsv1.Event) { e.Name = "other" },
		"event time":      func(e *eventsv1.Event) { e.EventTime = metav1.NowMicro() },
		"resourceVersion": func(e *eventsv1.Event) { e.Regarding.ResourceVersion = "2" },
	}
	different := map[string]func(*eventsv1.Event){
		"type":       func(e *eventsv1.Event) { e.Type = corev1.EventTypeWarning },
		"reason":     func(e *eventsv1.Event) { e.Reason = "R2" },
		"action":     func(e *eventsv1.Event) { e.Action = "A2" },
		"note":       func(e *eventsv1.Event) { e.Note = "n2" },
		"controller": func(e *eventsv1.Event) { e.ReportingController = "c2" },
		"instance":   func(e *eventsv1.Event) { e.ReportingInstance = "c-h2" },
		"regarding":  func(e *eventsv1.Event) { e.Regarding.UID = "u2" },
		"related":    func(e *eventsv1.Event) { e.Related = &corev1.ObjectReference{Name: "x"} },
		"annotation": func(e *eventsv1.Event) { e.Annotations = map[string]string{"k": "v"} },
		// Length prefixes keep field boundaries: "R"+"A" is not "RA"+"".
		"boundary": func(e *eventsv1.Event) { e.Reason, e.Action = "RA", "" },
	}
	want := keyOf(base())
	for name, change := range same {
		e := base()
		change(e)
		if keyOf(e) != want {
			t.Errorf("changing the %s ends the series", name)
		}
	}
	for name, change := range different {
		e := base()
		change(e)
		if keyOf(e) == want {
			t.Errorf("changing the %s keeps the series", name)
		}
	}
}

func TestTransient(t *testing.T) {
	gr := eventsv1.Resource("events")
	for _, c := range []struct {
		err  error
		want bool
	}{
		{apierrors.NewServiceUnavailable("x"), true},
		{apierrors.NewInternalError(errors.New("x")), true},
		{apierrors.NewTooManyRequests("x", 1), true},
		{apierrors.NewServerTimeout(gr, "create", 1), true},
		{&url.Error{Op: "Post", URL: "https://x", Err: errors.New("connection refused")}, true},
		{apierrors.NewInvalid(eventsv1.SchemeGroupVersion.WithKind("Event").GroupKind(), "x", nil), false},
		{apierrors.NewNotFound(gr, "x"), false},
		{apierrors.NewAlreadyExists(gr, "x"), false},
		{apierrors.NewForbidden(gr, "x", errors.New("namespace terminating")), false},
		{&rest.RequestConstructionError{Err: errors.New("x")}, false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// queued is how many Events wait in the shards' queues.
func (w *writer) queued() int {
	n := 0
	for _, s := range w.shards {
		n += len(s.queue)
	}
	return n
}

// cached is how many events the shards' series caches hold.
func (w *writer) cached() int {
	n := 0
	for _, s := range w.shards {
		n += s.cache.Len()
	}
	return n
}

// TestShares checks that QueueSize and CacheSize are totals divided among the writers, each
// with at least 1, and that distinct events spread over the shards.
func TestShares(t *testing.T) {
	for _, c := range []struct {
		total, n int
		want     []int
	}{
		{1000, 8, []int{125, 125, 125, 125, 125, 125, 125, 125}},
		{10, 3, []int{4, 3, 3}},
		{2, 3, []int{1, 1, 1}},
		{5, 1, []int{5}},
	} {
		got := make([]int, c.n)
		for i := range got {
			got[i] = share(c.total, c.n, i)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%d among %d: %v, want %v", c.total, c.n, got, c.want)
		}
	}

	cs, err := kubernetes.NewForConfig(&rest.Config{Host: "http://127.0.0.1:1"}) // never reached
	if err != nil {
		t.Fatal(err)
	}
	rec := New(cs.EventsV1(), clientgoscheme.Scheme, controller, logr.Discard(), Options{Writers: 3, QueueSize: 10, CacheSize: 20})
	if len(rec.shards) != 3 || rec.queueSize != 10 {
		t.Fatalf("%d shards with %d queue slots, want 3 with 10", len(rec.shards), rec.queueSize)
	}
	for i, s := range rec.shards {
		for k := range 100 {
			s.cache.Add(seriesKey{byte(k)}, &series{})
		}
		if n, want := s.cache.Len(), []int{7, 7, 6}[i]; n != want {
			t.Errorf("shard %d caches %d events, want %d", i, n, want)
		}
	}
	if def := New(cs.EventsV1(), clientgoscheme.Scheme, controller, logr.Discard(), Options{}); len(def.shards) != 8 || def.queueSize != 1000 {
		t.Errorf("defaults: %d shards with %d queue slots, want 8 with 1000", len(def.shards), def.queueSize)
	}

	used := map[*shard]bool{}
	for i := range 100 {
		e := rec.makeEvent(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint(i), Namespace: "ns"}},
			nil, nil, corev1.EventTypeNormal, "R", "A", "n", nil)
		used[rec.shardOf(keyOf(e))] = true
	}
	if len(used) != len(rec.shards) {
		t.Errorf("100 distinct events on %d of %d shards", len(used), len(rec.shards))
	}
}

// TestBurstWithoutDrops checks that the writers keep up with a burst of creations that one
// writer could not carry at the API server's latency: each write takes latency more, so one
// writer writes at most 1/latency Events a second, less than the burst's rate, and its
// backlog outgrows the queue.
func TestBurstWithoutDrops(t *testing.T) {
	const (
		latency   = 25 * time.Millisecond // one writer: at most 40 Events a second
		every     = 10 * time.Millisecond // the burst: 100 a second, one per new object
		n         = 120                   // so one writer's backlog grows past 70
		queueSize = 32
	)
	burst := func(t *testing.T, writers int) (*fixture, *flakyProxy) {
		p := &flakyProxy{latency: latency}
		f := setup(t, p.config(t), Options{Writers: writers, QueueSize: queueSize})
		f.start()
		pace := time.NewTicker(every) // the pace of the burst, not a wait for anything
		defer pace.Stop()
		for i := range n {
			<-pace.C
			f.rec.Eventf(f.configMap(fmt.Sprintf("burst-%d", i)), nil, corev1.EventTypeNormal, "Created", "Create", "created")
		}
		return f, p
	}
	t.Run("OneWriterDrops", func(t *testing.T) {
		if f, _ := burst(t, 1); f.rec.Dropped() == 0 {
			t.Error("one writer dropped nothing: the burst is not more than it carries, and proves nothing")
		}
	})
	t.Run("DefaultWriters", func(t *testing.T) {
		f, p := burst(t, 0)
		testenv.Eventually(t, 30*time.Second, func(ctx context.Context) error {
			list, err := f.cs.EventsV1().Events(f.ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			if len(list.Items) != n {
				return fmt.Errorf("%d Events, want %d", len(list.Items), n)
			}
			return nil
		})
		if d := f.rec.Dropped(); d != 0 {
			t.Errorf("dropped %d events", d)
		}
		if peak := p.peak.Load(); peak < 2 {
			t.Errorf("at most %d write in flight at once", peak)
		}
	})
}

// TestRetryHoldsOnlyItsShard checks that an Event being retried does not hold up the Events of
// other series, which go to other writers.
func TestRetryHoldsOnlyItsShard(t *testing.T) {
	p := &flakyProxy{stuck: "stuck-object"}
	f := setup(t, p.config(t), Options{RetryDelay: time.Hour, ShutdownGrace: 100 * time.Millisecond})
	f.start()
	event := func(name string) (*corev1.ConfigMap, *shard) {
		cm := f.configMap(name)
		return cm, f.rec.shardOf(keyOf(f.rec.makeEvent(cm, nil, nil, corev1.EventTypeNormal, "Synced", "Reconcile", "synced", nil)))
	}
	stuck, stuckShard := event("stuck-object")
	f.rec.Eventf(stuck, nil, corev1.EventTypeNormal, "Synced", "Reconcile", "synced")
	testenv.Eventually(t, 10*time.Second, func(context.Context) error {
		if f.logs.count("will retry") == 0 {
			return errors.New("the stuck Event has not failed yet")
		}
		return nil
	})
	var free []string
	for i := 0; i < 1000 && len(free) < 10; i++ {
		if cm, s := event(fmt.Sprintf("free-%d", i)); s != stuckShard {
			free = append(free, cm.Name)
			f.rec.Eventf(cm, nil, corev1.EventTypeNormal, "Synced", "Reconcile", "synced")
		}
	}
	if len(free) < 10 {
		t.Fatalf("%d of 1000 objects' Events go to another writer than the stuck one's: there are %d writers", len(free), len(f.rec.shards))
	}
	for _, name := range free {
		f.waitEvents(name, wantCounts(1))
	}
}

// byKind is events by the kind of their regarding object.
func byKind(events []eventsv1.Event) map[string]eventsv1.Event {
	out := map[string]eventsv1.Event{}
	for _, e := range events {
		out[e.Regarding.Kind] = e
	}
	return out
}

// TestNameCollision checks that two Events whose names collide (same-named objects of two
// kinds, at one instant of a coarse clock) are both written, and that the repeats of the second
// make its own series, not the first's.
func TestNameCollision(t *testing.T) {
	clock := fakeclock.NewFakePassiveClock(time.Now()) // never moves: every Event has its instant
	f := setup(t, nil, Options{Writers: 1, Clock: clock})
	f.start()
	cm := f.configMap("same")
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "same", Namespace: f.ns, UID: "secret-uid"}}
	f.rec.Eventf(cm, nil, corev1.EventTypeNormal, "Synced", "Reconcile", "config map synced")
	f.rec.Eventf(secret, nil, corev1.EventTypeNormal, "Synced", "Reconcile", "secret synced")
	events := byKind(f.waitEvents("same", func(events []eventsv1.Event) error {
		if kinds := byKind(events); len(events) != 2 || len(kinds) != 2 {
			return errors.New("want one Event about the ConfigMap and one about the Secret")
		}
		return nil
	}))
	taken := fmt.Sprintf("same.%x", clock.Now().UnixNano())
	if name := events["ConfigMap"].Name; name != taken {
		t.Errorf("the first Event is %s, want %s", name, taken)
	}
	if name := events["Secret"].Name; !strings.HasPrefix(name, taken+"-") || len(name) <= len(taken+"-") {
		t.Errorf("the second Event is %s, want %s-<generated>", name, taken)
	}
	if n := f.logs.count("Event name taken by another Event"); n != 1 {
		t.Errorf("%d log lines about the taken name, want 1", n)
	}

	f.rec.Eventf(secret, nil, corev1.EventTypeNormal, "Synced", "Reconcile", "secret synced")
	f.waitEvents("same", func(events []eventsv1.Event) error {
		kinds := byKind(events)
		if len(events) != 2 || counts([]eventsv1.Event{kinds["ConfigMap"]})[0] != 1 || counts([]eventsv1.Event{kinds["Secret"]})[0] != 2 {
			return errors.New("want the Secret's Event with series count 2 and the ConfigMap's without a series")
		}
		return nil
	})
}

// TestCreateRetriedAfterLostAnswer checks that a create that went through but whose answer was
// lost is not made twice: its retry's AlreadyExists is the same Event, whose series its repeats
// then make.
func TestCreateRetriedAfterLostAnswer(t *testing.T) {
	p := &flakyProxy{lostAnswers: 1}
	f := setup(t, p.config(t), Options{RetryDelay: time.Millisecond})
	f.start()
	cm := f.configMap("lost")
	for range 2 {
		f.rec.Eventf(cm, nil, corev1.EventTypeNormal, "Synced", "Reconcile", "synced")
	}
	f.waitEvents(cm.Name, wantCounts(2))
	if n := p.posts.Load(); n != 2 {
		t.Errorf("%d POSTs, want 2 (the one whose answer was lost, and its retry)", n)
	}
	if n := f.logs.count("Event name taken by another Event"); n != 0 {
		t.Errorf("the retry made a second Event")
	}
}

func TestUnsent(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&url.Error{Op: "Post", URL: "https://x", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, true},
		{apierrors.NewTooManyRequests("x", 1), true},
		{&url.Error{Op: "Post", URL: "https://x", Err: &net.OpError{Op: "read", Err: errors.New("connection reset")}}, false},
		{context.DeadlineExceeded, false},
		{apierrors.NewServiceUnavailable("x"), false},
	} {
		if got := unsent(c.err); got != c.want {
			t.Errorf("unsent(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestShutdownDrains checks that cancelling Start's context does not lose Events: those queued
// before, those emitted after (by reconciles the manager stops later), and the series counts
// not yet due are all written before Start returns.
func TestShutdownDrains(t *testing.T) {
	p := &flakyProxy{hold: make(chan struct{})}
	f := setup(t, p.config(t), Options{SeriesUpdateInterval: time.Hour, ShutdownGrace: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.rec.Start(ctx) }()
	emit := func(name string) {
		f.rec.Eventf(f.configMap(name), nil, corev1.EventTypeNormal, "Synced", "Reconcile", "synced")
	}

	emit("first")
	testenv.Eventually(t, 10*time.Second, func(context.Context) error {
		if p.held.Load() == 0 {
			return errors.New("the first write has not reached the proxy")
		}
		return nil
	})
	for range 3 { // created, count 2 at once, count 3 not due for an hour
		emit("repeated")
	}
	cancel()
	emit("late")
	select {
	case err := <-done:
		t.Fatalf("Start returned (%v) with writes still to do", err)
	default: // it cannot have: the proxy holds a write, and the grace period is a minute
	}
	p.release()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Start returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Start did not return after draining")
	}
	// Written before Start returned: no waiting now.
	for name, want := range map[string][]int32{"first": {1}, "repeated": {3}, "late": {1}} {
		events, err := f.events(t.Context(), f.ns, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := counts(events); !slices.Equal(got, want) {
			t.Errorf("%s: series counts %v, want %v", name, got, want)
		}
	}
	if d := f.rec.Dropped(); d != 0 {
		t.Errorf("dropped %d events", d)
	}
}

// TestShutdownGraceBounded checks that an API server that never answers holds Start up for
// ShutdownGrace, not longer, and that what is left unwritten is counted and logged.
func TestShutdownGraceBounded(t *testing.T) {
	const grace, margin, events = 500 * time.Millisecond, 2 * time.Second, 20
	var requests atomic.Int32
	unblock := make(chan struct{})
	server := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		select { // never answers
		case <-r.Context().Done():
		case <-unblock:
		}
	}))
	t.Cleanup(server.Close)
	t.Cleanup(func() { close(unblock) }) // before server.Close, which waits for the handlers
	f := setup(t, &rest.Config{Host: server.URL}, Options{ShutdownGrace: grace, RequestTimeout: time.Hour})
	for i := range events {
		f.rec.Eventf(f.configMap(fmt.Sprintf("unanswered-%d", i)), nil, corev1.EventTypeNormal, "Synced", "Reconcile", "synced")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.rec.Start(ctx) }()
	testenv.Eventually(t, 10*time.Second, func(context.Context) error {
		if requests.Load() == 0 {
			return errors.New("no request has reached the server")
		}
		return nil
	})
	cancel()
	cancelled := time.Now()
	select {
	case err := <-done:
		elapsed := time.Since(cancelled)
		if err != nil {
			t.Errorf("Start returned %v", err)
		}
		if elapsed > grace+margin || elapsed < grace {
			t.Errorf("Start returned %s after its context was cancelled, want %s to %s", elapsed, grace, grace+margin)
		}
	case <-time.After(grace + 10*time.Second):
		t.Fatalf("Start did not return %s after its context was cancelled", grace+10*time.Second)
	}
	// Each writer had one of them in flight, logged when it was cancelled; the rest are counted.
	inFlight := uint64(f.logs.count("Unable to write event, dropping it"))
	if d := f.rec.Dropped(); d == 0 || d+inFlight != events {
		t.Errorf("dropped %d events, and %d were in flight: want %d in all", d, inFlight, events)
	}
	if n := f.logs.count("Shutdown grace period ran out"); n != 1 {
		t.Errorf("%d log lines about the grace period, want 1", n)
	}
}

// TestGenerateNamePrefix checks that the GenerateName of a taken name is one the API server
// accepts: at most 253 characters before its generated suffix, and no empty DNS label.
func TestGenerateNamePrefix(t *testing.T) {
	long := strings.Repeat("a", 251) + ".b" // 253: the longest name
	for taken, want := range map[string]string{
		"same.18edeeeb79fdfb6a": "same.18edeeeb79fdfb6a-",
		long:                    strings.Repeat("a", 251) + "-", // cut to 252, then the dot
	} {
		if got := generateNamePrefix(taken); got != want {
			t.Errorf("generateNamePrefix(%.20q...) = %.20q... (%d), want %.20q... (%d)", taken, got, len(got), want, len(want))
		}
	}
}
