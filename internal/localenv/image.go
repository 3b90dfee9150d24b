package localenv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// ImageArchiveEnv names the environment variable with which the Makefile hands the suites the
// image archive that `make image` wrote; without it, they build one with BuildImage.
const ImageArchiveEnv = "IMAGE_ARCHIVE"

// BuildImage builds the manager's image from the repository at root as `make image` does (the
// program in hack/image, its own Go module), tagged tag, into the archive output.
func BuildImage(ctx context.Context, root, tag, output string) error {
	cmd := exec.CommandContext(ctx, "go", "run", ".", "--root", root, "--tag", tag, "--output", output)
	cmd.Dir = filepath.Join(root, "hack", "image")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the image (go run ./hack/image, as `make image` does): %w\n%s", err, out)
	}
	return nil
}

// ImageArchive is an image read from an archive in the `docker save` format (what `make image`
// writes): its config and the files of its layers, flattened.
type ImageArchive struct {
	// Path is the archive's file.
	Path string
	// RepoTags are the names it is loaded as.
	RepoTags []string
	// ID is the digest of its config (sha256:...), which engines call the image ID.
	ID string
	// Config is its config file.
	Config ImageConfigFile
	// Files are the files and directories of its root filesystem by absolute path ("/manager"),
	// after every layer has been applied (whiteouts included).
	Files map[string]*ImageFile
}

// ImageConfigFile is the part of an image's config file (OCI image spec, "config") that the
// suites read.
type ImageConfigFile struct {
	Architecture string      `json:"architecture"`
	OS           string      `json:"os"`
	Created      time.Time   `json:"created"`
	Config       ImageConfig `json:"config"`
	History      []struct {
		Created   time.Time `json:"created"`
		CreatedBy string    `json:"created_by"`
	} `json:"history"`
}

// ImageConfig is what a container of the image runs with by default.
type ImageConfig struct {
	User         string              `json:"User"`
	Entrypoint   []string            `json:"Entrypoint"`
	Cmd          []string            `json:"Cmd"`
	WorkingDir   string              `json:"WorkingDir"`
	Env          []string            `json:"Env"`
	Labels       map[string]string   `json:"Labels"`
	StopSignal   string              `json:"StopSignal"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts"`
	Volumes      map[string]struct{} `json:"Volumes"`
}

// ImageFile is a file of an image's root filesystem.
type ImageFile struct {
	Mode     fs.FileMode
	UID, GID int
	ModTime  time.Time
	// Linkname is the target of a symbolic or hard link.
	Linkname string
	// Data is the content of a regular file.
	Data []byte
}

// ReadImageArchive reads an image archive of one image (`docker save`, `make image`).
func ReadImageArchive(archive string) (*ImageArchive, error) {
	entries := map[string][]byte{}
	if err := readTar(archive, func(h *tar.Header, r io.Reader) error {
		data, err := io.ReadAll(r)
		entries[path.Clean(h.Name)] = data
		return err
	}); err != nil {
		return nil, fmt.Errorf("read the image archive %s: %w", archive, err)
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	data, ok := entries["manifest.json"]
	if !ok {
		return nil, fmt.Errorf("%s holds no manifest.json: not an image archive of `docker save`'s format", archive)
	}
	if err := json.Unmarshal(data, &manifest); err != nil {
		return nil, fmt.Errorf("%s: manifest.json: %w", archive, err)
	}
	if len(manifest) != 1 {
		return nil, fmt.Errorf("%s holds %d images, want 1", archive, len(manifest))
	}
	m := manifest[0]
	img := &ImageArchive{Path: archive, RepoTags: m.RepoTags, Files: map[string]*ImageFile{}}
	cfg, ok := entries[path.Clean(m.Config)]
	if !ok {
		return nil, fmt.Errorf("%s: no config %s", archive, m.Config)
	}
	if err := json.Unmarshal(cfg, &img.Config); err != nil {
		return nil, fmt.Errorf("%s: config %s: %w", archive, m.Config, err)
	}
	// `docker save` names the config after its digest, with or without the algorithm.
	img.ID = "sha256:" + strings.TrimSuffix(strings.TrimPrefix(path.Base(m.Config), "sha256:"), ".json")
	for _, name := range m.Layers {
		data, ok := entries[path.Clean(name)]
		if !ok {
			return nil, fmt.Errorf("%s: no layer %s", archive, name)
		}
		if err := img.applyLayer(data); err != nil {
			return nil, fmt.Errorf("%s: layer %s: %w", archive, name, err)
		}
	}
	return img, nil
}

// applyLayer applies a (gzipped or plain) layer tarball to the files, with its whiteouts.
func (img *ImageArchive) applyLayer(data []byte) error {
	var r io.Reader = bytes.NewReader(data)
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		r = gz
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Join("/", h.Name)
		dir, base := path.Split(name)
		switch {
		case base == ".wh..wh..opq":
			for p := range img.Files {
				if strings.HasPrefix(p, dir) && p != path.Clean(dir) {
					delete(img.Files, p)
				}
			}
			continue
		case strings.HasPrefix(base, ".wh."):
			gone := path.Join(dir, strings.TrimPrefix(base, ".wh."))
			for p := range img.Files {
				if p == gone || strings.HasPrefix(p, gone+"/") {
					delete(img.Files, p)
				}
			}
			continue
		}
		f := &ImageFile{Mode: h.FileInfo().Mode(), UID: h.Uid, GID: h.Gid, ModTime: h.ModTime, Linkname: h.Linkname}
		if h.Typeflag == tar.TypeReg {
			if f.Data, err = io.ReadAll(tr); err != nil {
				return err
			}
		}
		img.Files[name] = f
	}
}

// readTar calls f for each entry of a tar file.
func readTar(file string, f func(*tar.Header, io.Reader) error) error {
	fh, err := os.Open(file) //nolint:gosec // the caller's archive
	if err != nil {
		return err
	}
	defer func() { _ = fh.Close() }()
	tr := tar.NewReader(fh)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := f(h, tr); err != nil {
			return err
		}
	}
}
