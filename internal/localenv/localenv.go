package localenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	tableauv1alpha1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/testenv"
)

// ModulePath is the operator's Go module, used to recognise the repository root.
const ModulePath = "github.com/tableau-webhook-operator/tableau-webhook-operator"

// AdminUser is the user the environment's kubeconfig authenticates as (group system:masters).
const AdminUser = "localenv-admin"

// Options configure Start.
type Options struct {
	// Root is the repository's root directory. Default: found from the working directory
	// upwards (the directory whose go.mod declares ModulePath).
	Root string

	// AssetsDir holds kube-apiserver, etcd and kubectl. Default: $KUBEBUILDER_ASSETS, else
	// Root/bin/k8s (`make controlplane` builds them there).
	AssetsDir string

	// CRDDirectories are installed before Start returns. Default: Root/config/crd/bases.
	CRDDirectories []string

	// NoCRDs starts a bare API server, for tests that install the CRDs themselves (from the
	// installer, say).
	NoCRDs bool

	// NoAdmissionPolicies leaves out config/admission's policies (the MutatingAdmissionPolicy
	// that puts the manager's finalizer on each TableauWebhook at creation), which Start
	// otherwise installs with the CRDs, as the installer does. Without them the manager adds
	// the finalizer itself, one Kubernetes write more per webhook.
	NoAdmissionPolicies bool

	// NoControllerManager leaves kube-controller-manager out. By default it runs with its
	// namespace and garbage-collector controllers, so that namespaces can be deleted and
	// ownerReferences collect, as in a real cluster.
	NoControllerManager bool

	// Dir is the directory for kubeconfigs, certificates and logs. Default: a new temporary
	// directory that Close removes.
	Dir string

	// KeepDir leaves the directory in place at Close, for inspecting logs afterwards.
	KeepDir bool
}

// Env is a running local control plane and whatever else was started through it.
type Env struct {
	// Root is the repository's root directory.
	Root string
	// AssetsDir holds kube-apiserver, etcd and kubectl.
	AssetsDir string
	// Dir holds the kubeconfig, certificates and logs.
	Dir string
	// Config is the admin's REST config (group system:masters).
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file with the admin's credentials.
	Kubeconfig string
	// Scheme knows the built-in kinds, CRDs and this operator's kinds.
	Scheme *runtime.Scheme
	// Client is a controller-runtime client (no cache) with the admin's credentials.
	Client client.Client
	// ControllerManager is the running kube-controller-manager; nil with NoControllerManager.
	ControllerManager *ControllerManager

	testEnv *envtest.Environment
	ownDir  bool
	keepDir bool

	managers atomic.Int32 // names the log files of further managers

	mu       sync.Mutex
	cleanups []func() error
	closed   bool
}

// NewScheme returns a scheme with the built-in kinds, CustomResourceDefinitions, and
// TableauSite and TableauWebhook.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	utilruntime.Must(tableauv1alpha1.AddToScheme(s))
	return s
}

// Start runs kube-apiserver and etcd on free ports, installs the CRDs, and writes an admin
// kubeconfig. Close the returned Env, also when a later step fails.
func Start(ctx context.Context, opts Options) (_ *Env, err error) {
	root := opts.Root
	if root == "" {
		if root, err = FindRoot(); err != nil {
			return nil, err
		}
	}
	assets, err := resolveAssets(root, opts.AssetsDir)
	if err != nil {
		return nil, err
	}
	e := &Env{Root: root, AssetsDir: assets, Scheme: NewScheme(), Dir: opts.Dir, keepDir: opts.KeepDir}
	if e.Dir == "" {
		if e.Dir, err = os.MkdirTemp("", "tableau-localenv-"); err != nil {
			return nil, err
		}
		e.ownDir = true
	} else if err := os.MkdirAll(e.Dir, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = e.Close()
		}
	}()

	crds := opts.CRDDirectories
	if len(crds) == 0 && !opts.NoCRDs {
		crds = []string{filepath.Join(root, "config", "crd", "bases")}
	}
	e.testEnv = &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     crds,
		ErrorIfCRDPathMissing: len(crds) > 0,
		Scheme:                e.Scheme,
		// Both components start in a few seconds when idle; a shared CI machine running
		// several suites at once needs more.
		ControlPlaneStartTimeout: time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	// envtest starts kube-apiserver and etcd without a parent-death signal: through a wrapper,
	// they die with this process, so that a killed demo or test leaves nothing running.
	if err := testenv.DieWithParent(e.testEnv, assets, filepath.Join(e.Dir, "bin")); err != nil {
		return nil, err
	}
	if _, err := e.testEnv.Start(); err != nil {
		e.testEnv = nil
		return nil, fmt.Errorf("start kube-apiserver and etcd from %s: %w", assets, err)
	}
	e.addCleanup(func() error { return e.testEnv.Stop() })

	admin, err := e.testEnv.AddUser(envtest.User{Name: AdminUser, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("add the admin user: %w", err)
	}
	e.Config = admin.Config()
	// The defaults (QPS 5) would make a test's own bookkeeping the slowest part of it.
	e.Config.QPS, e.Config.Burst = 200, 400
	e.Kubeconfig = filepath.Join(e.Dir, "kubeconfig")
	if err := WriteKubeconfig(e.Kubeconfig, e.Config); err != nil {
		return nil, err
	}
	if e.Client, err = client.New(e.Config, client.Options{Scheme: e.Scheme}); err != nil {
		return nil, err
	}
	if len(crds) > 0 && !opts.NoAdmissionPolicies {
		policies, err := ReadManifests(e.Scheme, filepath.Join(root, "config", "admission"))
		if err != nil {
			return nil, fmt.Errorf("read the admission policies: %w", err)
		}
		if err := e.Apply(ctx, policies); err != nil {
			return nil, fmt.Errorf("install the admission policies: %w", err)
		}
		if err := e.waitFinalizerPolicy(ctx); err != nil {
			return nil, err
		}
	}
	if !opts.NoControllerManager {
		if e.ControllerManager, err = e.startControllerManager(ctx); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return e, nil
}

// FindRoot returns the repository root: the nearest directory, from the working directory
// upwards, whose go.mod declares ModulePath.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod")) //nolint:gosec // reading go.mod files upwards is the point
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(data)), "module "+ModulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s in the working directory or above it", ModulePath)
		}
		dir = parent
	}
}

// resolveAssets finds kube-apiserver, etcd and kubectl, failing with the command that builds
// them.
func resolveAssets(root, dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv("KUBEBUILDER_ASSETS")
	}
	if dir == "" {
		dir = filepath.Join(root, "bin", "k8s")
	}
	for _, name := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("%s not found in %s: run `make controlplane` first: %w", name, dir, err)
		}
	}
	return dir, nil
}

// Kubectl is the path of the kubectl built with the control plane.
func (e *Env) Kubectl() string { return filepath.Join(e.AssetsDir, "kubectl") }

// ImpersonatingKubeconfig writes a kubeconfig with the admin's credentials that acts as
// another user (kubectl's --as and --as-group), and returns its path. For a ServiceAccount,
// user is "system:serviceaccount:NAMESPACE:NAME" and groups can be left empty: the API server
// then adds the ServiceAccount groups itself.
func (e *Env) ImpersonatingKubeconfig(name, user string, groups ...string) (string, error) {
	cfg := rest.CopyConfig(e.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	path := filepath.Join(e.Dir, name+".kubeconfig")
	if err := WriteKubeconfig(path, cfg); err != nil {
		return "", err
	}
	return path, nil
}

// ServiceAccountUser is the user name of a ServiceAccount, for impersonation.
func ServiceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// WriteKubeconfig writes a kubeconfig file (mode 0600) for a REST config that authenticates
// with client certificates or a bearer token, with its impersonation settings.
func WriteKubeconfig(path string, cfg *rest.Config) error {
	const name = "localenv"
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
		CertificateAuthority:     cfg.CAFile,
	}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientCertificate:     cfg.CertFile,
		ClientKeyData:         cfg.KeyData,
		ClientKey:             cfg.KeyFile,
		Token:                 cfg.BearerToken,
		Impersonate:           cfg.Impersonate.UserName,
		ImpersonateUID:        cfg.Impersonate.UID,
		ImpersonateGroups:     slices.Clone(cfg.Impersonate.Groups),
	}
	ctx := clientcmdapi.NewContext()
	ctx.Cluster, ctx.AuthInfo = name, name
	kc.Contexts[name] = ctx
	kc.CurrentContext = name
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}

// addCleanup registers a function for Close, which runs them last registered first.
func (e *Env) addCleanup(f func() error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cleanups = append(e.cleanups, f)
}

// Close stops everything started through the environment, last started first (so the manager
// stops, and signs out of Tableau, while the API server and the simulator still run), then the
// control plane, and removes the directory unless KeepDir. It is safe to call more than once.
func (e *Env) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	cleanups := e.cleanups
	e.cleanups = nil
	e.mu.Unlock()

	var errs []error
	for _, f := range slices.Backward(cleanups) {
		if err := f(); err != nil {
			errs = append(errs, err)
		}
	}
	if e.ownDir && !e.keepDir {
		if err := os.RemoveAll(e.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// waitFinalizerPolicy waits until creating a TableauWebhook goes through config/admission's
// MutatingAdmissionPolicy (WaitWebhookAdmission).
func (e *Env) waitFinalizerPolicy(ctx context.Context) error {
	start := time.Now()
	if err := e.WaitWebhookAdmission(ctx, true); err != nil {
		return fmt.Errorf("the finalizer admission policy of config/admission did not take effect after %s: %w", time.Since(start).Round(time.Millisecond), err)
	}
	return nil
}

// WaitWebhookAdmission waits (up to a minute) until the API server admits the creation of a
// TableauWebhook, tried as a server-side dry run, and, with wantFinalizer, until the
// creation comes out with the manager's finalizer from config/admission's policy. The API
// server loads a new MutatingAdmissionPolicy, and the schema of a new CRD that the policy
// needs, a few seconds after they are created, and until then answers such a creation with
// 503 ("Resource kind ... not found"): call it after installing the CRDs and the policy and
// before creating TableauWebhooks.
func (e *Env) WaitWebhookAdmission(ctx context.Context, wantFinalizer bool) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return Poll(ctx, func(ctx context.Context) error {
		probe := &tableauv1alpha1.TableauWebhook{
			ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: "localenv-admission-probe"},
			Spec: tableauv1alpha1.TableauWebhookSpec{
				SiteRef:     tableauv1alpha1.SiteReference{Name: "probe"},
				Event:       "WorkbookCreated",
				Destination: tableauv1alpha1.Destination{URL: "https://probe.invalid/"},
			},
		}
		if err := e.Client.Create(ctx, probe, client.DryRunAll); err != nil {
			return err
		}
		if wantFinalizer && !slices.Contains(probe.Finalizers, webhookFinalizer) {
			return fmt.Errorf("the admission policy did not add the finalizer %s yet", webhookFinalizer)
		}
		return nil
	})
}

// webhookFinalizer is the finalizer config/admission's policy adds.
const webhookFinalizer = "tableau.webhook-operator.dev/webhook"
