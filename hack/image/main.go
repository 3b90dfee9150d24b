// Command image builds the manager's container image without Docker and writes it as an image
// archive (the `docker save` format) that `docker load`, `podman load`, `kind load
// image-archive` and `crane push` accept. `make image` runs it.
//
// The image holds what the Dockerfile's final stage (gcr.io/distroless/static:nonroot plus the
// manager) holds, built from pinned Go modules only, so that nothing depends on the host or on a
// registry:
//
//   - /manager: main.go built as the Dockerfile builds it: static (CGO_ENABLED=0), without file
//     paths or symbol tables (buildFlags, the same as localenv.ReleaseBuildFlags);
//   - /etc/ssl/certs/ca-certificates.crt: the Mozilla (NSS) roots of
//     golang.org/x/crypto/x509roots/fallback, the version pinned in this module's go.mod;
//   - /etc/passwd, /etc/group and /etc/nsswitch.conf with distroless' users: root, nobody and
//     nonroot (65532), none with a shell; /home/nonroot, /root and /tmp;
//   - no shell and no other program;
//   - USER 65532:65532, WORKDIR /, ENTRYPOINT ["/manager"], as in the Dockerfile (a test in
//     test/e2e reads the Dockerfile and checks that the two agree).
//
// The build is reproducible: every timestamp is SOURCE_DATE_EPOCH (default 0, 1970-01-01), so
// that the same sources and Go version give the same image digest.
package main

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"debug/elf"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// What the Dockerfile's final stage says; test/e2e/image_test.go checks that they agree.
const (
	binaryPath = "/manager"
	user       = "65532:65532"
	workingDir = "/"
	caBundle   = "/etc/ssl/certs/ca-certificates.crt"
)

// The users and groups of gcr.io/distroless/static:nonroot.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\n" +
		"nobody:x:65534:\n" +
		"tty:x:5:\n" +
		"staff:x:50:\n" +
		"nonroot:x:65532:\n"
	nsswitch = "hosts: files dns\n"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	root := fs.String("root", "", "the repository's root directory (where main.go is); required")
	tag := fs.String("tag", "controller:latest", "the image's name and tag (the Makefile's IMG)")
	output := fs.String("output", "", "the image archive to write, e.g. dist/image.tar; required")
	arch := fs.String("arch", runtime.GOARCH, "the GOARCH to build for (the image is for linux/ARCH)")
	epoch := fs.String("source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"),
		"Unix time of every timestamp in the image (default $SOURCE_DATE_EPOCH, else 0)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: image --root DIR --output FILE [--tag NAME:TAG] [--arch GOARCH]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *root == "" || *output == "" {
		return errors.New("--root and --output are required")
	}
	ref, err := name.NewTag(*tag)
	if err != nil {
		return fmt.Errorf("--tag %q is not an image name with a tag: %w", *tag, err)
	}
	created := time.Unix(0, 0).UTC()
	if *epoch != "" {
		sec, err := strconv.ParseInt(*epoch, 10, 64)
		if err != nil || sec < 0 {
			return fmt.Errorf("--source-date-epoch %q is not a Unix time in seconds", *epoch)
		}
		created = time.Unix(sec, 0).UTC()
	}
	if _, err := os.Stat(filepath.Join(*root, "main.go")); err != nil {
		return fmt.Errorf("--root %s: no main.go: %w", *root, err)
	}

	tmp, err := os.MkdirTemp("", "manager-image-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	bin := filepath.Join(tmp, "manager")
	if err := buildManager(*root, bin, *arch); err != nil {
		return err
	}
	binary, err := os.ReadFile(bin) //nolint:gosec // our own build output
	if err != nil {
		return err
	}

	certs, dropped, err := caCertificates()
	if err != nil {
		return err
	}
	base, err := layer(created, []entry{
		dir("etc", 0o755, 0),
		file("etc/group", 0o644, []byte(group)),
		file("etc/nsswitch.conf", 0o644, []byte(nsswitch)),
		file("etc/passwd", 0o644, []byte(passwd)),
		dir("etc/ssl", 0o755, 0),
		dir("etc/ssl/certs", 0o755, 0),
		file(strings.TrimPrefix(caBundle, "/"), 0o644, certs),
		dir("home", 0o755, 0),
		dir("home/nonroot", 0o700, 65532),
		dir("root", 0o700, 0),
		dir("tmp", 0o1777, 0),
	})
	if err != nil {
		return err
	}
	app, err := layer(created, []entry{file(strings.TrimPrefix(binaryPath, "/"), 0o755, binary)})
	if err != nil {
		return err
	}

	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: *arch,
		OS:           "linux",
		Created:      v1.Time{Time: created},
		// mutate.Append adds each layer's diff ID.
		RootFS: v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Entrypoint: []string{binaryPath},
			User:       user,
			WorkingDir: workingDir,
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"SSL_CERT_FILE=" + caBundle,
			},
			Labels: map[string]string{
				"org.opencontainers.image.title":       "tableau-webhook-operator",
				"org.opencontainers.image.description": "Manages Tableau webhooks from TableauSite and TableauWebhook resources",
			},
		},
	})
	if err != nil {
		return err
	}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: created}, Author: "hack/image",
			CreatedBy: "users, groups and CA certificates (distroless/static:nonroot's files)"}},
		mutate.Addendum{Layer: app, History: v1.History{Created: v1.Time{Time: created}, Author: "hack/image",
			CreatedBy: "COPY manager " + binaryPath + " (CGO_ENABLED=0 go build " + strings.Join(buildFlags, " ") + " main.go)"}},
	)
	if err != nil {
		return err
	}

	if err := os.MkdirAll(filepath.Dir(*output), 0o755); err != nil { //nolint:gosec // dist/ is for everyone to read
		return err
	}
	partial := *output + ".partial"
	if err := tarball.WriteToFile(partial, ref, img); err != nil {
		_ = os.Remove(partial)
		return fmt.Errorf("write %s: %w", *output, err)
	}
	if err := os.Rename(partial, *output); err != nil {
		return err
	}
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	info, err := os.Stat(*output)
	if err != nil {
		return err
	}
	fmt.Printf("Wrote %s (%.1f MiB): %s linux/%s, image ID %s, manifest %s (%d CA certificates; %d left out: their NSS constraints cannot be expressed in a PEM bundle)\n",
		*output, float64(info.Size())/(1<<20), ref, *arch, id, digest, bytes.Count(certs, []byte("BEGIN CERTIFICATE")), dropped)
	return nil
}

// buildFlags are the Dockerfile's and localenv.ReleaseBuildFlags (the binary the e2e suites
// run); test/e2e/image_test.go reads them back from the image's binary.
var buildFlags = []string{"-trimpath", "-ldflags=-s -w"}

// buildManager builds main.go as the Dockerfile does, static, and checks that it is static.
func buildManager(root, out, arch string) error {
	args := append(append([]string{"build"}, buildFlags...), "-o", out, "main.go")
	cmd := exec.Command("go", args...) //nolint:gosec // our own flags
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("CGO_ENABLED=0 GOOS=linux GOARCH=%s go %s in %s: %w", arch, strings.Join(args, " "), root, err)
	}
	f, err := elf.Open(out)
	if err != nil {
		return fmt.Errorf("the manager is not an ELF binary: %w", err)
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("the manager binary is dynamically linked (it has an ELF interpreter); the image has no libc")
		}
	}
	return nil
}

// caCertificates returns the NSS roots as one PEM bundle, and how many roots were left out:
// those that NSS trusts only with a constraint (certificates issued before a date), which a
// PEM bundle cannot carry; trusting them without it would trust more than NSS does.
func caCertificates() ([]byte, int, error) {
	var buf bytes.Buffer
	dropped := 0
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			dropped++
			continue
		}
		if _, err := x509.ParseCertificate(root.Certificate); err != nil {
			return nil, 0, fmt.Errorf("a root of x509roots/fallback does not parse: %w", err)
		}
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate}); err != nil {
			return nil, 0, err
		}
	}
	if buf.Len() == 0 {
		return nil, 0, errors.New("x509roots/fallback holds no unconstrained root")
	}
	return buf.Bytes(), dropped, nil
}

// entry is a file or directory of a layer, owned by uid:uid.
type entry struct {
	name string
	mode int64
	uid  int
	data []byte
	dir  bool
}

// dir is a directory owned by uid:uid.
func dir(name string, mode int64, uid int) entry {
	return entry{name: name, mode: mode, uid: uid, dir: true}
}

// file is a file owned by root.
func file(name string, mode int64, data []byte) entry {
	return entry{name: name, mode: mode, data: data}
}

// layer makes a gzipped layer of entries, in name order, every timestamp at created. Each
// entry's parent directory must come before it.
func layer(created time.Time, entries []entry) (v1.Layer, error) {
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	seen := map[string]bool{".": true}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if !seen[path.Dir(e.name)] {
			return nil, fmt.Errorf("layer: %s comes before its directory", e.name)
		}
		seen[e.name] = true
		h := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.uid,
			ModTime: created,
			Format:  tar.FormatUSTAR,
		}
		if e.dir {
			h.Typeflag, h.Name = tar.TypeDir, e.name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}
