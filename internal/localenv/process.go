package localenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// DefaultStopTimeout is how long Stop waits after SIGTERM before it sends SIGKILL.
const DefaultStopTimeout = 15 * time.Second

// process is a child program whose stdout and stderr go to a log file (and optionally to an
// extra writer, for programs that print something to wait for).
type process struct {
	name    string
	path    string
	args    []string
	env     []string
	logPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	logFile *os.File
	done    chan struct{} // closed when the running command has exited
	waitErr error
}

// start runs the program; out, if not nil, also receives its stdout.
func (p *process) start(out io.Writer) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !p.exitedLocked() {
		return fmt.Errorf("%s is already running (pid %d)", p.name, p.cmd.Process.Pid)
	}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open %s log: %w", p.name, err)
	}
	cmd := exec.Command(p.path, p.args...) //nolint:gosec // the binaries and arguments are the caller's
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout = logFile
	if out != nil {
		cmd.Stdout = io.MultiWriter(logFile, out)
	}
	cmd.Stderr = logFile
	// Its own process group, so that a Ctrl-C in the terminal reaches only the program that
	// started it, which then stops the children in order.
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("start %s (%s): %w", p.name, p.path, err)
	}
	done := make(chan struct{})
	p.cmd, p.logFile, p.done, p.waitErr = cmd, logFile, done, nil
	go func() {
		err := cmd.Wait()
		_ = logFile.Close()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// exitedLocked reports whether the last started command has exited. Callers hold p.mu.
func (p *process) exitedLocked() bool {
	if p.done == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// current returns the last started command and its done channel, nil if none was started.
func (p *process) current() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

// exited reports whether the program has exited, and its error (nil for exit status 0).
func (p *process) exited() (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitedLocked() {
		return true, p.waitErr
	}
	return false, nil
}

// Pid returns the process id of the running program, or 0.
func (p *process) pid() int {
	cmd, done := p.current()
	if cmd == nil || cmd.Process == nil {
		return 0
	}
	select {
	case <-done:
		return 0
	default:
		return cmd.Process.Pid
	}
}

// stop sends SIGTERM and waits for the exit; after timeout it sends SIGKILL. Stopping a program
// that is not running is not an error. It returns the program's exit error, except the one
// caused by the signal itself.
func (p *process) stop(timeout time.Duration) error {
	cmd, done := p.current()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGTERM %s: %w", p.name, err)
	}
	select {
	case <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s did not stop within %s of SIGTERM; killed it", p.name, timeout)
	}
	_, err := p.exited()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("%s exited after SIGTERM: %w", p.name, err)
	}
	return nil
}

// kill sends SIGKILL, as a crash would, and waits for the exit.
func (p *process) kill() error {
	cmd, done := p.current()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGKILL %s: %w", p.name, err)
	}
	<-done
	return nil
}

// waitExit waits until the program exits or ctx ends.
func (p *process) waitExit(ctx context.Context) error {
	_, done := p.current()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		_, err := p.exited()
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// logTail returns the last n lines of the log file.
func (p *process) logTail(n int) string {
	return tailFile(p.logPath, n)
}

// tailFile returns the last n lines of a file, or "" if it cannot be read.
func tailFile(path string, n int) string {
	data, err := os.ReadFile(path) //nolint:gosec // our own log files
	if err != nil {
		return ""
	}
	data = bytes.TrimRight(data, "\n")
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
