package tableautest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// DefaultHang is how long a request picked by Faults.TimeoutRate hangs when Faults.Hang is 0.
const DefaultHang = 30 * time.Second

// Faults is the fault injection applied to API requests (never to /_sim/). Set it with
// SetFaults; the zero value injects nothing.
type Faults struct {
	// ErrorRate is the fraction (0..1) of requests answered with an error instead of being served.
	ErrorRate float64
	// Statuses are the statuses those errors pick from at random; default {500}. A 429 has
	// an HTML body (as Tableau Cloud's concurrency limiter sends) and a Retry-After header,
	// unless RetryAfterInDetail is set.
	Statuses []int
	// RetryAfter is how long a 429 asks the client to wait: a Retry-After header in whole
	// seconds, rounded up (0 sends "Retry-After: 0"), or with RetryAfterInDetail the
	// error detail's "Please retry after N minutes." (whole minutes) or "N seconds."
	// (anything else, rounded up).
	RetryAfter time.Duration
	// RetryAfterInDetail makes a 429 answer the way a real Tableau Cloud 429 did (REFERENCE
	// 10.2): a Tableau error body (XML or JSON as the request asks, code 429000, summary
	// "Too Many Requests") whose detail says when to retry, e.g. "Too many requests for
	// 'api.rest.list_webhooks'. Please retry after 29 minutes.", and no Retry-After header.
	// For 429s it takes precedence over HTMLBodies.
	RetryAfterInDetail bool
	// HTMLBodies makes every injected error an HTML page instead of a Tableau error body, as a
	// load balancer in front of Tableau would answer.
	HTMLBodies bool
	// TimeoutRate is the fraction (0..1) of requests that hang until the client gives up, Hang
	// passes or the server closes, then end with the connection closed and no response.
	TimeoutRate float64
	// Hang bounds those hangs; default DefaultHang.
	Hang time.Duration
	// Latency and Jitter delay every faulted-scope request, on top of WithLatency.
	Latency, Jitter time.Duration
	// LoseCreateResponses makes the next N Create Webhook calls create the webhook and then
	// close the connection without a response, to test that a client never duplicates a
	// webhook whose creation it could not confirm. It ignores Operations.
	LoseCreateResponses int
	// Operations limits the faults above to these operations (OpCreateWebhook, …); empty means
	// every operation.
	Operations []string
	// IncludeServerInfo extends faults to serverinfo, which is otherwise spared so that version
	// discovery keeps working.
	IncludeServerInfo bool
	// Seed seeds the random choices, so a test sees the same sequence of faults every run.
	Seed int64
}

// faultState is the live fault configuration: its random source and the remaining lost creates.
type faultState struct {
	mu          sync.Mutex
	f           Faults
	rng         *rand.Rand
	lostCreates int
}

func (fs *faultState) reset(f Faults) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.f = f
	fs.f.Statuses = slices.Clone(f.Statuses)
	fs.f.Operations = slices.Clone(f.Operations)
	fs.rng = rand.New(rand.NewPCG(uint64(f.Seed), 0x7ab1ea0))
	fs.lostCreates = f.LoseCreateResponses
}

// randDuration returns a random duration in [0, limit).
func (fs *faultState) randDuration(limit time.Duration) time.Duration {
	if limit <= 0 {
		return 0
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return time.Duration(fs.rng.Int64N(int64(limit)))
}

// decision is what faults do to one request.
type decision struct {
	latency, jitter time.Duration
	hang            time.Duration // > 0: hang, then close without a response
	status          int           // > 0: answer with this error
	retryAfter      time.Duration
	retryInDetail   bool
	html            bool
}

func (fs *faultState) decide(op string) decision {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.f
	if op == OpServerInfo && !f.IncludeServerInfo {
		return decision{}
	}
	if len(f.Operations) > 0 && !slices.Contains(f.Operations, op) {
		return decision{}
	}
	d := decision{latency: f.Latency, jitter: f.Jitter, retryAfter: f.RetryAfter, retryInDetail: f.RetryAfterInDetail, html: f.HTMLBodies}
	if f.TimeoutRate > 0 && fs.rng.Float64() < f.TimeoutRate {
		d.hang = f.Hang
		if d.hang <= 0 {
			d.hang = DefaultHang
		}
		return d
	}
	if f.ErrorRate > 0 && fs.rng.Float64() < f.ErrorRate {
		d.status = http.StatusInternalServerError
		if len(f.Statuses) > 0 {
			d.status = f.Statuses[fs.rng.IntN(len(f.Statuses))]
		}
	}
	return d
}

// takeLostCreate consumes one LoseCreateResponses credit.
func (fs *faultState) takeLostCreate() bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.lostCreates <= 0 {
		return false
	}
	fs.lostCreates--
	return true
}

func (fs *faultState) current() Faults {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.f
	f.Statuses = slices.Clone(f.Statuses)
	f.Operations = slices.Clone(f.Operations)
	f.LoseCreateResponses = fs.lostCreates
	return f
}

// SetFaults replaces the fault injection; it restarts the random sequence from f.Seed and the
// count of lost create responses from f.LoseCreateResponses.
func (s *Server) SetFaults(f Faults) { s.faults.reset(f) }

// ClearFaults stops all fault injection.
func (s *Server) ClearFaults() { s.faults.reset(Faults{}) }

// CurrentFaults returns the fault injection in force, with LoseCreateResponses counting the
// lost responses still to come.
func (s *Server) CurrentFaults() Faults { return s.faults.current() }

// injectFault applies latency, hangs and injected errors; it reports whether it answered.
func (s *Server) injectFault(x *exchange) bool {
	d := s.faults.decide(x.rt.op)
	if !s.delay(x.r.Context(), d.latency, d.jitter) {
		x.abort()
	}
	if d.hang > 0 {
		s.hanging.Add(1)
		s.sleep(x.r.Context(), d.hang)
		s.hanging.Add(-1)
		x.abort()
	}
	if d.status == 0 {
		return false
	}
	if d.status == http.StatusTooManyRequests && d.retryInDetail {
		s.fail(x, errRateLimited(x.rt.op, d.retryAfter))
		return true
	}
	if d.status == http.StatusTooManyRequests {
		secs := int64(math.Ceil(d.retryAfter.Seconds()))
		x.w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 0), 10))
	}
	if d.html || d.status == http.StatusTooManyRequests {
		text := http.StatusText(d.status)
		x.w.Header().Set("Content-Type", "text/html; charset=utf-8")
		x.w.WriteHeader(d.status)
		_, _ = fmt.Fprintf(x.w, "<html>\n<head><title>%d %s</title></head>\n<body>\n<h1>%d %s</h1>\n"+
			"<p>The request could not be completed. Try again later.</p>\n</body>\n</html>\n",
			d.status, text, d.status, text)
		return true
	}
	s.fail(x, errInjected(d.status))
	return true
}

// faultsJSON is Faults on the /_sim/faults wire: durations are Go duration strings ("250ms").
type faultsJSON struct {
	ErrorRate           float64  `json:"errorRate,omitempty"`
	Statuses            []int    `json:"statuses,omitempty"`
	RetryAfter          duration `json:"retryAfter,omitempty"`
	RetryAfterInDetail  bool     `json:"retryAfterInDetail,omitempty"`
	HTMLBodies          bool     `json:"htmlBodies,omitempty"`
	TimeoutRate         float64  `json:"timeoutRate,omitempty"`
	Hang                duration `json:"hang,omitempty"`
	Latency             duration `json:"latency,omitempty"`
	Jitter              duration `json:"jitter,omitempty"`
	LoseCreateResponses int      `json:"loseCreateResponses,omitempty"`
	Operations          []string `json:"operations,omitempty"`
	IncludeServerInfo   bool     `json:"includeServerInfo,omitempty"`
	Seed                int64    `json:"seed,omitempty"`
}

// duration is a time.Duration written as "1.5s"; numbers are read as seconds.
type duration time.Duration

// MarshalJSON writes the duration as a Go duration string.
func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string or a number of seconds.
func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return errors.New(`a duration is a string like "250ms" or a number of seconds`)
	}
	*d = duration(secs * float64(time.Second))
	return nil
}

// MarshalJSON writes Faults as the /_sim/faults admin API reads it: camelCase keys, durations
// as strings like "250ms".
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{
		ErrorRate: f.ErrorRate, Statuses: f.Statuses, RetryAfter: duration(f.RetryAfter),
		RetryAfterInDetail: f.RetryAfterInDetail, HTMLBodies: f.HTMLBodies, TimeoutRate: f.TimeoutRate, Hang: duration(f.Hang),
		Latency: duration(f.Latency), Jitter: duration(f.Jitter), LoseCreateResponses: f.LoseCreateResponses,
		Operations: f.Operations, IncludeServerInfo: f.IncludeServerInfo, Seed: f.Seed,
	})
}

// UnmarshalJSON reads the MarshalJSON form and validates it, rejecting unknown keys so that a
// typo in a chaos script fails loudly instead of injecting nothing.
func (f *Faults) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var j faultsJSON
	if err := dec.Decode(&j); err != nil {
		return err
	}
	v := Faults{
		ErrorRate: j.ErrorRate, Statuses: j.Statuses, RetryAfter: time.Duration(j.RetryAfter),
		RetryAfterInDetail: j.RetryAfterInDetail, HTMLBodies: j.HTMLBodies, TimeoutRate: j.TimeoutRate, Hang: time.Duration(j.Hang),
		Latency: time.Duration(j.Latency), Jitter: time.Duration(j.Jitter), LoseCreateResponses: j.LoseCreateResponses,
		Operations: j.Operations, IncludeServerInfo: j.IncludeServerInfo, Seed: j.Seed,
	}
	if err := v.validate(); err != nil {
		return err
	}
	*f = v
	return nil
}

func (f Faults) validate() error {
	if f.ErrorRate < 0 || f.ErrorRate > 1 || f.TimeoutRate < 0 || f.TimeoutRate > 1 {
		return errors.New("errorRate and timeoutRate must be between 0 and 1")
	}
	for _, st := range f.Statuses {
		if st < 400 || st > 599 {
			return fmt.Errorf("status %d is not an error status (400-599)", st)
		}
	}
	for _, op := range f.Operations {
		if !slices.Contains(operations, op) {
			return fmt.Errorf("unknown operation %q (known: %v)", op, operations)
		}
	}
	if f.LoseCreateResponses < 0 || f.RetryAfter < 0 || f.Hang < 0 || f.Latency < 0 || f.Jitter < 0 {
		return errors.New("counts and durations must not be negative")
	}
	return nil
}

// operations are the names Faults.Operations and the statistics use.
var operations = []string{
	OpServerInfo, OpSignIn, OpSignOut, OpListWebhooks, OpGetWebhook,
	OpCreateWebhook, OpUpdateWebhook, OpTestWebhook, OpDeleteWebhook, OpUnknown,
}
