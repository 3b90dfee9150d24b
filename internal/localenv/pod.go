package localenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ServiceAccountMountPath is where the kubelet mounts a Pod's ServiceAccount token, the API
// server's CA certificate and the namespace (what rest.InClusterConfig reads).
const ServiceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// PodNodeName is the node that Env.RunPod's Pods are bound to.
const PodNodeName = "localenv"

// The kubelet's defaults.
const (
	defaultTerminationGracePeriod = 30 * time.Second
	// Projected ServiceAccount tokens that the ServiceAccount admission plugin adds last an
	// hour and seven seconds.
	serviceAccountTokenSeconds = 3607
)

// hostNetwork serialises the Pods that RunPod runs in this process: they share the host's
// network, where two of them would bind the same ports.
var hostNetwork sync.Mutex

// PodOptions configure Env.RunPod.
type PodOptions struct {
	// Namespace is the Pod's namespace (a Deployment's).
	Namespace string
	// GenerateName prefixes the Pod's name, as a ReplicaSet's does (a Deployment's name and
	// "-"). Default: "pod-".
	GenerateName string
	// Template is what runs: a Deployment's spec.template. It must have one container.
	Template corev1.PodTemplateSpec
	// Image is run instead of the container's image: an image ID or name that Engine has
	// loaded (the image under test, not the registry name the manifest holds).
	Image string
	// Engine runs the container.
	Engine *Podman
}

// Pod is a Pod that Env.RunPod runs as the kubelet would: an object in the API server bound to
// node PodNodeName, and its container in podman.
type Pod struct {
	// Object is the Pod as created in the API server and started (its status is kept in the API
	// server, not here).
	Object *corev1.Pod
	// Container is the container's spec.
	Container corev1.Container
	// ContainerID is podman's.
	ContainerID string
	// LogPath receives the container's stdout and stderr (and podman's own messages).
	LogPath string
	// ImageUser is the USER of the image, which runAsNonRoot was checked against.
	ImageUser string
	// Args is the `podman run` command line (without podman's global options).
	Args []string
	// StartedAt is when the container started.
	StartedAt time.Time

	env    *Env
	engine *Podman
	grace  time.Duration
	cancel context.CancelFunc
	// proc is `podman run` in the foreground, which ends with the container. It gets SIGTERM
	// when this process dies (a parent-death signal) and hands it to the container, so that a
	// killed test leaves no container holding the host's ports.
	proc    *process
	done    chan struct{} // closed when the container has exited
	exit    error         // podman run's exit error: the container's exit code
	probers []*prober
	wg      sync.WaitGroup

	mu       sync.Mutex
	live     *corev1.Pod // the object whose status setReady writes
	stopped  bool
	problems []string
	unlock   func()
}

// RunPod runs a Pod template as the kubelet would run it on a node, with podman, and returns
// once the container has started (see Pod.WaitReady for its probes). It does what the API
// server's ServiceAccount admission plugin and the kubelet do for such a Pod:
//
//   - creates the Pod in the API server, bound to node PodNodeName, and keeps its status
//     (Running, the host's IP, Ready as the readiness probe says);
//   - mounts a token of the Pod's ServiceAccount from the TokenRequest API (bound to the Pod),
//     the API server's CA certificate and the namespace at ServiceAccountMountPath, unless
//     automountServiceAccountToken is false;
//   - sets KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT to this API server, then the
//     container's env and envFrom (values, the downward API, ConfigMaps, Secrets, resources),
//     with $(VAR) references expanded in them, in command and in args;
//   - applies the security contexts: runAsUser, runAsGroup, runAsNonRoot (refused as the
//     kubelet refuses it: a non-numeric or root USER of the image), readOnlyRootFilesystem
//     (without the tmpfs mounts podman would add), allowPrivilegeEscalation, capabilities,
//     privileged, seccompProfile, fsGroup and supplementalGroups;
//   - applies the resources' CPU and memory limits and CPU requests;
//   - mounts emptyDir volumes;
//   - probes startupProbe, livenessProbe and readinessProbe (httpGet, tcpSocket) with their
//     delays, periods, timeouts and thresholds.
//
// The container runs in the host's network (and UTS) namespace, so that it reaches this API
// server and the simulator on the loopback interface; its ports must be free. A spec that this
// runner cannot honour (a second container, init containers, lifecycle hooks, other volume
// types, exec or gRPC probes) is refused with an error that says what. Env.Close stops the
// container and deletes the Pod. Should this process die first, podman gets SIGTERM (a
// parent-death signal), stops the container as Stop does and removes it.
func (e *Env) RunPod(ctx context.Context, opts PodOptions) (_ *Pod, err error) {
	if opts.Engine == nil || opts.Image == "" || opts.Namespace == "" {
		return nil, errors.New("RunPod: Engine, Image and Namespace are required")
	}
	spec := opts.Template.Spec.DeepCopy()
	if err := checkSupported(spec); err != nil {
		return nil, err
	}
	c := spec.Containers[0]
	imageUser, err := opts.Engine.Run(ctx, "image", "inspect", "--format", "{{.Config.User}}", opts.Image)
	if err != nil {
		return nil, err
	}
	imageUser = strings.TrimSpace(imageUser)
	if err := verifyRunAsNonRoot(spec.SecurityContext, c.SecurityContext, imageUser); err != nil {
		return nil, fmt.Errorf("the kubelet would not start container %q: %w", c.Name, err)
	}

	// One Pod at a time on the host's network: wait for the one before to stop.
	if err := Poll(ctx, func(context.Context) error {
		if !hostNetwork.TryLock() {
			return errors.New("another Pod of this process runs on the host network: stop it first (Pod.Stop)")
		}
		return nil
	}); err != nil {
		return nil, err
	}
	p := &Pod{env: e, engine: opts.Engine, Container: c, ImageUser: imageUser, done: make(chan struct{})}
	p.unlock = sync.OnceFunc(hostNetwork.Unlock)
	defer func() {
		if err != nil {
			_ = p.close()
		}
	}()
	if err := portsFree(c.Ports); err != nil {
		return nil, err
	}
	p.grace = defaultTerminationGracePeriod
	if spec.TerminationGracePeriodSeconds != nil {
		p.grace = time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	}

	// The Pod in the API server: what the token is bound to and the downward API reads.
	generateName := opts.GenerateName
	if generateName == "" {
		generateName = "pod-"
	}
	obj := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: opts.Namespace, GenerateName: generateName,
			Labels: opts.Template.Labels, Annotations: opts.Template.Annotations,
		},
		Spec: *spec,
	}
	obj.Spec.NodeName = PodNodeName
	obj.Spec.HostNetwork = true
	if err := e.Client.Create(ctx, obj); err != nil {
		return nil, fmt.Errorf("create the Pod in namespace %s: %w", opts.Namespace, err)
	}
	p.Object = obj
	now := metav1.Now()
	obj.Status = corev1.PodStatus{
		Phase: corev1.PodPending, HostIP: "127.0.0.1", PodIP: "127.0.0.1",
		HostIPs: []corev1.HostIP{{IP: "127.0.0.1"}}, PodIPs: []corev1.PodIP{{IP: "127.0.0.1"}}, StartTime: &now,
	}
	if err := e.Client.Status().Update(ctx, obj); err != nil {
		return nil, fmt.Errorf("set the Pod's status: %w", err)
	}

	dir, err := os.MkdirTemp(opts.Engine.Dir, "pod-")
	if err != nil {
		return nil, err
	}
	args := []string{"run", "--rm", "--pull=never", "--name", obj.Name,
		"--network=host", "--uts=host",
		// podman's own variable; a Pod's container has no such thing.
		"--unsetenv=container",
		fmt.Sprintf("--stop-timeout=%d", int(p.grace.Seconds())),
	}
	mounts, err := p.mounts(ctx, dir, spec)
	if err != nil {
		return nil, err
	}
	args = append(args, mounts...)
	security, err := securityArgs(spec.SecurityContext, c.SecurityContext, imageUser)
	if err != nil {
		return nil, err
	}
	args = append(args, security...)
	args = append(args, resourceArgs(c.Resources)...)
	vars, err := p.environment(ctx)
	if err != nil {
		return nil, err
	}
	for _, v := range vars {
		args = append(args, "--env", v.Name+"="+v.Value)
	}
	if c.WorkingDir != "" {
		args = append(args, "--workdir", c.WorkingDir)
	}
	command, cargs := expandAll(c.Command, vars), expandAll(c.Args, vars)
	if len(command) > 0 {
		entrypoint, err := json.Marshal(command)
		if err != nil {
			return nil, err
		}
		args = append(args, "--entrypoint", string(entrypoint))
	}
	args = append(args, opts.Image)
	args = append(args, cargs...)
	p.Args = args

	p.LogPath = filepath.Join(e.Dir, obj.Name+".log")
	p.proc = &process{name: "podman run " + obj.Name, path: opts.Engine.Binary, args: opts.Engine.args(args),
		env: opts.Engine.environ(), logPath: p.LogPath}
	if err := p.proc.start(nil); err != nil {
		return nil, err
	}
	go func() {
		defer close(p.done)
		p.exit = p.proc.waitExit(context.Background())
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.stopped {
			p.problems = append(p.problems, fmt.Sprintf("the container exited (%v) before it was stopped (the kubelet would restart it)", p.exit))
		}
	}()
	if err := p.waitRunning(ctx); err != nil {
		return nil, fmt.Errorf("start the container of Pod %s/%s: %w; end of %s:\n%s", obj.Namespace, obj.Name, err, p.LogPath, p.proc.logTail(20))
	}
	obj.Status.Phase = corev1.PodRunning
	obj.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: c.Name, Image: c.Image, ImageID: opts.Image, ContainerID: "podman://" + p.ContainerID,
		Started: ptr.To(true), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(p.StartedAt)}},
	}}
	if err := e.Client.Status().Update(ctx, obj); err != nil {
		return nil, fmt.Errorf("set the Pod's status: %w", err)
	}

	p.Object, p.live = obj.DeepCopy(), obj
	probeCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.startProbes(probeCtx)
	e.addCleanup(p.close)
	return p, nil
}

// checkSupported refuses what RunPod cannot run as the kubelet would.
func checkSupported(spec *corev1.PodSpec) error {
	var problems []string
	if len(spec.Containers) != 1 {
		problems = append(problems, fmt.Sprintf("%d containers (this runner runs one)", len(spec.Containers)))
	}
	if len(spec.InitContainers) > 0 {
		problems = append(problems, "init containers")
	}
	for _, v := range spec.Volumes {
		if v.EmptyDir == nil {
			problems = append(problems, fmt.Sprintf("volume %q is not an emptyDir", v.Name))
		}
	}
	for _, c := range spec.Containers {
		if c.Lifecycle != nil {
			problems = append(problems, fmt.Sprintf("container %q has lifecycle hooks", c.Name))
		}
		for _, m := range c.VolumeMounts {
			if m.SubPath != "" || m.SubPathExpr != "" {
				problems = append(problems, fmt.Sprintf("volume mount %s uses a subPath", m.MountPath))
			}
		}
		for kind, probe := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			if probe != nil && probe.HTTPGet == nil && probe.TCPSocket == nil {
				problems = append(problems, fmt.Sprintf("the %s probe of %q is neither httpGet nor tcpSocket", kind, c.Name))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("RunPod cannot run this Pod as the kubelet would: %s", strings.Join(problems, "; "))
	}
	return nil
}

// verifyRunAsNonRoot is the kubelet's check (kuberuntime's verifyRunAsNonRoot): with
// runAsNonRoot, the user is runAsUser if set, else the image's USER, which must then be
// numeric, so that it can be known not to be root.
func verifyRunAsNonRoot(pod *corev1.PodSecurityContext, sc *corev1.SecurityContext, imageUser string) error {
	nonRoot, runAsUser := false, (*int64)(nil)
	if pod != nil {
		nonRoot, runAsUser = ptr.Deref(pod.RunAsNonRoot, false), pod.RunAsUser
	}
	if sc != nil {
		if sc.RunAsNonRoot != nil {
			nonRoot = *sc.RunAsNonRoot
		}
		if sc.RunAsUser != nil {
			runAsUser = sc.RunAsUser
		}
	}
	if !nonRoot {
		return nil
	}
	if runAsUser != nil {
		if *runAsUser == 0 {
			return errors.New("container's runAsUser breaks non-root policy")
		}
		return nil
	}
	uid, _, _ := strings.Cut(imageUser, ":")
	if uid == "" {
		return errors.New("container has runAsNonRoot and image will run as root (it has no USER)")
	}
	n, err := strconv.ParseInt(uid, 10, 64)
	if err != nil {
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root", uid)
	}
	if n == 0 {
		return errors.New("container has runAsNonRoot and image will run as root")
	}
	return nil
}

// securityArgs are the podman flags of the security contexts (the container's over the Pod's).
func securityArgs(pod *corev1.PodSecurityContext, sc *corev1.SecurityContext, imageUser string) ([]string, error) {
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	var args []string
	uid, gid := pod.RunAsUser, pod.RunAsGroup
	if sc.RunAsUser != nil {
		uid = sc.RunAsUser
	}
	if sc.RunAsGroup != nil {
		gid = sc.RunAsGroup
	}
	switch {
	case uid != nil && gid != nil:
		args = append(args, fmt.Sprintf("--user=%d:%d", *uid, *gid))
	case uid != nil:
		args = append(args, fmt.Sprintf("--user=%d", *uid))
	case gid != nil:
		user, _, _ := strings.Cut(imageUser, ":")
		if user == "" {
			user = "0"
		}
		args = append(args, fmt.Sprintf("--user=%s:%d", user, *gid))
	}
	groups := slices.Clone(pod.SupplementalGroups)
	if pod.FSGroup != nil {
		groups = append(groups, *pod.FSGroup)
	}
	for _, g := range groups {
		args = append(args, fmt.Sprintf("--group-add=%d", g))
	}
	if ptr.Deref(sc.Privileged, false) {
		args = append(args, "--privileged")
	}
	if ptr.Deref(sc.ReadOnlyRootFilesystem, false) {
		// podman would mount tmpfs on /tmp, /var/tmp and /run of a read-only container; the
		// kubelet mounts nothing there.
		args = append(args, "--read-only", "--read-only-tmpfs=false")
	}
	// The kubelet sets no_new_privs unless allowPrivilegeEscalation is true or unset.
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		args = append(args, "--security-opt=no-new-privileges")
	}
	if sc.Capabilities != nil {
		for _, c := range sc.Capabilities.Drop {
			args = append(args, "--cap-drop="+string(c))
		}
		for _, c := range sc.Capabilities.Add {
			args = append(args, "--cap-add="+string(c))
		}
	}
	profile := pod.SeccompProfile
	if sc.SeccompProfile != nil {
		profile = sc.SeccompProfile
	}
	switch {
	case profile == nil || profile.Type == corev1.SeccompProfileTypeUnconfined:
		// The kubelet's default (without --seccomp-default) is Unconfined.
		if !ptr.Deref(sc.Privileged, false) {
			args = append(args, "--security-opt=seccomp=unconfined")
		}
	case profile.Type == corev1.SeccompProfileTypeRuntimeDefault:
		// podman's default profile is the runtime's default.
	default:
		return nil, fmt.Errorf("seccompProfile %s is not supported by RunPod", profile.Type)
	}
	return args, nil
}

// resourceArgs are the podman flags of the CPU and memory limits (CFS quota, memory limit) and
// the CPU request (CPU shares), as the kubelet sets the container's cgroup.
func resourceArgs(r corev1.ResourceRequirements) []string {
	var args []string
	if cpu, ok := r.Limits[corev1.ResourceCPU]; ok {
		args = append(args, fmt.Sprintf("--cpus=%g", float64(cpu.MilliValue())/1000))
	}
	if mem, ok := r.Limits[corev1.ResourceMemory]; ok {
		args = append(args, fmt.Sprintf("--memory=%d", mem.Value()))
	}
	if cpu, ok := r.Requests[corev1.ResourceCPU]; ok {
		args = append(args, fmt.Sprintf("--cpu-shares=%d", max(2, cpu.MilliValue()*1024/1000)))
	}
	return args
}

// portsFree checks that the container's TCP ports are free on this host, whose network it
// will share.
func portsFree(ports []corev1.ContainerPort) error {
	for _, port := range ports {
		if port.Protocol != "" && port.Protocol != corev1.ProtocolTCP {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", port.ContainerPort))
		if err != nil {
			return fmt.Errorf("port %d (%s) of the container is taken on this host, whose network the container shares: %w",
				port.ContainerPort, port.Name, err)
		}
		_ = l.Close()
	}
	return nil
}

// mounts prepares the ServiceAccount's files and the emptyDir volumes in dir and returns the
// podman flags that mount them.
func (p *Pod) mounts(ctx context.Context, dir string, spec *corev1.PodSpec) ([]string, error) {
	var args []string
	c := spec.Containers[0]
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			return nil, fmt.Errorf("volume mount %s names no volume %q", m.MountPath, m.Name)
		}
		if v.EmptyDir.Medium == corev1.StorageMediumMemory {
			opt := "type=tmpfs,destination=" + m.MountPath
			if v.EmptyDir.SizeLimit != nil {
				opt += fmt.Sprintf(",tmpfs-size=%d", v.EmptyDir.SizeLimit.Value())
			}
			args = append(args, "--mount="+opt)
			continue
		}
		// The kubelet makes an emptyDir's directory writable for everyone.
		src := filepath.Join(dir, "volumes", m.Name)
		if err := os.MkdirAll(src, 0o700); err != nil {
			return nil, err
		}
		if err := os.Chmod(src, 0o777); err != nil { //nolint:gosec // as the kubelet does
			return nil, err
		}
		args = append(args, bindMount(src, m.MountPath, m.ReadOnly))
	}
	if !p.automountToken(ctx, spec) || slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.MountPath == ServiceAccountMountPath
	}) {
		return args, nil
	}
	files, err := p.serviceAccountFiles(ctx, spec.ServiceAccountName)
	if err != nil {
		return nil, err
	}
	sa := filepath.Join(dir, "serviceaccount")
	if err := os.MkdirAll(sa, 0o755); err != nil { //nolint:gosec // read by the container's user, as the kubelet's projected volume
		return nil, err
	}
	for name, data := range files {
		// defaultMode 0644 of the projected volume: the container's user is not root.
		if err := os.WriteFile(filepath.Join(sa, name), data, 0o644); err != nil { //nolint:gosec // as above
			return nil, err
		}
	}
	return append(args, bindMount(sa, ServiceAccountMountPath, true)), nil
}

func bindMount(src, dst string, readOnly bool) string {
	opt := "--mount=type=bind,source=" + src + ",destination=" + dst
	if readOnly {
		opt += ",readonly=true"
	}
	return opt
}

// automountToken is what the ServiceAccount admission plugin decides: the Pod's
// automountServiceAccountToken, else the ServiceAccount's, else true.
func (p *Pod) automountToken(ctx context.Context, spec *corev1.PodSpec) bool {
	if spec.AutomountServiceAccountToken != nil {
		return *spec.AutomountServiceAccountToken
	}
	var sa corev1.ServiceAccount
	if err := p.env.Client.Get(ctx, client.ObjectKey{Namespace: p.Object.Namespace, Name: serviceAccountName(spec)}, &sa); err == nil &&
		sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

func serviceAccountName(spec *corev1.PodSpec) string {
	if spec.ServiceAccountName != "" {
		return spec.ServiceAccountName
	}
	return "default"
}

// serviceAccountFiles are the files of the kube-api-access volume: a token of the
// ServiceAccount bound to the Pod, the API server's CA certificate (what kube-root-ca.crt
// holds) and the namespace.
func (p *Pod) serviceAccountFiles(ctx context.Context, name string) (map[string][]byte, error) {
	if name == "" {
		name = "default"
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: p.Object.Namespace, Name: name}}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To[int64](serviceAccountTokenSeconds),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Object.Name, UID: p.Object.UID},
	}}
	if err := p.env.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		return nil, fmt.Errorf("request a token of ServiceAccount %s/%s (TokenRequest API): %w", sa.Namespace, sa.Name, err)
	}
	if len(p.env.Config.CAData) == 0 {
		return nil, errors.New("the environment's REST config has no CA certificate for ca.crt")
	}
	return map[string][]byte{
		"token":     []byte(tr.Status.Token),
		"ca.crt":    p.env.Config.CAData,
		"namespace": []byte(p.Object.Namespace),
	}, nil
}

// environment is the container's environment as the kubelet makes it: the kubernetes
// Service's variables (pointing at this API server), then envFrom, then env, each value with
// the $(VAR) references to the variables before it expanded.
func (p *Pod) environment(ctx context.Context) ([]corev1.EnvVar, error) {
	u, err := url.Parse(p.env.Config.Host)
	if err != nil {
		return nil, fmt.Errorf("the API server's URL %q: %w", p.env.Config.Host, err)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "443"
	}
	vars := []corev1.EnvVar{
		{Name: "KUBERNETES_SERVICE_HOST", Value: host},
		{Name: "KUBERNETES_SERVICE_PORT", Value: port},
		{Name: "KUBERNETES_SERVICE_PORT_HTTPS", Value: port},
		{Name: "KUBERNETES_PORT", Value: "tcp://" + net.JoinHostPort(host, port)},
		{Name: "KUBERNETES_PORT_" + port + "_TCP", Value: "tcp://" + net.JoinHostPort(host, port)},
		{Name: "KUBERNETES_PORT_" + port + "_TCP_PROTO", Value: "tcp"},
		{Name: "KUBERNETES_PORT_" + port + "_TCP_PORT", Value: port},
		{Name: "KUBERNETES_PORT_" + port + "_TCP_ADDR", Value: host},
	}
	set := func(name, value string) {
		vars = slices.DeleteFunc(vars, func(v corev1.EnvVar) bool { return v.Name == name })
		vars = append(vars, corev1.EnvVar{Name: name, Value: value})
	}
	c := p.Container
	ns := p.Object.Namespace
	for _, from := range c.EnvFrom {
		data := map[string]string{}
		switch {
		case from.ConfigMapRef != nil:
			var cm corev1.ConfigMap
			err := p.env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: from.ConfigMapRef.Name}, &cm)
			if err != nil && (!apierrors.IsNotFound(err) || !ptr.Deref(from.ConfigMapRef.Optional, false)) {
				return nil, fmt.Errorf("envFrom ConfigMap %s: %w", from.ConfigMapRef.Name, err)
			}
			data = cm.Data
		case from.SecretRef != nil:
			var s corev1.Secret
			err := p.env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: from.SecretRef.Name}, &s)
			if err != nil && (!apierrors.IsNotFound(err) || !ptr.Deref(from.SecretRef.Optional, false)) {
				return nil, fmt.Errorf("envFrom Secret %s: %w", from.SecretRef.Name, err)
			}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			set(from.Prefix+k, data[k])
		}
	}
	for _, ev := range c.Env {
		if ev.ValueFrom == nil {
			set(ev.Name, expand(ev.Value, vars))
			continue
		}
		value, ok, err := p.valueFrom(ctx, ev.ValueFrom)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", ev.Name, err)
		}
		if ok {
			set(ev.Name, value)
		}
	}
	return vars, nil
}

// valueFrom resolves an env var's source; ok is false for a missing optional key.
func (p *Pod) valueFrom(ctx context.Context, from *corev1.EnvVarSource) (value string, ok bool, err error) {
	ns := p.Object.Namespace
	switch {
	case from.FieldRef != nil:
		v, err := p.fieldValue(from.FieldRef.FieldPath)
		return v, err == nil, err
	case from.ResourceFieldRef != nil:
		v, err := resourceValue(p.Container.Resources, from.ResourceFieldRef)
		return v, err == nil, err
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		var cm corev1.ConfigMap
		if err := p.env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &cm); err != nil {
			if apierrors.IsNotFound(err) && ptr.Deref(ref.Optional, false) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("the ConfigMap %s: %w", ref.Name, err)
		}
		v, found := cm.Data[ref.Key]
		if !found && !ptr.Deref(ref.Optional, false) {
			return "", false, fmt.Errorf("the ConfigMap %s has no key %q", ref.Name, ref.Key)
		}
		return v, found, nil
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		var s corev1.Secret
		if err := p.env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &s); err != nil {
			if apierrors.IsNotFound(err) && ptr.Deref(ref.Optional, false) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("the Secret %s: %w", ref.Name, err)
		}
		v, found := s.Data[ref.Key]
		if !found && !ptr.Deref(ref.Optional, false) {
			return "", false, fmt.Errorf("the Secret %s has no key %q", ref.Name, ref.Key)
		}
		return string(v), found, nil
	}
	return "", false, errors.New("valueFrom names no source RunPod supports")
}

// fieldValue is the downward API's value of a Pod field.
func (p *Pod) fieldValue(path string) (string, error) {
	o := p.Object
	if key, ok := strings.CutPrefix(path, "metadata.labels['"); ok {
		return o.Labels[strings.TrimSuffix(key, "']")], nil
	}
	if key, ok := strings.CutPrefix(path, "metadata.annotations['"); ok {
		return o.Annotations[strings.TrimSuffix(key, "']")], nil
	}
	switch path {
	case "metadata.name":
		return o.Name, nil
	case "metadata.namespace":
		return o.Namespace, nil
	case "metadata.uid":
		return string(o.UID), nil
	case "spec.nodeName":
		return o.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return o.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.podIP", "status.hostIPs", "status.podIPs":
		return "127.0.0.1", nil
	}
	return "", fmt.Errorf("fieldRef %q is not supported by RunPod", path)
}

// resourceValue is the downward API's value of a resource of the container, rounded up to the
// divisor as the kubelet rounds it.
func resourceValue(r corev1.ResourceRequirements, ref *corev1.ResourceFieldSelector) (string, error) {
	kind, name, _ := strings.Cut(ref.Resource, ".")
	list := r.Limits
	if kind == "requests" {
		list = r.Requests
	}
	q, ok := list[corev1.ResourceName(name)]
	if !ok {
		// The kubelet would give the node's allocatable amount.
		return "", fmt.Errorf("resourceFieldRef %s: the container sets no %s, and RunPod knows no node allocatable", ref.Resource, ref.Resource)
	}
	divisor := resource.MustParse("1")
	if !ref.Divisor.IsZero() {
		divisor = ref.Divisor
	}
	if name == "cpu" {
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}

// expandAll expands $(VAR) references in each string.
func expandAll(in []string, vars []corev1.EnvVar) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expand(s, vars)
	}
	return out
}

// expand replaces $(VAR) with the value of VAR when vars define it, and $$ with $, as the
// kubelet does; other references stay as they are.
func expand(s string, vars []corev1.EnvVar) string {
	lookup := func(name string) (string, bool) {
		for _, v := range slices.Backward(vars) {
			if v.Name == name {
				return v.Value, true
			}
		}
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += end + 2
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// waitRunning waits until podman has started the container, and notes its ID and start time.
func (p *Pod) waitRunning(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var state []string
	err := Poll(ctx, func(ctx context.Context) error {
		if p.Exited() {
			return fmt.Errorf("podman run exited: %w", p.exit)
		}
		out, err := p.engine.Run(ctx, "inspect", "--format",
			`{{.ID}} {{.State.Status}} {{.State.StartedAt.Format "2006-01-02T15:04:05.999999999Z07:00"}}`, p.Object.Name)
		if err != nil {
			return err // not created yet
		}
		if state = strings.Fields(out); len(state) != 3 || state[1] != "running" {
			return fmt.Errorf("the container is %q", out)
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.ContainerID = state[0]
	if p.StartedAt, err = time.Parse(time.RFC3339Nano, state[2]); err != nil {
		return fmt.Errorf("the container's start time %q: %w", state[2], err)
	}
	return nil
}

// Exited reports whether the container has exited.
func (p *Pod) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Problems are what the kubelet would have acted on so far: failed liveness or startup
// probes (it would restart the container), and an exit that Stop did not cause.
func (p *Pod) Problems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.problems)
}

func (p *Pod) problem(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.problems = append(p.problems, fmt.Sprintf(format, args...))
}

// HostPID is the process id of the container's first process on this host, or 0.
func (p *Pod) HostPID(ctx context.Context) (int, error) {
	out, err := p.engine.Run(ctx, "inspect", "--format", "{{.State.Pid}}", p.ContainerID)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(out))
}

// Logs returns what the container has written (stdout and stderr), also after it exited.
func (p *Pod) Logs() (string, error) {
	data, err := os.ReadFile(p.LogPath)
	return string(data), err
}

// LogTail returns the last n lines of the container's log.
func (p *Pod) LogTail(n int) string { return tailFile(p.LogPath, n) }

// StopResult is how the container ended.
type StopResult struct {
	// ExitCode is the container's.
	ExitCode int
	// Took is the time from the stop signal to the exit.
	Took time.Duration
	// Grace is the Pod's terminationGracePeriodSeconds, after which the container was killed.
	Grace time.Duration
}

// Killed reports whether the grace period ran out (podman then sent SIGKILL).
func (r StopResult) Killed() bool { return r.Took >= r.Grace || r.ExitCode == 137 }

// Stop ends the container as the kubelet does when the Pod is deleted: the image's stop signal
// (SIGTERM), then SIGKILL after terminationGracePeriodSeconds. The Pod object stays until
// Env.Close.
func (p *Pod) Stop(ctx context.Context) (StopResult, error) {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	r := StopResult{Grace: p.grace}
	start := time.Now()
	_, err := p.engine.Run(ctx, "stop", fmt.Sprintf("--time=%d", int(p.grace.Seconds())), p.Object.Name)
	r.Took = time.Since(start)
	p.cancel()
	p.wg.Wait()
	if err != nil {
		return r, err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return r, ctx.Err()
	}
	p.unlock()
	// `podman run` exits with the container's exit code.
	var exitErr *exec.ExitError
	switch {
	case p.exit == nil:
	case errors.As(p.exit, &exitErr):
		r.ExitCode = exitErr.ExitCode()
	default:
		return r, p.exit
	}
	return r, nil
}

// close stops and removes the container and deletes the Pod (at once: no kubelet will).
func (p *Pod) close() error {
	defer p.unlock()
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), p.grace+30*time.Second)
	defer cancel()
	var errs []error
	if p.proc != nil && !p.Exited() {
		p.mu.Lock()
		p.stopped = true
		p.mu.Unlock()
		if _, err := p.engine.Run(ctx, "rm", "--force", "--ignore", fmt.Sprintf("--time=%d", int(p.grace.Seconds())), p.Object.Name); err != nil {
			errs = append(errs, err)
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("podman run %s did not end: %w", p.Object.Name, p.proc.kill()))
		}
	}
	if p.Object != nil && p.Object.UID != "" {
		if err := p.env.Client.Delete(ctx, p.Object, client.GracePeriodSeconds(0)); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("delete Pod %s/%s: %w", p.Object.Namespace, p.Object.Name, err))
		}
	}
	return errors.Join(errs...)
}
