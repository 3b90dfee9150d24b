package main

import (
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

var (
	archiveOnce sync.Once
	archivePath string
	archiveErr  error
)

// archive is the image archive of `make image` ($IMAGE_ARCHIVE, which `make test-image` sets),
// else one this test builds from the repository.
func archive(t *testing.T) string {
	t.Helper()
	archiveOnce.Do(func() {
		if archivePath = os.Getenv("IMAGE_ARCHIVE"); archivePath != "" {
			return
		}
		dir, err := os.MkdirTemp("", "image-test-")
		if err != nil {
			archiveErr = err
			return
		}
		archivePath = filepath.Join(dir, "image.tar")
		archiveErr = run([]string{"--root", "../..", "--output", archivePath})
	})
	if archiveErr != nil {
		t.Fatal(archiveErr)
	}
	return archivePath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if archivePath != "" && os.Getenv("IMAGE_ARCHIVE") == "" {
		_ = os.RemoveAll(filepath.Dir(archivePath))
	}
	os.Exit(code)
}

// TestArchiveIsValid reads the archive as `crane push` does and validates it with
// go-containerregistry: every digest, diff ID and size in the manifest and config matches the
// blobs, and the layers are readable tarballs.
func TestArchiveIsValid(t *testing.T) {
	img, err := crane.Load(archive(t))
	if err != nil {
		t.Fatalf("crane cannot read the archive: %v", err)
	}
	if err := validate.Image(img); err != nil {
		t.Errorf("the image is not valid: %v", err)
	}
}

// TestArchivePushes pushes the archive to a registry (go-containerregistry's, in process) as
// `crane push` would, and reads it back unchanged.
func TestArchivePushes(t *testing.T) {
	img, err := crane.Load(archive(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/tableau-webhook-operator:test"
	if err := crane.Push(img, ref, crane.Insecure); err != nil {
		t.Fatalf("crane push: %v", err)
	}
	pulled, err := crane.Pull(ref, crane.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	got, err := pulled.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("pushed %s, pulled %s", want, got)
	}
	if err := validate.Image(pulled); err != nil {
		t.Errorf("the pulled image is not valid: %v", err)
	}
}

// TestBadInput: every mistake in the command line is an error that says what is wrong.
func TestBadInput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "image.tar")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--output", out}, "--root and --output are required"},
		{[]string{"--root", "../.."}, "--root and --output are required"},
		{[]string{"--root", "../..", "--output", out, "--tag", "Not A Name"}, "is not an image name with a tag"},
		{[]string{"--root", "../..", "--output", out, "--source-date-epoch", "yesterday"}, "is not a Unix time"},
		{[]string{"--root", "../..", "--output", out, "--source-date-epoch", "-1"}, "is not a Unix time"},
		{[]string{"--root", t.TempDir(), "--output", out}, "no main.go"},
		{[]string{"--root", "../..", "--output", out, "extra"}, "unexpected arguments"},
	} {
		err := run(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("image %s: error %v, want one saying %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed run left %s", out)
	}
}
