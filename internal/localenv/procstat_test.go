package localenv

import (
	"os"
	"testing"
	"time"
)

// ProcessCPU reads this process's CPU time, which grows by about what a busy loop spends.
func TestProcessCPU(t *testing.T) {
	before, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	spin := time.Now()
	x := 0
	for time.Since(spin) < 300*time.Millisecond {
		x++
	}
	after, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// On a loaded machine the loop may get less than its wall time; never more than the
	// process's wall time since the first read, nor nothing.
	if used := after - before; used < 20*time.Millisecond || used > time.Since(spin)+time.Second {
		t.Errorf("CPU time grew by %s over a %s busy loop (%d iterations)", used, time.Since(spin), x)
	}
	if _, err := ProcessCPU(1 << 30); err == nil {
		t.Error("no error for a process that does not exist")
	}
}
