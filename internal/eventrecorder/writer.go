package eventrecorder

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/lru"
)

// writer is the part shared by the Recorders of one New: the queue, and the goroutine (Start)
// that empties it into the API server, keeping the series cache.
//
// One goroutine does every write, in order, so the series state needs no lock of its own, the
// Event of a first occurrence is always written before the PATCH that makes a series of it, and
// the number of requests in flight is one whatever the load. The cost is that a write being
// retried holds up the ones behind it; they wait in the bounded queue.
type writer struct {
	client   eventsv1client.EventsGetter
	scheme   *runtime.Scheme
	log      logr.Logger
	opts     Options
	hostname string
	queue    chan *eventsv1.Event
	counters

	// The series state, used only by the Start goroutine (cache.Len aside, which is safe).
	cache   *lru.Cache            // seriesKey → *series: recent events, at most opts.CacheSize
	dirty   map[seriesKey]*series // of those, the ones observed since their last write; ⊆ cache
	evicted []evicted             // left the cache with a count still to write
}

// seriesKey identifies isomorphic events, those that make one series: a SHA-256 of what
// keyOf hashes, 32 bytes however long the note, so a cache entry costs the same for every event.
type seriesKey [sha256.Size]byte

// series is what is remembered of a recent event: only what a later PATCH of its series needs,
// not the Event itself (client-go keeps a deep copy of the whole Event).
type series struct {
	name, namespace string    // of the Event in the API
	count           int32     // observations; 1 until the first repeat
	written         int32     // the count last written (or given up on); 1 for a plain Event
	lastObserved    time.Time // EventTime of the latest observation
	lastWrite       time.Time // when the Event or its series was last written
}

type evicted struct {
	key    seriesKey
	series *series
}

func (w *writer) initCache() {
	w.cache = lru.NewWithEvictionFunc(w.opts.CacheSize, w.onEvict)
	w.dirty = make(map[seriesKey]*series)
}

// onEvict runs, inside the cache's lock, when an entry leaves the cache: pushed out by a newer
// one, or removed when found expired or gone from the API. A count not yet written is written
// after the current item (writeEvicted), so that the bound on the cache does not lose repeats
// already seen.
func (w *writer) onEvict(key lru.Key, value any) {
	k, s := key.(seriesKey), value.(*series)
	delete(w.dirty, k)
	if s.count > s.written {
		w.evicted = append(w.evicted, evicted{key: k, series: s})
	}
}

// removeIf removes key from the cache if it still maps to s, and not to a newer Event of the
// same key.
func (w *writer) removeIf(key seriesKey, s *series) {
	if v, ok := w.cache.Get(key); ok && v.(*series) == s {
		w.cache.Remove(key)
	}
}

// run is Recorder.Start.
func (w *writer) run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("eventrecorder: Start called twice")
	}
	defer w.stopped.Store(true)
	ticker := time.NewTicker(w.opts.SeriesUpdateInterval)
	defer ticker.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case event := <-w.queue:
			w.write(ctx, event)
		case <-ticker.C:
			w.flush(ctx)
			w.reportDrops()
		}
		w.writeEvicted(ctx)
	}
	return nil
}

// write writes one occurrence: a new Event, or, for a repeat of a recent one, its series.
func (w *writer) write(ctx context.Context, event *eventsv1.Event) {
	key := keyOf(event)
	observed := event.EventTime.Time
	s, ok := w.recent(key, observed)
	if !ok {
		w.create(ctx, key, event)
		return
	}
	s.count++
	if observed.After(s.lastObserved) {
		s.lastObserved = observed
	}
	// The first repeat is written at once, as client-go does, so that the Event shows a series
	// as soon as it has one; later ones at most once per interval (flush writes the rest).
	if s.written < 2 || w.opts.Clock.Since(s.lastWrite) >= w.opts.SeriesUpdateInterval {
		w.writeSeries(ctx, key, s, event)
		return
	}
	w.dirty[key] = s
}

// recent returns the cached event of key if it was last observed within SeriesWindow of
// observed. An expired entry is removed (writing its last count, see onEvict).
func (w *writer) recent(key seriesKey, observed time.Time) (*series, bool) {
	v, ok := w.cache.Get(key)
	if !ok {
		return nil, false
	}
	s := v.(*series)
	if observed.Sub(s.lastObserved) > w.opts.SeriesWindow {
		w.cache.Remove(key)
		return nil, false
	}
	return s, true
}

// create writes event as a new Event and remembers it for series.
func (w *writer) create(ctx context.Context, key seriesKey, event *eventsv1.Event) {
	err := w.do(ctx, func(ctx context.Context) error {
		_, err := w.client.Events(event.Namespace).Create(ctx, event, metav1.CreateOptions{})
		return err
	})
	switch {
	case ctx.Err() != nil:
		return
	case err == nil, apierrors.IsAlreadyExists(err):
		// AlreadyExists: a create that timed out did get through before a retry; the name holds
		// the nanosecond of the Event, so it is this one.
		w.cache.Add(key, &series{
			name: event.Name, namespace: event.Namespace,
			count: 1, written: 1,
			lastObserved: event.EventTime.Time, lastWrite: w.opts.Clock.Now(),
		})
	default:
		w.log.Error(err, "Unable to write event, dropping it", eventKeysAndValues(event)...)
	}
}

// writeSeries PATCHes the series of s's Event with its current count. When the Event is gone
// from the API it is forgotten, and occurrence, the repeat that prompted the write if any, is
// created as a new Event instead.
func (w *writer) writeSeries(ctx context.Context, key seriesKey, s *series, occurrence *eventsv1.Event) {
	delete(w.dirty, key)
	// Recorded before the request, so that whatever becomes of it (given up included) the same
	// count is not tried again in a loop.
	s.written = s.count
	patch, err := json.Marshal(map[string]eventsv1.EventSeries{
		"series": {Count: s.count, LastObservedTime: metav1.NewMicroTime(s.lastObserved)},
	})
	if err != nil { // cannot happen: two plain fields
		w.log.Error(err, "Unable to encode event series patch")
		return
	}
	err = w.do(ctx, func(ctx context.Context) error {
		_, err := w.client.Events(s.namespace).Patch(ctx, s.name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		return err
	})
	s.lastWrite = w.opts.Clock.Now()
	switch {
	case err == nil, ctx.Err() != nil:
	case apierrors.IsNotFound(err):
		// Deleted, or expired after kube-apiserver's --event-ttl (1 hour by default).
		w.removeIf(key, s)
		if occurrence != nil {
			w.create(ctx, key, occurrence)
		}
	default:
		w.log.Error(err, "Unable to update event series, giving up", "namespace", s.namespace, "name", s.name, "count", s.count)
	}
}

// flush writes the series observed since their last write that have not been written for
// SeriesUpdateInterval.
func (w *writer) flush(ctx context.Context) {
	now := w.opts.Clock.Now()
	for key, s := range w.dirty {
		if ctx.Err() != nil {
			return
		}
		if now.Sub(s.lastWrite) >= w.opts.SeriesUpdateInterval {
			w.writeSeries(ctx, key, s, nil)
		}
	}
}

// writeEvicted writes the last counts of the series that left the cache.
func (w *writer) writeEvicted(ctx context.Context) {
	for len(w.evicted) > 0 && ctx.Err() == nil {
		e := w.evicted[0]
		w.evicted = slices.Delete(w.evicted, 0, 1)
		w.writeSeries(ctx, e.key, e.series, nil)
	}
}

// do runs call, one API request, until it succeeds, fails for good, has been tried
// opts.MaxAttempts times, or ctx is cancelled. Between attempts it waits, doubling the wait
// from RetryDelay to MaxRetryDelay with 25% jitter so that many replicas do not retry in step.
// It returns the last error.
func (w *writer) do(ctx context.Context, call func(context.Context) error) error {
	delay := w.opts.RetryDelay
	for attempt := 1; ; attempt++ {
		reqCtx, cancel := context.WithTimeout(ctx, w.opts.RequestTimeout)
		err := call(reqCtx)
		cancel()
		if err == nil || ctx.Err() != nil || !transient(err) {
			return err
		}
		if attempt >= w.opts.MaxAttempts {
			return fmt.Errorf("retry limit exceeded after %d attempts: %w", attempt, err)
		}
		sleep := wait.Jitter(delay, 0.25)
		w.log.V(1).Info("Unable to write event, will retry", "err", err, "attempt", attempt, "retryIn", sleep)
		timer := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		delay = min(2*delay, w.opts.MaxRetryDelay)
	}
}

// transient tells whether a failed request may succeed if tried again: connection errors,
// timeouts, unexpected responses, 429 and 5xx, as client-go retries on all but the API
// server's answers. Any other answer of the API server (invalid Event, forbidden, namespace
// not found, ...) will be the same next time.
func transient(err error) bool {
	var construction *rest.RequestConstructionError
	if errors.As(err, &construction) {
		return false
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		return code == http.StatusTooManyRequests || code >= http.StatusInternalServerError
	}
	return true
}

// keyOf hashes what makes events isomorphic: type, reason, action, reporting controller and
// instance, note, annotations, and the regarding and related objects (client-go's eventKey,
// plus the note and annotations that a series cannot change, so that a different note is
// never hidden in the count of an older one, as the core/v1 recorder also keys on the
// message). The objects' resourceVersion is left out, as the core/v1 recorder does: it
// changes with every status write, which would otherwise end a series at each reconcile.
// Every string is length-prefixed, so distinct events cannot hash the same input.
func keyOf(event *eventsv1.Event) seriesKey {
	h := sha256.New()
	for _, s := range []string{event.Type, event.Reason, event.Action, event.ReportingController, event.ReportingInstance, event.Note} {
		writeString(h, s)
	}
	writeRef(h, &event.Regarding)
	writeRef(h, event.Related)
	keys := make([]string, 0, len(event.Annotations))
	for k := range event.Annotations {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	writeUvarint(h, uint64(len(keys)))
	for _, k := range keys {
		writeString(h, k)
		writeString(h, event.Annotations[k])
	}
	var key seriesKey
	h.Sum(key[:0])
	return key
}

func writeRef(h hash.Hash, ref *corev1.ObjectReference) {
	if ref == nil {
		writeUvarint(h, 0)
		return
	}
	writeUvarint(h, 1)
	for _, s := range []string{ref.Kind, ref.Namespace, ref.Name, string(ref.UID), ref.APIVersion, ref.FieldPath} {
		writeString(h, s)
	}
}

func writeString(h hash.Hash, s string) {
	writeUvarint(h, uint64(len(s)))
	_, _ = io.WriteString(h, s) // a hash.Hash never fails to write
}

func writeUvarint(h hash.Hash, n uint64) {
	var buf [binary.MaxVarintLen64]byte
	_, _ = h.Write(buf[:binary.PutUvarint(buf[:], n)])
}

// eventKeysAndValues describes event in a log line.
func eventKeysAndValues(event *eventsv1.Event) []any {
	return []any{
		"namespace", event.Namespace, "name", event.Name,
		"regarding", event.Regarding.Kind + "/" + event.Regarding.Name,
		"type", event.Type, "reason", event.Reason, "action", event.Action, "note", event.Note,
	}
}
