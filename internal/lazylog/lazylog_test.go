package lazylog

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newZap returns a JSON zap logger with callers, writing to buf.
func newZap(buf *bytes.Buffer) logr.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	core := zapcore.NewCore(enc, zapcore.AddSync(buf), zapcore.DebugLevel)
	return zapr.NewLogger(zap.New(core, zap.AddCaller()))
}

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestSameLinesAsTheRealSink logs through a wrapped and an unwrapped zap logger and expects
// the same fields, names and caller in both.
func TestSameLinesAsTheRealSink(t *testing.T) {
	var direct, lazy bytes.Buffer
	for _, l := range []logr.Logger{newZap(&direct), New(newZap(&lazy))} {
		base := l.WithName("controller").WithValues("kind", "TableauWebhook")
		req := base.WithValues("namespace", "team-a", "name", "hook").WithValues("reconcileID", "42")
		req.Info("reconciled", "webhookID", "w-1")
		req.WithName("tableau").V(0).Info("named after values")
		req.Error(errors.New("boom"), "failed", "attempt", 2)
		// A sibling of req must not see req's values.
		base.WithValues("other", true).Info("sibling")
		req.V(1).Info("debug line")
	}
	got, want := lines(t, &lazy), lines(t, &direct)
	if len(got) != len(want) {
		t.Fatalf("%d lines through the wrapper, %d direct:\n%s\n%s", len(got), len(want), lazy.String(), direct.String())
	}
	for i := range want {
		for _, m := range []map[string]any{got[i], want[i]} {
			delete(m, "ts")
		}
		g, _ := json.Marshal(got[i])
		w, _ := json.Marshal(want[i])
		if string(g) != string(w) {
			t.Errorf("line %d through the wrapper:\n%s\nwant (direct):\n%s", i, g, w)
		}
	}
	if c, _ := got[0]["caller"].(string); !strings.HasPrefix(c, "lazylog/lazylog_test.go:") {
		t.Errorf("caller %q, want this test file", c)
	}
}

// countingSink counts WithValues calls that reach it.
type countingSink struct {
	logr.LogSink
	withValues *int
}

func (s countingSink) WithValues(kv ...any) logr.LogSink {
	*s.withValues++
	return countingSink{s.LogSink.WithValues(kv...), s.withValues}
}

// TestUnusedValuesAreNotApplied checks the point of the package: a logger given values and
// never written to does not pass them to the real sink.
func TestUnusedValuesAreNotApplied(t *testing.T) {
	var buf bytes.Buffer
	n := 0
	l := New(logr.New(countingSink{newZap(&buf).GetSink(), &n}))
	for i := 0; i < 100; i++ {
		r := l.WithValues("namespace", "team-a").WithValues("reconcileID", i)
		r.V(5).Info("not enabled")
	}
	if n != 0 {
		t.Errorf("%d WithValues reached the sink for loggers that wrote nothing enabled", n)
	}
	l.WithValues("k", "v").Info("written")
	if n != 1 {
		t.Errorf("%d WithValues reached the sink for one line, want 1", n)
	}
}
