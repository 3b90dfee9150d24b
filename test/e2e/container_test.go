package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// leaseName is the manager's leader election Lease (main.go's leaderElectionID).
const leaseName = "tableau-webhook-operator.webhook-operator.dev"

// TestContainerFromInstaller runs the manager's image (`make image`) as the kubelet would run
// the installer's Deployment (dist/install.yaml), with everything else of the installer applied
// to the API server: see testDeploymentInContainer.
func TestContainerFromInstaller(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	requireContainerEngine(t)
	env := startEnv(t, localenv.Options{NoCRDs: true})
	ctx := within(t, 2*time.Minute)

	deploy := installAllButDeployment(ctx, t, env, installerObjects(t, env), nil)
	testDeploymentInContainer(t, env, deploy.Namespace, deploy)
}

// testDeploymentInContainer runs the image of `make image` in podman as the kubelet would run
// deploy's Pod template in namespace (localenv.Env.RunPod: the template's args, env, ports,
// probes, security contexts and resources as they are, its ServiceAccount's token from the
// TokenRequest API, the host's network), and checks that the manager:
//
//   - starts, as the security contexts say (user, capabilities, no_new_privs, seccomp,
//     read-only root filesystem: read from /proc of its process);
//   - listens on every port the container declares, and passes its readiness and liveness
//     probes, probed as the kubelet probes them;
//   - takes the leader election Lease in namespace with its ServiceAccount's token;
//   - reconciles a TableauSite and a TableauWebhook against the simulator (HTTPS, its CA from
//     a Secret) until both are Ready and the webhook is in Tableau;
//   - stops at SIGTERM within terminationGracePeriodSeconds with exit code 0, signs its
//     Tableau session out and releases the Lease;
//   - was refused nothing by the API server (no "forbidden" in its log).
//
// Everything but the Deployment (CRDs, RBAC, the ServiceAccount, the namespace) must be
// installed already.
func testDeploymentInContainer(t *testing.T, env *localenv.Env, namespace string, deploy *appsv1.Deployment) {
	engine, imageID := containerImage(t)
	ctx := within(t, 4*time.Minute)

	sim, err := env.StartInProcessSimulator(localenv.SimulatorOptions{Sites: []string{"marketing"}, TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	pod, err := env.RunPod(ctx, localenv.PodOptions{
		Namespace: namespace, GenerateName: deploy.Name + "-", Template: deploy.Spec.Template,
		Image: imageID, Engine: engine,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("podman %s", strings.Join(pod.Args, " "))
			t.Logf("problems: %v; end of the container's log:\n%s", pod.Problems(), pod.LogTail(60))
		}
	})
	t.Logf("Pod %s/%s runs image %s as container %.12s", namespace, pod.Object.Name, imageID, pod.ContainerID)

	t.Run("SecurityContext", func(t *testing.T) { checkContainerProcess(ctx, t, pod) })

	if err := pod.WaitReady(within(t, time.Minute)); err != nil {
		t.Fatalf("readiness: %v", err)
	}
	for _, port := range pod.Container.Ports {
		if port.Protocol != "" && port.Protocol != corev1.ProtocolTCP {
			continue
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port.ContainerPort))), 2*time.Second)
		if err != nil {
			t.Errorf("the container declares port %d (%s), but nothing listens there: %v", port.ContainerPort, port.Name, err)
			continue
		}
		_ = conn.Close()
	}

	t.Log("leader election")
	var lease coordinationv1.Lease
	err = localenv.Poll(within(t, time.Minute), func(ctx context.Context) error {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: leaseName}, &lease); err != nil {
			return err
		}
		if ptr.Deref(lease.Spec.HolderIdentity, "") == "" {
			return errors.New("the Lease has no holder")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the manager did not take Lease %s/%s: %v", namespace, leaseName, err)
	}

	t.Log("reconcile a TableauSite and a TableauWebhook")
	const url = "https://hooks.example.com/from-the-container"
	fixture, objs := sim.SiteObjects("team-container", "marketing", "marketing")
	webhook := fixture.Webhook("refresh-failed", "DatasourceRefreshFailed", url)
	if err := env.Apply(ctx, append(objs, webhook)); err != nil {
		t.Fatal(err)
	}
	waitReady(ctx, t, env, fixture.Site(), webhook)
	simWebhookNamed(ctx, t, sim, fixture.Namespace+"/"+webhook.Name, url)

	// The kubelet's first liveness probe comes initialDelaySeconds after the start.
	if err := pod.WaitLive(within(t, 2*time.Minute)); err != nil {
		t.Fatalf("liveness: %v", err)
	}

	t.Log("SIGTERM")
	signOuts := sim.Server.Count(tableautest.OpSignOut)
	stopped, err := pod.Stop(ctx)
	if err != nil {
		t.Fatalf("stop the container: %v", err)
	}
	t.Logf("the container exited with code %d %s after the stop signal (grace period %s)", stopped.ExitCode, stopped.Took.Round(time.Millisecond), stopped.Grace)
	if stopped.ExitCode != 0 || stopped.Killed() {
		t.Errorf("the manager did not exit cleanly at SIGTERM: exit code %d after %s (grace period %s)", stopped.ExitCode, stopped.Took, stopped.Grace)
	}
	if got := sim.Server.Count(tableautest.OpSignOut) - signOuts; got != 1 {
		t.Errorf("the manager signed out %d times at SIGTERM, want 1 (its one session)", got)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(&lease), &lease); err != nil {
		t.Error(err)
	} else if holder := ptr.Deref(lease.Spec.HolderIdentity, ""); holder != "" {
		t.Errorf("the manager kept the Lease at SIGTERM (holder %q): another replica would wait for it to expire", holder)
	}
	if problems := pod.Problems(); len(problems) > 0 {
		t.Errorf("the kubelet would have acted: %s", strings.Join(problems, "; "))
	}
	logs, err := pod.Logs()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs, "starting manager") {
		t.Errorf("the container's log does not show the manager starting:\n%s", logs)
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(strings.ToLower(line), "forbidden") {
			t.Errorf("the API server refused the manager something:\n%s", line)
		}
	}
}

// checkContainerProcess reads /proc of the container's process on this host: it runs as the
// user the image or the security contexts say, with the capabilities, no_new_privs, seccomp
// mode and root filesystem that the security contexts ask for.
func checkContainerProcess(ctx context.Context, t *testing.T, pod *localenv.Pod) {
	pid, err := pod.HostPID(ctx)
	if err != nil || pid == 0 {
		t.Fatalf("the container's process: pid %d, %v (exited: %v)", pid, err, pod.Exited())
	}
	status := containerProcStatus(t, pid)
	root, err := rootMountOptions(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the manager runs as uids %s, gids %s, groups %q, CapEff %s, CapBnd %s, NoNewPrivs %s, Seccomp %s, root filesystem %v",
		status["Uid"], status["Gid"], status["Groups"], status["CapEff"], status["CapBnd"], status["NoNewPrivs"], status["Seccomp"], root)
	spec := pod.Object.Spec
	sc := ptr.Deref(pod.Container.SecurityContext, corev1.SecurityContext{})
	psc := ptr.Deref(spec.SecurityContext, corev1.PodSecurityContext{})

	uid, _, _ := strings.Cut(pod.ImageUser, ":")
	if u := either(sc.RunAsUser, psc.RunAsUser); u != nil {
		uid = strconv.FormatInt(*u, 10)
	}
	if got := strings.Fields(status["Uid"]); len(got) != 4 || slices.ContainsFunc(got, func(s string) bool { return s != uid }) {
		t.Errorf("the manager runs as uids %v (real, effective, saved, fs), want %s", got, uid)
	}
	if ptr.Deref(either(sc.RunAsNonRoot, psc.RunAsNonRoot), false) && uid == "0" {
		t.Error("runAsNonRoot, and yet the manager runs as root")
	}
	if sc.Capabilities != nil && slices.Contains(sc.Capabilities.Drop, "ALL") && len(sc.Capabilities.Add) == 0 {
		for _, set := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
			if n, err := strconv.ParseUint(status[set], 16, 64); err != nil || n != 0 {
				t.Errorf("capabilities drop ALL, and yet %s is %s", set, status[set])
			}
		}
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation && status["NoNewPrivs"] != "1" {
		t.Errorf("allowPrivilegeEscalation is false, and yet NoNewPrivs is %q", status["NoNewPrivs"])
	}
	if profile := either(sc.SeccompProfile, psc.SeccompProfile); profile != nil && profile.Type == corev1.SeccompProfileTypeRuntimeDefault &&
		status["Seccomp"] != "2" {
		t.Errorf("seccompProfile RuntimeDefault, and yet the process' seccomp mode is %q (want 2, a filter)", status["Seccomp"])
	}
	if ptr.Deref(sc.ReadOnlyRootFilesystem, false) {
		if !slices.Contains(root, "ro") {
			t.Errorf("readOnlyRootFilesystem, and yet / is mounted %v", root)
		}
		// Nothing of podman's own may be writable either: the kubelet mounts no tmpfs on /tmp.
		probe := filepath.Join("/proc", strconv.Itoa(pid), "root", "tmp", "write-probe")
		if err := os.WriteFile(probe, nil, 0o600); err == nil {
			_ = os.Remove(probe)
			t.Error("readOnlyRootFilesystem, and yet /tmp of the container is writable")
		}
	}
}

// either returns the container's setting if set, else the Pod's.
func either[T any](container, pod *T) *T {
	if container != nil {
		return container
	}
	return pod
}

// containerProcStatus reads /proc/PID/status.
func containerProcStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			status[k] = strings.TrimSpace(v)
		}
	}
	return status
}

// rootMountOptions returns the mount options of the process' root filesystem.
func rootMountOptions(pid int) ([]string, error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "mountinfo"))
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ...
		fields := strings.Fields(sc.Text())
		if len(fields) > 5 && fields[4] == "/" {
			return strings.Split(fields[5], ","), nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("no root mount in /proc/%d/mountinfo", pid)
}

var (
	engineOnce sync.Once
	engine     *localenv.Podman
	engineErr  error

	loadOnce sync.Once
	loadedID string
	loadErr  error
)

// requireContainerEngine skips the test where podman is not installed, and fails it in CI
// (CI set), where .ci/run installs it.
func requireContainerEngine(t *testing.T) *localenv.Podman {
	t.Helper()
	if os.Geteuid() != 0 {
		// Rootless podman maps the image's user 65532 to a subordinate uid of the host (and
		// needs uidmap and delegated cgroups for the pod's limits), so the checks of the
		// container's identity read from /proc would not hold.
		t.Skip("container e2e: runs podman as root only (run the tests as root, as .ci/run on a CI machine does); rootless podman maps the container's user 65532 to another host uid")
	}
	engineOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		engine, engineErr = localenv.NewPodman(ctx, repoRoot(t), filepath.Join(binDir, "podman"))
	})
	if errors.Is(engineErr, localenv.ErrNoContainerEngine) && os.Getenv("CI") == "" {
		t.Skipf("container e2e: %v", engineErr)
	}
	if engineErr != nil {
		t.Fatal(engineErr)
	}
	return engine
}

// closeEngine removes podman's containers, images and storage; TestMain calls it.
func closeEngine() error {
	if engine == nil {
		return nil
	}
	return engine.Close()
}

// containerImage returns podman, with the image of `make image` loaded, and the image's ID.
func containerImage(t *testing.T) (*localenv.Podman, string) {
	t.Helper()
	p := requireContainerEngine(t)
	img := managerImage(t)
	loadOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		loadedID, loadErr = p.Load(ctx, img)
	})
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return p, loadedID
}
