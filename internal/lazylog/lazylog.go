// Package lazylog defers a logr.LogSink's WithValues until something is logged.
//
// controller-runtime gives every reconcile a logger with the object's name and a reconcile ID
// (two WithValues calls), and zap encodes those values at once, whether or not the reconcile
// logs anything. At 10,000 resources resynced every period, nearly all reconciles log
// nothing, and that encoding was a measurable part of the manager's idle CPU. A sink wrapped
// here keeps the values and hands them to the real sink only when a line is written (or a
// name is added), so an unused logger costs an append.
package lazylog

import (
	"slices"

	"github.com/go-logr/logr"
)

// New wraps a logger so that its WithValues are deferred until a line is written.
func New(l logr.Logger) logr.Logger {
	sink := l.GetSink()
	if sink == nil {
		return l
	}
	// One more frame (this package's) stands between the caller and the real sink.
	if cd, ok := sink.(logr.CallDepthLogSink); ok {
		sink = cd.WithCallDepth(1)
	}
	return logr.New(&lazySink{sink: sink})
}

type lazySink struct {
	sink logr.LogSink
	// values are the deferred key/value pairs, oldest first; never appended to in place.
	values []any
}

var (
	_ logr.LogSink          = (*lazySink)(nil)
	_ logr.CallDepthLogSink = (*lazySink)(nil)
)

// Init is called by logr.New only; the real sink was initialised by its own logr.New.
func (s *lazySink) Init(logr.RuntimeInfo) {}

func (s *lazySink) Enabled(level int) bool { return s.sink.Enabled(level) }

func (s *lazySink) Info(level int, msg string, keysAndValues ...any) {
	s.real().Info(level, msg, keysAndValues...)
}

func (s *lazySink) Error(err error, msg string, keysAndValues ...any) {
	s.real().Error(err, msg, keysAndValues...)
}

func (s *lazySink) WithValues(keysAndValues ...any) logr.LogSink {
	return &lazySink{sink: s.sink, values: append(slices.Clip(s.values), keysAndValues...)}
}

// WithName applies the deferred values first, so that they keep their place before the name
// in sinks where the order shows.
func (s *lazySink) WithName(name string) logr.LogSink {
	return &lazySink{sink: s.real().WithName(name)}
}

func (s *lazySink) WithCallDepth(depth int) logr.LogSink {
	cd, ok := s.sink.(logr.CallDepthLogSink)
	if !ok {
		return s
	}
	return &lazySink{sink: cd.WithCallDepth(depth), values: s.values}
}

// real is the wrapped sink with the deferred values applied.
func (s *lazySink) real() logr.LogSink {
	if len(s.values) == 0 {
		return s.sink
	}
	return s.sink.WithValues(s.values...)
}
