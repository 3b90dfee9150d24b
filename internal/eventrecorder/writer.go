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
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/lru"
)

// writer is the part shared by the Recorders of one New: the shards, each a queue and the
// goroutine that empties it into the API server keeping its own series cache, and what enqueue
// needs to reach them.
type writer struct {
	client    eventsv1client.EventsGetter
	scheme    *runtime.Scheme
	log       logr.Logger
	opts      Options
	hostname  string
	shards    []*shard // opts.Writers of them
	queueSize int      // the capacities of the shards' queues, summed
	counters

	// mu orders enqueue against the end of Start. enqueue holds it shared from its check of
	// stopped to its send; Start holds it exclusively, only to set stopped. Once stopped is set
	// no Event can enter a queue that nothing will empty, and an enqueue waits for no more than
	// that one assignment.
	mu      sync.RWMutex
	stopped bool // Start has stopped accepting Events
}

// shard is one writer goroutine's part: the Events whose series key maps to it (shardOf) and
// their series. Its goroutine (run) does every write of those, in order, so the series state
// needs no lock, the Event of a first occurrence is always written before the PATCH that makes
// a series of it, and a shard has one request in flight at most. A write being retried holds
// up only the Events of its own shard; they wait in its bounded queue.
type shard struct {
	w     *writer
	queue chan queuedEvent

	// The series state, used only by the shard's goroutine (cache.Len aside, which is safe).
	cache   *lru.Cache            // seriesKey → *series: recent events, at most the shard's part of CacheSize
	dirty   map[seriesKey]*series // of those, the ones observed since their last write; ⊆ cache
	evicted []evicted             // left the cache with a count still to write
}

// queuedEvent is an Event waiting for its shard, with the series key that chose the shard.
type queuedEvent struct {
	key   seriesKey
	event *eventsv1.Event
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

// initShards makes opts.Writers shards, dividing QueueSize and CacheSize among them.
func (w *writer) initShards() {
	n := w.opts.Writers
	w.shards = make([]*shard, n)
	for i := range w.shards {
		s := &shard{
			w:     w,
			queue: make(chan queuedEvent, share(w.opts.QueueSize, n, i)),
			dirty: make(map[seriesKey]*series),
		}
		s.cache = lru.NewWithEvictionFunc(share(w.opts.CacheSize, n, i), s.onEvict)
		w.shards[i] = s
		w.queueSize += cap(s.queue)
	}
}

// share is shard i's part of total divided among n: total/n, and one more for the first
// total%n shards so that the parts add up to total; at least 1, so that every shard can work.
func share(total, n, i int) int {
	part := total / n
	if i < total%n {
		part++
	}
	return max(part, 1)
}

// shardOf is the shard of the events of key. The key is a SHA-256, so its first 8 bytes spread
// distinct events evenly, and repeats of one event, having one key, all go to one shard.
func (w *writer) shardOf(key seriesKey) *shard {
	return w.shards[binary.BigEndian.Uint64(key[:8])%uint64(len(w.shards))]
}

// onEvict runs, inside the cache's lock, when an entry leaves the cache: pushed out by a newer
// one, or removed when found expired or gone from the API. A count not yet written is written
// after the current item (writeEvicted), so that the bound on the cache does not lose repeats
// already seen.
func (s *shard) onEvict(key lru.Key, value any) {
	k, ser := key.(seriesKey), value.(*series)
	delete(s.dirty, k)
	if ser.count > ser.written {
		s.evicted = append(s.evicted, evicted{key: k, series: ser})
	}
}

// removeIf removes key from the cache if it still maps to ser, and not to a newer Event of the
// same key.
func (s *shard) removeIf(key seriesKey, ser *series) {
	if v, ok := s.cache.Get(key); ok && v.(*series) == ser {
		s.cache.Remove(key)
	}
}

// run is Recorder.Start: it runs every shard until ctx is cancelled, then drains them.
//
// Writes do not use ctx but writeCtx, which outlives it by ShutdownGrace: the manager cancels
// ctx before it stops the controllers, so a write in flight then, the Events still queued and
// those that the last reconciles emit are still to be written. Once every shard has emptied its
// queue and written its pending series counts (each keeps writing what arrives meanwhile), or
// the grace period is over, Start stops accepting Events, waits for the shards to finish what
// slipped in before that, and returns.
func (w *writer) run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("eventrecorder: Start called twice")
	}
	writeCtx, cancelWrites := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWrites()
	drained := make(chan struct{}, len(w.shards)) // one send per shard, never blocking
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, s := range w.shards {
		wg.Go(func() { s.run(ctx, writeCtx, drained, stop) })
	}

	<-ctx.Done()
	grace := time.AfterFunc(w.opts.ShutdownGrace, cancelWrites)
	defer grace.Stop()
	for range w.shards {
		select {
		case <-drained:
		case <-writeCtx.Done(): // the grace period is over: stop waiting for the others too
		}
	}
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	close(stop)
	wg.Wait()

	if events, counts := w.abandonedEvents.Load(), w.abandonedCounts.Load(); events > 0 || counts > 0 {
		w.dropped.Add(events)
		w.log.Info("Shutdown grace period ran out, dropped what was not written",
			"events", events, "seriesCounts", counts, "shutdownGrace", w.opts.ShutdownGrace)
	}
	return nil
}

// run is one shard's goroutine. It writes the shard's queue and updates its series until ctx is
// cancelled, all on writeCtx; then it drains (see writer.run), tells drained once it is empty,
// keeps writing what still arrives until stop, and returns after writing what came before it.
func (s *shard) run(ctx, writeCtx context.Context, drained chan<- struct{}, stop <-chan struct{}) {
	ticker := time.NewTicker(s.w.opts.SeriesUpdateInterval)
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case q := <-s.queue:
			s.write(writeCtx, q)
		case <-ticker.C:
			s.flush(writeCtx, false)
			s.w.reportDrops()
		}
		s.writeEvicted(writeCtx)
	}
	ticker.Stop()

	s.drain(writeCtx)
	drained <- struct{}{}
	for {
		select {
		case q := <-s.queue:
			if writeCtx.Err() != nil {
				s.w.abandonedEvents.Add(1) // not tried: it would fail at once, with a log line each
				continue
			}
			s.write(writeCtx, q)
			s.drain(writeCtx)
		case <-stop:
			s.drain(writeCtx)
			s.abandon()
			return
		}
	}
}

// drain writes until nothing of the shard is pending, or ctx ends: the queue is empty and every
// series count observed is written, those not yet due (SeriesUpdateInterval) too.
func (s *shard) drain(ctx context.Context) {
	for ctx.Err() == nil {
		select {
		case q := <-s.queue:
			s.write(ctx, q)
			s.writeEvicted(ctx)
			continue
		default:
		}
		if len(s.dirty) == 0 && len(s.evicted) == 0 {
			return
		}
		s.flush(ctx, true)
		s.writeEvicted(ctx)
	}
}

// abandon counts what the grace period left unwritten, once nothing can be queued any more.
func (s *shard) abandon() {
	for {
		select {
		case <-s.queue:
			s.w.abandonedEvents.Add(1)
		default:
			s.w.abandonedCounts.Add(uint64(len(s.dirty) + len(s.evicted)))
			return
		}
	}
}

// write writes one occurrence: a new Event, or, for a repeat of a recent one, its series.
func (s *shard) write(ctx context.Context, q queuedEvent) {
	key, event := q.key, q.event
	observed := event.EventTime.Time
	ser, ok := s.recent(key, observed)
	if !ok {
		s.create(ctx, key, event)
		return
	}
	ser.count++
	if observed.After(ser.lastObserved) {
		ser.lastObserved = observed
	}
	// The first repeat is written at once, as client-go does, so that the Event shows a series
	// as soon as it has one; later ones at most once per interval (flush writes the rest).
	if ser.written < 2 || s.w.opts.Clock.Since(ser.lastWrite) >= s.w.opts.SeriesUpdateInterval {
		s.writeSeries(ctx, key, ser, event)
		return
	}
	s.dirty[key] = ser
}

// recent returns the cached event of key if it was last observed within SeriesWindow of
// observed. An expired entry is removed (writing its last count, see onEvict).
func (s *shard) recent(key seriesKey, observed time.Time) (*series, bool) {
	v, ok := s.cache.Get(key)
	if !ok {
		return nil, false
	}
	ser := v.(*series)
	if observed.Sub(ser.lastObserved) > s.w.opts.SeriesWindow {
		s.cache.Remove(key)
		return nil, false
	}
	return ser, true
}

// create writes event as a new Event and remembers it for series, under the name it has in the
// API.
//
// Its name is the regarding object's and the nanosecond of the Event (client-go's
// GenerateEventName), which two Events can share: about two objects of different kinds with one
// name in one namespace, or with a clock coarser than a nanosecond. When the name is taken
// (post's AlreadyExists), the Event is created once more under a name that the API server
// generates, so that it is not lost and its repeats do not count into the other Event's series.
func (s *shard) create(ctx context.Context, key seriesKey, event *eventsv1.Event) {
	name, err := s.post(ctx, event)
	if apierrors.IsAlreadyExists(err) {
		generated := *event // a shallow copy suffices: only the name changes
		generated.Name, generated.GenerateName = "", generateNamePrefix(event.Name)
		if name, err = s.post(ctx, &generated); err == nil {
			s.w.log.V(1).Info("Event name taken by another Event, created it under a generated name",
				"namespace", event.Namespace, "taken", event.Name, "name", name)
		}
	}
	if err != nil {
		s.w.log.Error(err, "Unable to write event, dropping it", eventKeysAndValues(event)...)
		return
	}
	s.cache.Add(key, &series{
		name: name, namespace: event.Namespace,
		count: 1, written: 1,
		lastObserved: event.EventTime.Time, lastWrite: s.w.opts.Clock.Now(),
	})
}

// generateNamePrefix is the GenerateName of an Event whose name is taken: the name and a dash
// ("<name>.<hex time>-x7k2p"). Not a dot, which the API server rejects at the end of a
// GenerateName; cut to the 253 characters of a name, without ending in a dot before the dash
// (an empty DNS label). The API server itself cuts a GenerateName to 58 characters before
// adding its 5, so for an object name of more than about 40 the time is cut off: the name is
// still unique, and the Event still says its object and time in its fields.
func generateNamePrefix(taken string) string {
	const limit = validation.DNS1123SubdomainMaxLength - 1
	if len(taken) > limit {
		taken = strings.TrimRight(taken[:limit], ".")
	}
	return taken + "-"
}

// post creates event, retrying as do does, and returns the name the Event got.
//
// AlreadyExists is success only after an earlier attempt of this create may have reached the
// API server: that attempt created the Event, and its answer was lost (a timeout, a broken
// connection). Otherwise, on the first attempt or after attempts that certainly did not reach
// it (unsent), the name is another Event's, and post returns the AlreadyExists error. An Event
// with a generated name cannot be recognised so: a retry after a lost answer creates it twice.
func (s *shard) post(ctx context.Context, event *eventsv1.Event) (string, error) {
	name, mayExist := event.Name, false
	err := s.w.do(ctx, func(ctx context.Context) error {
		created, err := s.w.client.Events(event.Namespace).Create(ctx, event, metav1.CreateOptions{})
		switch {
		case err == nil:
			name = created.Name
		case apierrors.IsAlreadyExists(err) && mayExist && event.Name != "":
			return nil
		case !unsent(err):
			mayExist = true
		}
		return err
	})
	return name, err
}

// unsent tells whether a failed request certainly did not reach the API server's storage: the
// connection could not be made, or the API server answered 429, which it does before handling
// the request.
func unsent(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	return apierrors.IsTooManyRequests(err)
}

// writeSeries PATCHes the series of ser's Event with its current count. When the Event is gone
// from the API it is forgotten, and occurrence, the repeat that prompted the write if any, is
// created as a new Event instead.
func (s *shard) writeSeries(ctx context.Context, key seriesKey, ser *series, occurrence *eventsv1.Event) {
	// Only ser's mark: an evicted or expired series may share its key with a newer entry.
	if s.dirty[key] == ser {
		delete(s.dirty, key)
	}
	// Recorded before the request, so that whatever becomes of it (given up included) the same
	// count is not tried again in a loop.
	ser.written = ser.count
	patch, err := json.Marshal(map[string]eventsv1.EventSeries{
		"series": {Count: ser.count, LastObservedTime: metav1.NewMicroTime(ser.lastObserved)},
	})
	if err != nil { // cannot happen: two plain fields
		s.w.log.Error(err, "Unable to encode event series patch")
		return
	}
	err = s.w.do(ctx, func(ctx context.Context) error {
		_, err := s.w.client.Events(ser.namespace).Patch(ctx, ser.name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		return err
	})
	ser.lastWrite = s.w.opts.Clock.Now()
	switch {
	case err == nil:
	case apierrors.IsNotFound(err):
		// Deleted, or expired after kube-apiserver's --event-ttl (1 hour by default).
		s.removeIf(key, ser)
		if occurrence != nil {
			s.create(ctx, key, occurrence)
		}
	default:
		s.w.log.Error(err, "Unable to update event series, giving up", "namespace", ser.namespace, "name", ser.name, "count", ser.count)
	}
}

// flush writes the series observed since their last write: those that have not been written for
// SeriesUpdateInterval, or all of them when all is set (at shutdown).
func (s *shard) flush(ctx context.Context, all bool) {
	now := s.w.opts.Clock.Now()
	for key, ser := range s.dirty {
		if ctx.Err() != nil {
			return
		}
		if all || now.Sub(ser.lastWrite) >= s.w.opts.SeriesUpdateInterval {
			s.writeSeries(ctx, key, ser, nil)
		}
	}
}

// writeEvicted writes the last counts of the series that left the cache.
func (s *shard) writeEvicted(ctx context.Context) {
	for len(s.evicted) > 0 && ctx.Err() == nil {
		e := s.evicted[0]
		s.evicted = slices.Delete(s.evicted, 0, 1)
		s.writeSeries(ctx, e.key, e.series, nil)
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
