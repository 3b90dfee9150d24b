package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
)

var (
	imageOnce sync.Once
	image     *localenv.ImageArchive
	imageErr  error
)

// managerImage is the image of `make image`: the archive the Makefile names in $IMAGE_ARCHIVE
// (`make test` builds it first), else one built here the same way (hack/image), once per run.
func managerImage(t *testing.T) *localenv.ImageArchive {
	t.Helper()
	root := repoRoot(t)
	imageOnce.Do(func() {
		archive := os.Getenv(localenv.ImageArchiveEnv)
		if archive == "" {
			archive = filepath.Join(binDir, "image.tar")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			if imageErr = localenv.BuildImage(ctx, root, "controller:latest", archive); imageErr != nil {
				return
			}
		}
		image, imageErr = localenv.ReadImageArchive(archive)
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return image
}

// TestImageMatchesDockerfile checks that the image of `make image` is what the Dockerfile
// builds, as far as the Dockerfile says: its final stage's ENTRYPOINT, USER and WORKDIR, the
// binary it copies at the path it copies it to, and the builder stage's `go build` (flags,
// CGO_ENABLED, main.go), read back from the binary's build information.
func TestImageMatchesDockerfile(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	df := parseDockerfile(t, filepath.Join(repoRoot(t), "Dockerfile"))
	img := managerImage(t)
	cfg := img.Config.Config

	if df.entrypoint == nil || df.user == "" || df.workdir == "" {
		t.Fatalf("the Dockerfile's final stage sets ENTRYPOINT %q, USER %q, WORKDIR %q: it should set all three, which the base image's values cannot be compared with",
			df.entrypoint, df.user, df.workdir)
	}
	if !slices.Equal(cfg.Entrypoint, df.entrypoint) {
		t.Errorf("entrypoint: image %q, Dockerfile %q", cfg.Entrypoint, df.entrypoint)
	}
	if df.cmd != nil && !slices.Equal(cfg.Cmd, df.cmd) || df.cmd == nil && len(cfg.Cmd) > 0 {
		t.Errorf("cmd: image %q, Dockerfile %q", cfg.Cmd, df.cmd)
	}
	if cfg.User != df.user {
		t.Errorf("user: image %q, Dockerfile %q", cfg.User, df.user)
	}
	if cfg.WorkingDir != df.workdir {
		t.Errorf("working directory: image %q, Dockerfile %q", cfg.WorkingDir, df.workdir)
	}
	if len(df.copied) == 0 {
		t.Fatal("the Dockerfile's final stage copies nothing")
	}
	for _, p := range df.copied {
		if f := img.Files[p]; f == nil || !f.Mode.IsRegular() || f.Mode&0o111 == 0 {
			t.Errorf("the Dockerfile copies an executable to %s; the image has %+v there", p, f)
		}
	}
	if !slices.Contains(df.copied, df.entrypoint[0]) {
		t.Errorf("the entrypoint %s is none of the files the Dockerfile copies (%v)", df.entrypoint[0], df.copied)
	}

	// The image's binary was built as the Dockerfile builds it, and as the e2e suites build
	// theirs (localenv.ReleaseBuildFlags), so that what they measure is what ships.
	bin := img.Files[df.entrypoint[0]]
	if bin == nil {
		t.Fatal("the image has no entrypoint binary")
	}
	info, err := buildinfo.Read(bytes.NewReader(bin.Data))
	if err != nil {
		t.Fatalf("the entrypoint has no Go build information: %v", err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if got := settings["CGO_ENABLED"]; got != df.build.env["CGO_ENABLED"] {
		t.Errorf("CGO_ENABLED: image's binary %q, Dockerfile %q", got, df.build.env["CGO_ENABLED"])
	}
	if want := "command-line-arguments"; slices.Contains(df.build.packages, "main.go") && info.Path != want {
		t.Errorf("the Dockerfile builds main.go, the image's binary is package %s", info.Path)
	}
	flags := buildSettings(df.build.flags)
	for _, key := range []string{"-trimpath", "-ldflags", "-tags", "-gcflags", "-asmflags", "-buildmode", "-race", "-msan", "-asan"} {
		want := flags[key]
		if key == "-buildmode" && want == "" {
			want = "exe"
		}
		if key == "-ldflags" && settings["-trimpath"] == "true" {
			// With -trimpath, go build does not record -ldflags: look for their effect.
			checkLinkerFlags(t, bin.Data, want)
			continue
		}
		if settings[key] != want {
			t.Errorf("go build %s: image's binary %q, Dockerfile %q", key, settings[key], want)
		}
	}
	if got := buildSettings(localenv.ReleaseBuildFlags); !equalMaps(got, flags) {
		t.Errorf("localenv.ReleaseBuildFlags (the e2e suites' manager) %v differ from the Dockerfile's %v", localenv.ReleaseBuildFlags, df.build.flags)
	}
}

// checkLinkerFlags checks the effect of the linker flags -s (no symbol table) and -w (no DWARF)
// on an ELF binary, and their absence's.
func checkLinkerFlags(t *testing.T, binary []byte, ldflags string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(binary))
	if err != nil {
		t.Fatalf("the entrypoint is not an ELF binary: %v", err)
	}
	var symtab, dwarf bool
	for _, s := range f.Sections {
		symtab = symtab || s.Name == ".symtab"
		dwarf = dwarf || strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_")
	}
	words := strings.Fields(ldflags)
	for _, w := range words {
		if w != "-s" && w != "-w" {
			t.Errorf("the Dockerfile's -ldflags %q hold %s, whose effect this test cannot see in the binary", ldflags, w)
		}
	}
	if strip := slices.Contains(words, "-s"); strip == symtab {
		t.Errorf("the Dockerfile's -ldflags are %q, the image's binary has a symbol table: %v", ldflags, symtab)
	}
	if strip := slices.Contains(words, "-s") || slices.Contains(words, "-w"); strip == dwarf {
		t.Errorf("the Dockerfile's -ldflags are %q, the image's binary has DWARF: %v", ldflags, dwarf)
	}
}

// TestImageContents checks what the image holds besides the Dockerfile's: a static binary, CA
// certificates that SSL_CERT_FILE names, the USER in /etc/passwd without a shell, no shell or
// other program, and fixed timestamps.
func TestImageContents(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	img := managerImage(t)
	cfg := img.Config

	if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", cfg.OS, cfg.Architecture, runtime.GOARCH)
	}
	var executables []string
	for p, f := range img.Files {
		if f.Mode.IsRegular() && f.Mode&0o111 != 0 || f.Mode&fs.ModeSymlink != 0 {
			executables = append(executables, p)
		}
	}
	if len(cfg.Config.Entrypoint) != 1 || !slices.Equal(executables, cfg.Config.Entrypoint) {
		t.Errorf("the image should hold one program, its entrypoint %q, and no link; it holds %q", cfg.Config.Entrypoint, executables)
	}
	for _, shell := range []string{"/bin/sh", "/bin/bash", "/bin/busybox", "/usr/bin/sh"} {
		if img.Files[shell] != nil {
			t.Errorf("the image holds a shell, %s", shell)
		}
	}

	if bin := img.Files[cfg.Config.Entrypoint[0]]; bin != nil {
		f, err := elf.NewFile(bytes.NewReader(bin.Data))
		if err != nil {
			t.Fatalf("the entrypoint is not an ELF binary: %v", err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("the entrypoint is dynamically linked (program header %s); the image has no libc", p.Type)
			}
		}
		if bin.UID != 0 || bin.Mode.Perm()&0o022 != 0 {
			t.Errorf("the entrypoint is owned by uid %d with mode %s: its user could replace it", bin.UID, bin.Mode)
		}
	}

	var certFile string
	for _, e := range cfg.Config.Env {
		if v, ok := strings.CutPrefix(e, "SSL_CERT_FILE="); ok {
			certFile = v
		}
	}
	if certFile != "/etc/ssl/certs/ca-certificates.crt" {
		t.Errorf("SSL_CERT_FILE is %q, want /etc/ssl/certs/ca-certificates.crt (where Go and OpenSSL look)", certFile)
	}
	if f := img.Files["/etc/ssl/certs/ca-certificates.crt"]; f == nil {
		t.Error("the image has no /etc/ssl/certs/ca-certificates.crt")
	} else {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(f.Data) || bytes.Count(f.Data, []byte("-----BEGIN CERTIFICATE-----")) < 100 {
			t.Errorf("/etc/ssl/certs/ca-certificates.crt holds %d certificates, want the Mozilla roots (over 100)",
				bytes.Count(f.Data, []byte("-----BEGIN CERTIFICATE-----")))
		}
		if f.Mode.Perm()&0o004 == 0 {
			t.Errorf("/etc/ssl/certs/ca-certificates.crt has mode %s: user %s cannot read it", f.Mode, cfg.Config.User)
		}
	}

	uid, gid, _ := strings.Cut(cfg.Config.User, ":")
	passwd := img.Files["/etc/passwd"]
	if passwd == nil {
		t.Fatal("the image has no /etc/passwd")
	}
	found := false
	for _, line := range strings.Split(string(passwd.Data), "\n") {
		fields := strings.Split(line, ":")
		if len(fields) != 7 {
			continue
		}
		if fields[6] != "/sbin/nologin" || img.Files[fields[6]] != nil {
			t.Errorf("user %s has a login shell %s", fields[0], fields[6])
		}
		if fields[2] == uid {
			found = true
			if gid != "" && fields[3] != gid {
				t.Errorf("user %s's group is %s, the image's USER says %s", uid, fields[3], gid)
			}
			if home := img.Files[fields[5]]; home == nil || !home.Mode.IsDir() || home.UID != 65532 {
				t.Errorf("user %s's home %s is not a directory it owns: %+v", uid, fields[5], home)
			}
		}
	}
	if !found {
		t.Errorf("the image's USER %s is not in /etc/passwd", cfg.Config.User)
	}
	if img.Files["/etc/group"] == nil || !strings.Contains(string(img.Files["/etc/group"].Data), ":"+gid+":") {
		t.Errorf("the image's group %s is not in /etc/group", gid)
	}

	// Reproducible: every timestamp is SOURCE_DATE_EPOCH (0 unless the build set it).
	epoch := time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("SOURCE_DATE_EPOCH=%q: %v", s, err)
		}
		epoch = time.Unix(sec, 0).UTC()
	}
	if !cfg.Created.Equal(epoch) {
		t.Errorf("the image was created at %s, want %s", cfg.Created, epoch)
	}
	for p, f := range img.Files {
		if !f.ModTime.Equal(epoch) {
			t.Errorf("%s has the timestamp %s, want %s", p, f.ModTime, epoch)
		}
	}
}

// TestImageReproducible builds the image a second time: the same sources give the same image.
func TestImageReproducible(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	first := managerImage(t)
	second := filepath.Join(t.TempDir(), "image.tar")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := localenv.BuildImage(ctx, repoRoot(t), first.RepoTags[0], second); err != nil {
		t.Fatal(err)
	}
	img, err := localenv.ReadImageArchive(second)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != first.ID {
		a, _ := json.Marshal(first.Config)
		b, _ := json.Marshal(img.Config)
		t.Errorf("two builds of the same sources gave images %s and %s (configs %s and %s); if the sources changed in between, run again", first.ID, img.ID, a, b)
		for p, f := range first.Files {
			if g := img.Files[p]; g == nil || !bytes.Equal(f.Data, g.Data) {
				t.Errorf("%s differs", p)
			}
		}
	}
}

// dockerfile is what the Dockerfile's stages say, as far as the tests compare.
type dockerfile struct {
	// The final stage's.
	entrypoint, cmd []string
	user, workdir   string
	copied          []string // absolute paths
	// The `go build` of the stages before.
	build goBuild
}

type goBuild struct {
	env      map[string]string
	flags    []string
	packages []string
}

// parseDockerfile reads the instructions the tests compare. It knows the syntax the
// Dockerfile uses: comments, line continuations, JSON and shell forms.
func parseDockerfile(t *testing.T, file string) dockerfile {
	t.Helper()
	data, err := os.ReadFile(file) //nolint:gosec // the repository's Dockerfile
	if err != nil {
		t.Fatal(err)
	}
	var instructions []string
	var current strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, "\\"); ok {
			current.WriteString(cont + " ")
			continue
		}
		current.WriteString(trimmed)
		if s := strings.TrimSpace(current.String()); s != "" {
			instructions = append(instructions, s)
		}
		current.Reset()
	}
	var df dockerfile
	for _, ins := range instructions {
		op, rest, _ := strings.Cut(ins, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(op) {
		case "FROM":
			// A new stage: only the last one's settings count.
			df.entrypoint, df.cmd, df.user, df.workdir, df.copied = nil, nil, "", "", nil
		case "WORKDIR":
			if path.IsAbs(rest) {
				df.workdir = path.Clean(rest)
			} else {
				df.workdir = path.Join("/", df.workdir, rest)
			}
		case "USER":
			df.user = rest
		case "ENTRYPOINT":
			df.entrypoint = execForm(t, rest)
		case "CMD":
			df.cmd = execForm(t, rest)
		case "COPY", "ADD":
			words := strings.Fields(rest)
			var args []string
			for _, w := range words {
				if !strings.HasPrefix(w, "--") {
					args = append(args, w)
				}
			}
			if len(args) < 2 {
				t.Fatalf("Dockerfile: %s: want sources and a destination", ins)
			}
			dest := args[len(args)-1]
			if !path.IsAbs(dest) {
				dest = path.Join("/", df.workdir, dest)
			}
			toDir := strings.HasSuffix(args[len(args)-1], "/") || args[len(args)-1] == "." || len(args) > 2
			for _, src := range args[:len(args)-1] {
				if toDir {
					df.copied = append(df.copied, path.Join(dest, path.Base(src)))
				} else {
					df.copied = append(df.copied, path.Clean(dest))
				}
			}
		case "RUN":
			if b, ok := parseGoBuild(shellWords(rest)); ok {
				df.build = b
			}
		}
	}
	if df.build.env == nil {
		t.Fatal("the Dockerfile runs no `go build`")
	}
	return df
}

// execForm parses an instruction's JSON (exec) form, or turns its shell form into what Docker
// runs.
func execForm(t *testing.T, s string) []string {
	t.Helper()
	if strings.HasPrefix(s, "[") {
		var args []string
		if err := json.Unmarshal([]byte(s), &args); err != nil {
			t.Fatalf("Dockerfile: %s: %v", s, err)
		}
		return args
	}
	return []string{"/bin/sh", "-c", s}
}

// parseGoBuild finds `[VAR=value ...] go build FLAGS... PACKAGES` in a RUN command's words.
func parseGoBuild(words []string) (goBuild, bool) {
	for i := 0; i+1 < len(words); i++ {
		if words[i] != "go" || words[i+1] != "build" {
			continue
		}
		b := goBuild{env: map[string]string{}}
		for j := i - 1; j >= 0 && strings.Contains(words[j], "="); j-- {
			k, v, _ := strings.Cut(words[j], "=")
			b.env[k] = v
		}
		rest := words[i+2:]
		for j := 0; j < len(rest); j++ {
			w := rest[j]
			switch {
			case w == "-o":
				j++ // its value
			case strings.HasPrefix(w, "-"):
				b.flags = append(b.flags, w)
			case w == "&&" || w == ";":
				return b, true
			default:
				b.packages = append(b.packages, w)
			}
		}
		return b, true
	}
	return goBuild{}, false
}

// shellWords splits a command line into words as a POSIX shell would for simple commands:
// quotes group and are removed; nothing is expanded.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				w.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// buildSettings turns `go build` flags into the settings they leave in a binary's build
// information (-trimpath=true, -ldflags=-s -w, ...).
func buildSettings(flags []string) map[string]string {
	settings := map[string]string{}
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			v = "true"
		}
		if k == "-o" {
			continue
		}
		settings[k] = v
	}
	return settings
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
