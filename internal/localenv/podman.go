package localenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNoContainerEngine is returned by NewPodman when podman is not installed.
var ErrNoContainerEngine = errors.New("podman not found in PATH: install it (Debian: apt-get install podman runc; .ci/run does)")

// Podman runs podman with this repository's configuration (hack/podman/containers.conf:
// runc, cgroupfs, no ulimits of its own) and its own storage in a directory of the caller's
// (storage.conf there) and its state (--tmpdir) there too, so that the machine's
// /etc/containers/storage.conf, /var/lib/containers/storage and /run/libpod are neither read nor
// changed. (podman load keeps a cache of blob digests in /var/lib/containers/cache, which no
// setting moves for root.)
type Podman struct {
	// Binary is the podman executable.
	Binary string
	// Dir holds the storage (vfs, which needs no kernel support) and the run root.
	Dir string

	conf string
}

// NewPodman checks that podman can work with the configuration of root/hack/podman and storage
// in dir. It returns ErrNoContainerEngine when podman is not installed.
func NewPodman(ctx context.Context, root, dir string) (*Podman, error) {
	bin, err := exec.LookPath("podman")
	if err != nil {
		return nil, ErrNoContainerEngine
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return nil, fmt.Errorf("podman is installed but runc is not, which hack/podman/containers.conf names (Debian: apt-get install runc): %w", err)
	}
	p := &Podman{Binary: bin, Dir: dir, conf: filepath.Join(root, "hack", "podman", "containers.conf")}
	if _, err := os.Stat(p.conf); err != nil {
		return nil, fmt.Errorf("podman's configuration: %w", err)
	}
	// The storage's configuration names its directories, so it is written for each dir: vfs
	// needs no kernel support (no overlay mounts) and the image is small.
	for _, d := range []string{"storage", "run", "tmp", "libpod"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	storage := fmt.Sprintf("[storage]\ndriver = \"vfs\"\ngraphroot = %q\nrunroot = %q\n",
		filepath.Join(dir, "storage"), filepath.Join(dir, "run"))
	if err := os.WriteFile(filepath.Join(dir, "storage.conf"), []byte(storage), 0o600); err != nil {
		return nil, err
	}
	if _, err := p.Run(ctx, "info", "--format", "{{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}}"); err != nil {
		return nil, fmt.Errorf("podman does not work here: %w", err)
	}
	return p, nil
}

// Command returns a podman command with this repository's configuration and storage.
func (p *Podman) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, p.Binary, p.args(args)...) //nolint:gosec // podman with our own arguments
	cmd.Env = append(os.Environ(), p.environ()...)
	return cmd
}

// args prefixes podman's arguments with the global options: its state (default /run/libpod)
// in Dir too.
func (p *Podman) args(args []string) []string {
	return append([]string{"--tmpdir", filepath.Join(p.Dir, "libpod")}, args...)
}

// environ is what podman's environment adds: the configuration files, and where it unpacks an
// image it loads (default /var/tmp).
func (p *Podman) environ() []string {
	return []string{
		"CONTAINERS_CONF=" + p.conf,
		"CONTAINERS_STORAGE_CONF=" + filepath.Join(p.Dir, "storage.conf"),
		"TMPDIR=" + filepath.Join(p.Dir, "tmp"),
	}
}

// Run runs podman and returns its standard output; an error carries its standard error.
func (p *Podman) Run(ctx context.Context, args ...string) (string, error) {
	cmd := p.Command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("podman %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Load loads an image archive and returns the image's ID.
func (p *Podman) Load(ctx context.Context, img *ImageArchive) (string, error) {
	if _, err := p.Run(ctx, "load", "--quiet", "--input", img.Path); err != nil {
		return "", err
	}
	// The archive's config digest is the image ID; asking for it checks that it was loaded.
	id, err := p.Run(ctx, "image", "inspect", "--format", "{{.ID}}", img.ID)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(id), nil
}

// Close removes the storage (containers and images), which podman's own files make hard to
// remove otherwise.
func (p *Podman) Close() error {
	ctx := context.Background()
	_, err := p.Run(ctx, "rm", "--all", "--force")
	if _, rerr := p.Run(ctx, "rmi", "--all", "--force"); rerr != nil && err == nil {
		err = rerr
	}
	return errors.Join(err, os.RemoveAll(p.Dir))
}
