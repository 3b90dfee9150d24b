// Package eventrecorder is an events.k8s.io/v1 event recorder for controller-runtime with bounded
// memory.
//
// controller-runtime's mgr.GetEventRecorder uses client-go's tools/events broadcaster, whose
// series cache keeps a deep copy of every Event it wrote for 6 to 12 minutes, with no size bound:
// with 10,000 custom resources that is megabytes of heap that only serve to recognise repeats.
// This package does what that broadcaster does for the user (the same Events, the same series
// of repeats, the same non-blocking Eventf) but remembers at most Options.CacheSize recent
// events, and of each only what a later series PATCH needs.
//
// Use it in place of mgr.GetEventRecorder:
//
//	ec, err := eventsv1client.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
//	if err != nil { ... }
//	rec := eventrecorder.New(ec, mgr.GetScheme(), "tableausite-controller",
//		mgr.GetLogger().WithName("events"), eventrecorder.Options{})
//	if err := mgr.Add(rec); err != nil { ... }
//	reconciler.Recorder = rec // or rec.For("other-controller"), sharing rec's writer
//
// Where it differs from client-go, on purpose: repeats are isomorphic when their note and
// annotations match too (client-go would count a different note into the first one's series,
// hiding it), and not only when the regarding object's resourceVersion matches (it changes with
// every status write; the core/v1 recorder ignores it too). A series count is written on the
// first repeat and then at most every Options.SeriesUpdateInterval.
//
// Options.Writers goroutines (8 by default) do all writes, instead of one goroutine per Event.
// Each owns a shard: its own queue and series cache, and the events whose series key hashes to
// it, so that the repeats of one event are written in order by one goroutine and the shards
// share no series state. With one writer the API server's latency would bound the rate of
// Events (50/s at 20 ms), and a retry would hold up every Event behind it; with several, a
// burst of creations is written Writers requests at a time, and a retry holds up only its shard.
//
// The Recorder is a manager Runnable that does not need leader election, so Events emitted by
// a replica that is not (yet) the leader are written too. Events emitted before Start are queued
// (up to Options.QueueSize) and written once it runs. When the manager stops, it stops this
// Runnable before the controllers, which still emit Events: Start goes on writing them, and the
// rest of the queue, until the queues are empty or Options.ShutdownGrace has passed (see Start).
package eventrecorder

import (
	"context"
	"fmt"
	"maps"
	"os"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/tools/record/util"
	"k8s.io/client-go/tools/reference"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
)

// Limits that kube-apiserver applies to events.k8s.io/v1 Events (k8s.io/kubernetes
// pkg/apis/core/validation/events.go: NoteLengthLimit and ReportingInstanceLengthLimit). They
// count bytes, not characters.
const (
	noteLengthLimit              = 1024
	reportingInstanceLengthLimit = 128
)

// truncatedSuffix ends a note cut to noteLengthLimit, so that a reader knows there was more; the
// scheduler marks its truncated notes the same way.
const truncatedSuffix = " ..."

// Options tunes a Recorder. The zero value gives the defaults, which follow client-go's
// broadcaster where it has an equivalent.
type Options struct {
	// Writers is how many goroutines write Events, each with its own shard of the queue and of
	// the series cache, so that up to Writers requests are in flight at once: at an API latency
	// L they write up to Writers/L Events a second, unless the client's own rate limit
	// (rest.Config QPS; controller-runtime's GetConfig turns it off) is lower. Default 8. A
	// shard costs a goroutine (a few KiB of stack), a ticker, and the buffer of its queue (40
	// bytes a slot); the queue and cache entries themselves are bounded by QueueSize and
	// CacheSize however many shards share them.
	Writers int
	// QueueSize is how many Events may wait for the writers in all, divided evenly among the
	// Writers shards (each at least 1, so the total is exact when it is at least Writers). An
	// Event emitted while its shard's queue is full is dropped. A shard has only its share, so
	// the repeats of one hot event have QueueSize/Writers slots; they need few, as a writer
	// counts a repeat in memory and writes a series at most once per SeriesUpdateInterval.
	// Default 1000, the queue length of client-go's broadcaster.
	QueueSize int
	// CacheSize bounds how many recent events are remembered for series detection, in all,
	// divided among the shards as QueueSize is. When a shard's part is full its least recently
	// seen event is forgotten, and its next repeat makes a new Event rather than extending the
	// old one's series. An entry takes about 300 bytes (measured with typical names), so the
	// default 4096 is about 1.2 MiB at most.
	CacheSize int
	// SeriesWindow is how long after its last observation an event can still be repeated into a
	// series. Default 6 minutes, client-go's finishTime.
	SeriesWindow time.Duration
	// SeriesUpdateInterval bounds how often one series is written: the first repeat is written
	// at once (series.count 2), later ones at most once per interval, the last count within two
	// intervals after the series quietens (a periodic flush writes it). client-go writes the count at 2 and then only when
	// the series ends or every 30 minutes; this is fresher but still one request per interval
	// per series however hot it is. Default 30 seconds.
	SeriesUpdateInterval time.Duration
	// MaxAttempts is how many times one write is tried when it fails for a reason that may pass
	// (connection errors, timeouts, 429 and 5xx). Default 12, as client-go.
	MaxAttempts int
	// RetryDelay is the wait before the first retry; it doubles (with jitter) up to
	// MaxRetryDelay. Defaults 1 second and 10 seconds (client-go waits 10 seconds every time).
	RetryDelay, MaxRetryDelay time.Duration
	// RequestTimeout bounds one API request, so that an API server that accepts the connection
	// and never answers cannot stall the writer. Default 10 seconds.
	RequestTimeout time.Duration
	// ShutdownGrace bounds how long Start goes on writing after its context is cancelled: the
	// Events still queued, those emitted meanwhile (by the controllers, which the manager stops
	// after Start returns) and the series counts not yet written. What is left when it runs out
	// is dropped, so that an API server that does not answer cannot hold up the manager's
	// shutdown beyond it. Default 5 seconds; keep it well below the manager's
	// GracefulShutdownTimeout (30 seconds by default), which bounds the whole shutdown.
	ShutdownGrace time.Duration
	// Clock gives the time of Events, and of series observations and writes. Default the real
	// clock; tests use a fake one to move past SeriesWindow.
	Clock clock.PassiveClock
}

func (o Options) withDefaults() Options {
	setDefault(&o.Writers, 8)
	setDefault(&o.QueueSize, 1000)
	setDefault(&o.CacheSize, 4096)
	setDefault(&o.SeriesWindow, 6*time.Minute)
	setDefault(&o.SeriesUpdateInterval, 30*time.Second)
	setDefault(&o.MaxAttempts, 12)
	setDefault(&o.RetryDelay, time.Second)
	setDefault(&o.MaxRetryDelay, 10*time.Second)
	setDefault(&o.RequestTimeout, 10*time.Second)
	setDefault(&o.ShutdownGrace, 5*time.Second)
	o.MaxRetryDelay = max(o.MaxRetryDelay, o.RetryDelay)
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	return o
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Recorder records events.k8s.io/v1 Events for one reporting controller. All Recorders made
// from one New (with For) share its queues, series caches and writers. It is safe for
// concurrent use.
type Recorder struct {
	*writer
	reportingController string
	reportingInstance   string
}

var (
	_ recorder.EventRecorder         = (*Recorder)(nil)
	_ manager.Runnable               = (*Recorder)(nil)
	_ manager.LeaderElectionRunnable = (*Recorder)(nil)
)

// New returns a Recorder that writes Events through c (the events/v1 typed client, e.g.
// eventsv1client.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())), naming
// reportingController, and reportingController + "-" + hostname as the reporting instance, as
// client-go does. scheme resolves the kinds of the objects that Events are about. log receives
// the recorder's own messages, and every Event at V(1) as controller-runtime logs them; pass
// mgr.GetLogger().WithName("events") to keep today's logs. Nothing is written until Start runs.
func New(c eventsv1client.EventsGetter, scheme *runtime.Scheme, reportingController string, log logr.Logger, opts Options) *Recorder {
	if c == nil || scheme == nil {
		panic("eventrecorder.New: the client and the scheme must not be nil")
	}
	opts = opts.withDefaults()
	hostname, _ := os.Hostname() // as client-go: without one the instance is "<controller>-"
	w := &writer{
		client:   c,
		scheme:   scheme,
		log:      log,
		opts:     opts,
		hostname: hostname,
	}
	w.initShards()
	return w.forController(reportingController)
}

// For returns a recorder that reports Events as reportingController, through the same queues,
// series caches and writers as r, so that several controllers of a manager share them and one
// bound on memory. Only r (or any one of them) is to be started.
func (r *Recorder) For(reportingController string) recorder.EventRecorder {
	return r.forController(reportingController)
}

func (w *writer) forController(reportingController string) *Recorder {
	// kube-apiserver rejects every Event of a controller whose name is not a qualified name;
	// say so once here rather than once per Event.
	if errs := validation.IsQualifiedName(reportingController); len(errs) > 0 {
		w.log.Error(nil, "Reporting controller is not a qualified name, the API server will reject its Events",
			"reportingController", reportingController, "problems", errs)
	}
	instance := reportingController + "-" + w.hostname
	if len(instance) > reportingInstanceLengthLimit {
		instance = instance[:reportingInstanceLengthLimit]
	}
	return &Recorder{writer: w, reportingController: reportingController, reportingInstance: instance}
}

// Eventf records an Event about regarding (and optionally related) with the note formatted from
// note and args. It never blocks: the Event is queued for its writer, or dropped if that
// writer's queue is full.
func (r *Recorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	r.record(regarding, related, nil, eventtype, reason, action, note, args)
}

// AnnotatedEventf is Eventf with annotations on the Event.
func (r *Recorder) AnnotatedEventf(regarding, related runtime.Object, annotations map[string]string, eventtype, reason, action, note string, args ...any) {
	r.record(regarding, related, annotations, eventtype, reason, action, note, args)
}

func (r *Recorder) record(regarding, related runtime.Object, annotations map[string]string, eventtype, reason, action, note string, args []any) {
	event := r.makeEvent(regarding, related, annotations, eventtype, reason, action, note, args)
	if event == nil {
		return
	}
	// What controller-runtime's provider logs for each Event (client-go's StartLogging at V(1)).
	if log := r.log.V(1); log.Enabled() {
		log.Info("Event occurred", "object", objectRef{Name: event.Regarding.Name, Namespace: event.Regarding.Namespace},
			"kind", event.Regarding.Kind, "apiVersion", event.Regarding.APIVersion,
			"type", event.Type, "reason", event.Reason, "action", event.Action, "note", event.Note)
	}
	r.enqueue(event)
}

// objectRef logs an object as klog.KRef does (which client-go's StartLogging uses), without
// making klog a direct dependency of the module: "namespace/name" as text, {name, namespace}
// in structured output.
type objectRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

func (r objectRef) String() string {
	if r.Namespace == "" {
		return r.Name
	}
	return r.Namespace + "/" + r.Name
}

// MarshalLog keeps logr sinks that honour logr.Marshaler (zapr, funcr) from calling String.
func (r objectRef) MarshalLog() any {
	type plain objectRef
	return plain(r)
}

// makeEvent builds the Event as client-go's recorder does (tools/events recorderImpl.makeEvent),
// or returns nil, with a log line, for an Event that cannot be made.
func (r *Recorder) makeEvent(regarding, related runtime.Object, annotations map[string]string, eventtype, reason, action, note string, args []any) *eventsv1.Event {
	now := r.opts.Clock.Now()
	message := truncateNote(fmt.Sprintf(note, args...))
	refRegarding, err := r.reference(regarding)
	if err != nil {
		r.log.Error(err, "Could not construct reference, will not report event",
			"object", regarding, "eventType", eventtype, "reason", reason, "message", message)
		return nil
	}
	var refRelated *corev1.ObjectReference
	if related != nil {
		if refRelated, err = r.reference(related); err != nil {
			// As client-go: the Event is still worth having without it.
			r.log.V(1).Info("Could not construct reference to the related object, reporting the event without it",
				"object", related, "err", err)
			refRelated = nil
		}
	}
	if !util.ValidateEventType(eventtype) {
		r.log.Error(nil, "Unsupported event type, will not report event", "eventType", eventtype, "reason", reason, "message", message)
		return nil
	}
	namespace := refRegarding.Namespace
	if namespace == "" {
		namespace = metav1.NamespaceDefault
	}
	return &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      util.GenerateEventName(refRegarding.Name, now.UnixNano()),
			Namespace: namespace,
			// A copy: the caller may reuse its map, and the writer reads this one later.
			Annotations: maps.Clone(annotations),
		},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: r.reportingController,
		ReportingInstance:   r.reportingInstance,
		Action:              action,
		Reason:              reason,
		Regarding:           *refRegarding,
		Related:             refRelated,
		Note:                message,
		Type:                eventtype,
	}
}

// reference is reference.GetReference, which panics on a typed nil pointer (a (*Pod)(nil) in a
// runtime.Object); that becomes an error here, so that a bad argument costs one Event, not the
// process.
func (r *Recorder) reference(obj runtime.Object) (ref *corev1.ObjectReference, err error) {
	defer func() {
		if p := recover(); p != nil {
			ref, err = nil, fmt.Errorf("cannot reference %T: %v", obj, p)
		}
	}()
	return reference.GetReference(r.scheme, obj)
}

// truncateNote cuts note to the API's limit at a character boundary, ending it with
// truncatedSuffix.
func truncateNote(note string) string {
	if len(note) <= noteLengthLimit {
		return note
	}
	cut := noteLengthLimit - len(truncatedSuffix)
	for cut > 0 && !utf8.RuneStart(note[cut]) {
		cut--
	}
	return note[:cut] + truncatedSuffix
}

// Start runs the writers, writing queued Events, until ctx is cancelled and they have drained.
//
// The manager cancels ctx before it stops the controllers (it stops the Runnables that do not
// need leader election first, and waits for them), so Events are still queued then and still
// come. Start goes on writing, on a context of its own, until every writer's queue is empty and
// every series count observed is written, accepting Events meanwhile; only then does it stop
// accepting them (Eventf drops its Event from then on, logged at V(1)) and return nil. The drain
// takes at most Options.ShutdownGrace: whatever is still unwritten when it runs out is dropped,
// counted in Dropped and logged, and Start returns. client-go's broadcaster, by contrast, loses
// whatever is queued at once.
//
// The manager stops the controllers only once Start has returned, so the Events of reconciles
// that end after the drain are still dropped. To write those too, run Start outside the
// manager instead of adding it, with a context cancelled once mgr.Start has returned, and wait
// for it to return.
//
// It may be called once, on any one of the Recorders that share writers: add the Recorder to
// the manager (mgr.Add).
func (r *Recorder) Start(ctx context.Context) error {
	return r.run(ctx)
}

// NeedLeaderElection is false: Events are written by every replica, leader or not, as with
// controller-runtime's own recorder, so that a replica waiting for leadership can report too.
func (r *Recorder) NeedLeaderElection() bool { return false }

// Dropped is how many Events have been dropped unwritten since New, by all writers: emitted
// while the writer's queue was full, or still queued when Start's ShutdownGrace ran out.
// Events emitted after Start returned, which are dropped too, are not counted (they are
// logged at V(1)), nor are those the API server refused or whose retries ran out, nor one in
// flight when the grace ran out (each is logged as an error).
func (r *Recorder) Dropped() uint64 {
	return r.dropped.Load()
}

// dropLogInterval is the least time between two log lines about dropped Events.
const dropLogInterval = 10 * time.Second

// enqueue hands event to the writer of its series without waiting. A full queue drops it,
// counted, with at most one log line per dropLogInterval however many are dropped.
//
// The series key is computed here, on the caller's goroutine, because it chooses the shard;
// it travels with the Event so that the writer need not hash it again.
func (w *writer) enqueue(event *eventsv1.Event) {
	key := keyOf(event)
	s := w.shardOf(key)
	// Shared with other enqueues; exclusive only while Start sets stopped. Holding it from the
	// check to the send means that no Event enters a queue after Start has stopped writing.
	w.mu.RLock()
	stopped, queued := w.stopped, false
	if !stopped {
		select {
		case s.queue <- queuedEvent{key: key, event: event}:
			queued = true
		default:
		}
	}
	w.mu.RUnlock()
	switch {
	case stopped:
		w.log.V(1).Info("Recorder is stopped, dropping event", "namespace", event.Namespace, "reason", event.Reason, "note", event.Note)
	case !queued:
		w.dropped.Add(1)
		w.unreported.Add(1)
		w.reportDrops()
	}
}

// reportDrops logs the Events dropped since the last report, if any and if the last report is
// older than dropLogInterval. The first drop is logged at once. Safe for concurrent use: of
// callers racing, the one that swaps lastDropLog logs.
func (w *writer) reportDrops() {
	now := time.Now().UnixNano()
	last := w.lastDropLog.Load()
	if now-last < int64(dropLogInterval) || w.unreported.Load() == 0 || !w.lastDropLog.CompareAndSwap(last, now) {
		return
	}
	if n := w.unreported.Swap(0); n > 0 {
		w.log.Info("Event queue is full, dropped events", "dropped", n, "droppedTotal", w.dropped.Load(),
			"queueSize", w.queueSize, "writers", len(w.shards))
	}
}

// counters of the writer, kept apart so that the writer struct reads as its state.
type counters struct {
	dropped     atomic.Uint64 // Events dropped unwritten (see Dropped), since New
	unreported  atomic.Uint64 // of those dropped on a full queue, not yet logged
	lastDropLog atomic.Int64  // UnixNano of the last log line about drops
	started     atomic.Bool
	// What the shutdown grace period left unwritten: Events still queued, series counts.
	abandonedEvents, abandonedCounts atomic.Uint64
}
