package localenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Binaries are the programs of this repository that the demo and the suites run.
type Binaries struct {
	// Manager is the operator (the module's main package).
	Manager string
	// Simulator is hack/tableau-sim.
	Simulator string
	// Demo is hack/demo.
	Demo string
}

// ReleaseBuildFlags are the `go build` flags of the shipped manager (the Makefile's build and
// image targets and the Dockerfile use the same, with CGO_ENABLED=0): no file paths and no
// symbol or DWARF tables, which are a third of the executable and would count in its resident
// memory as file-backed pages. Stack traces keep their function names and lines.
var ReleaseBuildFlags = []string{"-trimpath", "-ldflags=-s -w"}

// BuildBinaries builds the manager, hack/tableau-sim and hack/demo from the repository at root
// into dir with one `go build` (the build cache makes a rebuild quick), as the image is built:
// ReleaseBuildFlags, CGO_ENABLED=0.
func BuildBinaries(ctx context.Context, root, dir string) (Binaries, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return Binaries{}, err
	}
	args := append(append([]string{"build"}, ReleaseBuildFlags...), "-o", dir+string(filepath.Separator), ".", "./hack/tableau-sim", "./hack/demo")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("go build in %s: %w\n%s", root, err, out)
	}
	b := Binaries{
		Manager:   filepath.Join(dir, "manager"),
		Simulator: filepath.Join(dir, "tableau-sim"),
		Demo:      filepath.Join(dir, "demo"),
	}
	// `go build -o DIR/` names the root package's binary after the module's last element.
	if err := os.Rename(filepath.Join(dir, filepath.Base(ModulePath)), b.Manager); err != nil {
		return Binaries{}, err
	}
	return b, nil
}
