package localenv

import (
	"os"
	"runtime"
	"testing"
)

func TestParseProcessStat(t *testing.T) {
	// A command name may hold spaces and parentheses; the fields are counted from the last ")".
	line := "4242 (odd) name (x) S 17 4242 4242 0 -1 4194560 120 0 0 0 3 1 0 0 20 0 5 0 987654 1000 200 18446744073709551615\n"
	got, err := parseProcessStat(line)
	if err != nil {
		t.Fatal(err)
	}
	want := ProcessStat{PID: 4242, PPID: 17, Comm: "odd) name (x", State: "S", StartTime: 987654}
	if got != want {
		t.Errorf("parseProcessStat = %+v, want %+v", got, want)
	}
	if _, err := parseProcessStat("4242 odd S 17"); err == nil {
		t.Error("a line without (comm) parsed")
	}
}

func TestReadProcessStatOfThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/PID/stat is Linux only")
	}
	st, err := ReadProcessStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != os.Getpid() || st.PPID != os.Getppid() || !st.Running() {
		t.Errorf("this process reads as %+v (running %t), want pid %d, parent %d", st, st.Running(), os.Getpid(), os.Getppid())
	}
}
