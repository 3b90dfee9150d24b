package localenv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

func TestVerifyRunAsNonRoot(t *testing.T) {
	nonRoot := &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}
	for _, tc := range []struct {
		name      string
		pod       *corev1.PodSecurityContext
		container *corev1.SecurityContext
		imageUser string
		wantErr   string
	}{
		{name: "numeric non-root user", pod: nonRoot, imageUser: "65532:65532"},
		{name: "numeric user without group", pod: nonRoot, imageUser: "65532"},
		{name: "named user", pod: nonRoot, imageUser: "nonroot", wantErr: "non-numeric user (nonroot)"},
		{name: "named user and group", pod: nonRoot, imageUser: "nonroot:nonroot", wantErr: "non-numeric user (nonroot)"},
		{name: "root by number", pod: nonRoot, imageUser: "0:0", wantErr: "will run as root"},
		{name: "no USER", pod: nonRoot, imageUser: "", wantErr: "will run as root"},
		{name: "runAsUser decides over the image", pod: nonRoot, container: &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000)}, imageUser: "root"},
		{name: "runAsUser 0", pod: nonRoot, container: &corev1.SecurityContext{RunAsUser: ptr.To[int64](0)}, imageUser: "65532", wantErr: "runAsUser breaks non-root policy"},
		{name: "pod runAsUser 0", pod: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](0)}, imageUser: "65532", wantErr: "breaks non-root policy"},
		{name: "the container's runAsNonRoot false", pod: nonRoot, container: &corev1.SecurityContext{RunAsNonRoot: ptr.To(false)}, imageUser: "0"},
		{name: "the container's runAsNonRoot alone", container: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}, imageUser: "nonroot", wantErr: "non-numeric"},
		{name: "no policy", imageUser: "root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := verifyRunAsNonRoot(tc.pod, tc.container, tc.imageUser)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one with %q", err, tc.wantErr)
			}
		})
	}
}

func TestSecurityArgs(t *testing.T) {
	// config/manager's contexts.
	pod := &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	sc := &corev1.SecurityContext{
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	args, err := securityArgs(pod, sc, "65532:65532")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--read-only", "--read-only-tmpfs=false", "--security-opt=no-new-privileges", "--cap-drop=ALL"}
	if !slices.Equal(args, want) {
		t.Errorf("hardened: %q, want %q", args, want)
	}

	// Nothing set: the kubelet's defaults are no seccomp filter and privilege escalation allowed.
	args, err = securityArgs(nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"--security-opt=seccomp=unconfined"}; !slices.Equal(args, want) {
		t.Errorf("defaults: %q, want %q", args, want)
	}

	args, err = securityArgs(&corev1.PodSecurityContext{RunAsGroup: ptr.To[int64](3000), FSGroup: ptr.To[int64](2000), SupplementalGroups: []int64{4000}},
		&corev1.SecurityContext{RunAsUser: ptr.To[int64](1000), Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}, "65532")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"--user=1000:3000", "--group-add=4000", "--group-add=2000", "--cap-add=NET_BIND_SERVICE"}; !slices.Equal(args, want) {
		t.Errorf("users and groups: %q, want %q", args, want)
	}

	args, err = securityArgs(&corev1.PodSecurityContext{RunAsGroup: ptr.To[int64](3000)}, nil, "65532:65532")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(args, "--user=65532:3000") {
		t.Errorf("runAsGroup alone keeps the image's user: %q", args)
	}

	if _, err := securityArgs(&corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost}}, nil, ""); err == nil {
		t.Error("a Localhost seccomp profile should be refused")
	}
}

func TestResourceArgs(t *testing.T) {
	r := corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
	}
	if got, want := resourceArgs(r), []string{"--cpus=0.5", "--memory=268435456", "--cpu-shares=10"}; !slices.Equal(got, want) {
		t.Errorf("resourceArgs: %q, want %q", got, want)
	}
	if got := resourceArgs(corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1m")}}); !slices.Equal(got, []string{"--cpu-shares=2"}) {
		t.Errorf("the kubelet's minimum CPU shares are 2, got %q", got)
	}
	for ref, want := range map[corev1.ResourceFieldSelector]string{
		{Resource: "limits.memory"}:                                       "268435456",
		{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}:   "256",
		{Resource: "limits.cpu"}:                                          "1",
		{Resource: "limits.cpu", Divisor: resource.MustParse("1m")}:       "500",
		{Resource: "requests.memory", Divisor: resource.MustParse("1Mi")}: "64",
	} {
		got, err := resourceValue(r, &ref)
		if err != nil || got != want {
			t.Errorf("resourceValue(%s / %s) = %q, %v; want %q", ref.Resource, ref.Divisor.String(), got, err, want)
		}
	}
	if _, err := resourceValue(r, &corev1.ResourceFieldSelector{Resource: "limits.ephemeral-storage"}); err == nil {
		t.Error("a resource the container does not set should be an error")
	}
}

func TestExpand(t *testing.T) {
	vars := []corev1.EnvVar{{Name: "NS", Value: "team-a"}, {Name: "PORT", Value: "8081"}, {Name: "NS", Value: "team-b"}}
	for in, want := range map[string]string{
		"--health-probe-bind-address=:$(PORT)": "--health-probe-bind-address=:8081",
		"$(NS)":                                "team-b",
		"$$(NS)":                               "$(NS)",
		"$(MISSING)":                           "$(MISSING)",
		"$(unterminated":                       "$(unterminated",
		"price $5":                             "price $5",
		"$":                                    "$",
		"a$$b":                                 "a$b",
	} {
		if got := expand(in, vars); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckSupported(t *testing.T) {
	ok := corev1.PodSpec{Containers: []corev1.Container{{Name: "manager",
		LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz"}}}}},
		Volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}}
	if err := checkSupported(&ok); err != nil {
		t.Errorf("a supported spec was refused: %v", err)
	}
	bad := ok.DeepCopy()
	bad.Containers = append(bad.Containers, corev1.Container{Name: "sidecar"})
	bad.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
	bad.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{}}
	bad.Volumes = append(bad.Volumes, corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}})
	err := checkSupported(bad)
	if err == nil {
		t.Fatal("an unsupported spec was accepted")
	}
	for _, want := range []string{"2 containers", "readiness probe", "lifecycle hooks", `volume "config"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error %q does not say %q", err, want)
		}
	}
}

func TestReadImageArchive(t *testing.T) {
	layer := func(files map[string]string) []byte {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		for _, name := range slices.Sorted(func(yield func(string) bool) {
			for k := range files {
				if !yield(k) {
					return
				}
			}
		}) {
			data := files[name]
			if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write([]byte(data)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := gz.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	config, _ := json.Marshal(map[string]any{"os": "linux", "architecture": "amd64",
		"config": map[string]any{"User": "65532:65532", "Entrypoint": []string{"/manager"}, "WorkingDir": "/"}})
	manifest, _ := json.Marshal([]map[string]any{{"Config": "sha256:abc", "RepoTags": []string{"controller:latest"}, "Layers": []string{"1.tar.gz", "2.tar.gz"}}})
	archive := filepath.Join(t.TempDir(), "image.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		data []byte
	}{
		{"sha256:abc", config},
		{"1.tar.gz", layer(map[string]string{"etc/passwd": "root", "old/a": "a", "old/b": "b", "keep/c": "c"})},
		{"2.tar.gz", layer(map[string]string{"manager": "ELF", "old/.wh..wh..opq": "", ".wh.keep": ""})},
		{"manifest.json", manifest},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	img, err := ReadImageArchive(archive)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != "sha256:abc" || img.Config.Config.User != "65532:65532" || !slices.Equal(img.RepoTags, []string{"controller:latest"}) {
		t.Errorf("read %+v", img)
	}
	var paths []string
	for p := range img.Files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	if want := []string{"/etc/passwd", "/manager"}; !slices.Equal(paths, want) {
		t.Errorf("files after the whiteouts: %q, want %q", paths, want)
	}
	if string(img.Files["/manager"].Data) != "ELF" {
		t.Errorf("/manager holds %q", img.Files["/manager"].Data)
	}

	if _, err := ReadImageArchive(filepath.Join(t.TempDir(), "missing.tar")); err == nil {
		t.Error("a missing archive should be an error")
	}
	notImage := filepath.Join(t.TempDir(), "empty.tar")
	if err := os.WriteFile(notImage, make([]byte, 1024), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadImageArchive(notImage); err == nil || !strings.Contains(err.Error(), "manifest.json") {
		t.Errorf("an archive without manifest.json: %v", err)
	}
}
