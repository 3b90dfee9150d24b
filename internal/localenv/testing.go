package localenv

import (
	"context"
	"testing"
	"time"
)

// TestContext returns a context that ends a little before the test's deadline (or after
// fallback when the test has none), so that a hung step fails the test with its own message
// instead of the test binary's panic.
func TestContext(t testing.TB, fallback time.Duration) context.Context {
	t.Helper()
	deadline := time.Now().Add(fallback)
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, has := d.Deadline(); has {
			deadline = dl
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(-15*time.Second))
	t.Cleanup(cancel)
	return ctx
}

// Within returns a context that ends after d, or with the test (TestContext).
func Within(t testing.TB, d, fallback time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(TestContext(t, fallback), d)
	t.Cleanup(cancel)
	return ctx
}
