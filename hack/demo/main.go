// Command demo is `make demo`: it runs the operator on this machine as a user would on a
// cluster, and shows it working.
//
// It starts a local kube-apiserver and etcd (bin/k8s, from `make controlplane`), the Tableau
// simulator (bin/tableau-sim, over HTTPS) and a local HTTPS receiver standing in for webhook
// destinations, installs the CRDs, runs the real manager binary (bin/manager) with a
// kubeconfig, and applies config/samples with the Tableau server URL pointed at the simulator
// and webhook destinations at the receiver. When everything is Ready it prints
// `kubectl get tableau -A -o wide`, triggers a Tableau event in the simulator and prints the
// payload the receiver got. Then it stays up, printing what to try, until Ctrl-C stops and
// removes everything.
//
// With DEMO_ONCE=1 (or --once) it exits after the tour: 0 on success, 1 with the reason.
// Every port is chosen free, so two demos run side by side.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
)

// caSecretName is the Secret (key ca.crt) the demo creates beside each TableauSite so that it
// trusts the simulator's self-signed certificate.
const caSecretName = "tableau-sim-ca"

// triggerResource is the resource name in the demo's event.
const triggerResource = "Quarterly Sales"

// terminalReasons are the Ready reasons that waiting does not fix (DESIGN.md 2.3), as the
// reason tables of api/v1alpha1 define them: the demo reports them at once instead of waiting
// for its timeout. WaitReady matches a reason whatever the object's kind, hence one list.
var terminalReasons = slices.Concat(
	tableauv1.TerminalReasons(tableauv1.WebhookReadyReasons),
	tableauv1.TerminalReasons(tableauv1.SiteReadyReasons),
)

type options struct {
	root, managerBin, simBin, k8sBin, samples string
	once                                      bool
	timeout                                   time.Duration
	keep                                      bool
}

func main() {
	// envtest logs through controller-runtime's logger: the demo prints its own story instead.
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout))
}

func run(ctx context.Context, args []string, out io.Writer) int {
	o, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	d := &demo{opts: o, out: out}
	err = d.tour(ctx)
	if err == nil && o.once {
		// What the interactive demo suggests last, tried for real: it must finish.
		err = d.deleteTeamNamespace(ctx)
	}
	if err == nil && !o.once {
		d.printTryThis()
		d.live.Store(true)
		<-ctx.Done()
		d.say("\nCtrl-C: stopping the manager, the simulator, the receiver and the control plane...")
	}
	if err != nil && ctx.Err() == nil {
		d.say("\ndemo failed: %v", err)
		if d.mgr != nil {
			d.say("\nLast lines of the manager's log (%s):\n%s", d.mgr.LogPath, indent(shorten(d.mgr.LogTail(12), 400)))
		}
	}
	start := time.Now()
	if d.env != nil {
		if cerr := d.env.Close(); cerr != nil {
			d.say("cleanup: %v", cerr)
		}
		if o.keep {
			d.say("Kept %s (--keep).", d.env.Dir)
		} else {
			d.say("Stopped everything and removed %s (%s).", d.env.Dir, since(start))
		}
	}
	switch {
	case err != nil && ctx.Err() != nil:
		d.say("Interrupted.")
		return 130
	case err != nil:
		return 1
	case o.once:
		d.say("Demo succeeded (DEMO_ONCE).")
	}
	return 0
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.StringVar(&o.root, "root", "", "repository root (default: found from the working directory upwards)")
	fs.StringVar(&o.managerBin, "manager", "", "manager binary (default ROOT/bin/manager)")
	fs.StringVar(&o.simBin, "tableau-sim", "", "simulator binary (default ROOT/bin/tableau-sim)")
	fs.StringVar(&o.k8sBin, "k8s-bin", "", "directory of kube-apiserver, etcd and kubectl (default $KUBEBUILDER_ASSETS, else ROOT/bin/k8s)")
	fs.StringVar(&o.samples, "samples", "", "manifests to apply (default ROOT/config/samples)")
	fs.BoolVar(&o.once, "once", truthy(os.Getenv("DEMO_ONCE")), "run the tour once and exit: 0 on success, 1 otherwise (default from $DEMO_ONCE)")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long to wait for everything to be Ready")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (kubeconfig, logs) at exit")
	fs.Usage = func() {
		_, _ = fmt.Fprintf(fs.Output(), "Usage: demo [flags]   (normally: make demo, or DEMO_ONCE=1 make demo)\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.root == "" {
		root, err := localenv.FindRoot()
		if err != nil {
			_, _ = fmt.Fprintf(fs.Output(), "demo: %v; run it from the repository (make demo) or pass --root\n", err)
			return o, err
		}
		o.root = root
	}
	if o.managerBin == "" {
		o.managerBin = filepath.Join(o.root, "bin", "manager")
	}
	if o.simBin == "" {
		o.simBin = filepath.Join(o.root, "bin", "tableau-sim")
	}
	if o.samples == "" {
		o.samples = filepath.Join(o.root, "config", "samples")
	}
	return o, nil
}

func truthy(s string) bool {
	b, err := strconv.ParseBool(s)
	return err == nil && b
}

// demo is one run of the tour.
type demo struct {
	opts options
	out  io.Writer
	mu   sync.Mutex // serialises output from the receiver's goroutines

	env      *localenv.Env
	sim      *localenv.Simulator
	receiver *localenv.Receiver
	mgr      *localenv.Manager
	live     atomic.Bool // print receiver requests as they arrive

	sites    []*tableauv1.TableauSite
	webhooks []*tableauv1.TableauWebhook
}

func (d *demo) say(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, _ = fmt.Fprintf(d.out, format+"\n", args...)
}

// step prints what is about to happen and returns a function that completes the line.
func (d *demo) step(format string, args ...any) func(result string) {
	d.say("==> "+format, args...)
	start := time.Now()
	return func(result string) {
		if result != "" {
			result += " "
		}
		d.say("    %s(%s)", result, since(start))
	}
}

func (d *demo) tour(ctx context.Context) error {
	o := d.opts
	rel := func(p string) string {
		if r, err := filepath.Rel(o.root, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		return p
	}
	for _, bin := range []string{o.managerBin, o.simBin} {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%w: build it first (make demo does)", err)
		}
	}
	objs, err := localenv.ReadManifests(localenv.NewScheme(), o.samples)
	if err != nil {
		return fmt.Errorf("read the samples: %w", err)
	}

	done := d.step("Starting kube-apiserver and etcd (%s) and installing the CRDs", rel(assetsDir(o)))
	d.env, err = localenv.Start(ctx, localenv.Options{Root: o.root, AssetsDir: o.k8sBin, KeepDir: o.keep})
	if err != nil {
		return err
	}
	done("API server " + strings.TrimSuffix(d.env.Config.Host, "/"))

	done = d.step("Starting a local HTTPS receiver for webhook deliveries")
	d.receiver, err = d.env.StartReceiver(d.onDelivery)
	if err != nil {
		return err
	}
	done(d.receiver.URL)

	creds := credentialsFor(objs)
	done = d.step("Starting the Tableau simulator (%s) with site(s) %s and PAT %q", rel(o.simBin), quoteAll(sitesOf(objs)), creds.patName)
	d.sim, err = d.env.StartSimulator(ctx, localenv.SimulatorOptions{
		Binary: o.simBin, Sites: sitesOf(objs), TLS: true,
		PATName: creds.patName, PATSecret: creds.patSecret,
		Username: creds.username, Password: creds.password,
		DeliveryCAFile: d.receiver.CAFile,
	})
	if err != nil {
		return err
	}
	done(d.sim.URL)

	done = d.step("Starting the manager (%s) with a kubeconfig", rel(o.managerBin))
	d.mgr, err = d.env.StartManager(ctx, localenv.ManagerOptions{Binary: o.managerBin})
	if err != nil {
		return err
	}
	done("ready; log in " + d.mgr.LogPath)

	d.say("==> Applying %s: serverURL -> the simulator, destinations -> the receiver, credentials -> the simulator's", rel(o.samples))
	objs, err = d.rewrite(ctx, objs, creds)
	if err != nil {
		return err
	}
	localenv.SortForApply(objs)
	for _, obj := range objs {
		if err := d.env.Apply(ctx, []client.Object{obj}); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		d.say("    %s applied", localenv.Describe(obj))
	}

	var resources []client.Object
	for _, s := range d.sites {
		resources = append(resources, s)
	}
	for _, w := range d.webhooks {
		resources = append(resources, w)
	}
	done = d.step("Waiting for %d TableauSite(s) and %d TableauWebhook(s) to be Ready", len(d.sites), len(d.webhooks))
	waitCtx, cancel := context.WithTimeout(ctx, o.timeout)
	err = localenv.WaitReady(waitCtx, d.env.Client, terminalReasons, resources...)
	cancel()
	if err != nil {
		return fmt.Errorf("not everything became Ready: %w", err)
	}
	done("all Ready")

	d.say("==> kubectl get tableau -A -o wide")
	if err := d.kubectl(ctx, "get", "tableau", "-A", "-o", "wide"); err != nil {
		return err
	}

	return d.triggerEvent(ctx)
}

// assetsDir is the control plane's directory as Start will resolve it, for messages.
func assetsDir(o options) string {
	switch {
	case o.k8sBin != "":
		return o.k8sBin
	case os.Getenv("KUBEBUILDER_ASSETS") != "":
		return os.Getenv("KUBEBUILDER_ASSETS")
	default:
		return filepath.Join(o.root, "bin", "k8s")
	}
}

// triggerEvent fires the event of the first sample TableauWebhook in the simulator and shows
// what the receiver got.
func (d *demo) triggerEvent(ctx context.Context) error {
	if len(d.webhooks) == 0 {
		return errors.New("the samples hold no TableauWebhook to trigger")
	}
	wh := d.webhooks[0]
	site := d.siteOf(wh)
	if site == nil {
		return fmt.Errorf("TableauWebhook %s/%s: its TableauSite is not among the samples", wh.Namespace, wh.Name)
	}
	d.say("==> Triggering %s (resource %q) on site %q in the simulator, as Tableau would when it happens",
		wh.Spec.Event, triggerResource, site.Spec.Site)
	deliveries, err := d.sim.Trigger(ctx, site.Spec.Site, wh.Spec.Event, triggerResource)
	if err != nil {
		return err
	}
	if len(deliveries) == 0 {
		return fmt.Errorf("the simulator has no enabled webhook for %s on site %q", wh.Spec.Event, site.Spec.Site)
	}
	var paths []string
	for _, dl := range deliveries {
		result := fmt.Sprintf("HTTP %d", dl.LastStatus)
		if dl.Error != "" {
			result = dl.Error
		}
		d.say("    webhook %q -> %s: %s after %d attempt(s)", dl.WebhookName, dl.URL, result, dl.Attempts)
		if dl.LastStatus < 200 || dl.LastStatus > 299 {
			return fmt.Errorf("delivery to %s failed: %s", dl.URL, result)
		}
		if u, err := url.Parse(dl.URL); err == nil {
			paths = append(paths, u.RequestURI())
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := d.receiver.WaitFor(waitCtx, func(r localenv.ReceivedRequest) bool {
		return r.Method == "POST" && slices.Contains(paths, r.Path) && bytes.Contains(r.Body, []byte(`"event_type"`))
	})
	if err != nil {
		return err
	}
	d.say("==> The receiver got %s %s:\n%s", got.Method, got.Path, indent(prettyJSON(got.Body)))
	return nil
}

// onDelivery prints requests that arrive after the tour (events triggered by hand, Test
// Webhook runs).
func (d *demo) onDelivery(r localenv.ReceivedRequest) {
	if !d.live.Load() {
		return
	}
	body := prettyJSON(r.Body)
	if strings.TrimSpace(body) == "" {
		body = "(empty body: a Test Webhook call)"
	}
	d.say("receiver: %s %s at %s\n%s", r.Method, r.Path, r.Time.Format(time.TimeOnly), indent(body))
}

func (d *demo) printTryThis() {
	kubectlHint := ""
	if _, err := exec.LookPath("kubectl"); err != nil {
		kubectlHint = fmt.Sprintf("  export PATH=%s:$PATH   # the kubectl built with the control plane\n", d.env.AssetsDir)
	}
	wh := d.webhooks[0]
	site := d.siteOf(wh)
	var b strings.Builder
	fmt.Fprintf(&b, "\nThe demo is running. In another terminal:\n\n")
	fmt.Fprintf(&b, "  export KUBECONFIG=%s\n%s", d.env.Kubeconfig, kubectlHint)
	fmt.Fprintf(&b, "  kubectl get tableau -A                  # TableauSites and TableauWebhooks (short names tsite, twh)\n")
	fmt.Fprintf(&b, "  kubectl describe twh -n %s %s\n", wh.Namespace, wh.Name)
	fmt.Fprintf(&b, "  kubectl annotate twh -n %s %s tableau.webhook-operator.dev/test=$(date +%%s) --overwrite   # Test Webhook\n", wh.Namespace, wh.Name)
	fmt.Fprintf(&b, "  kubectl patch twh -n %s %s --type merge -p '{\"spec\":{\"enabled\":false}}'\n", wh.Namespace, wh.Name)
	fmt.Fprintf(&b, "  kubectl delete twh -n %s %s   # removed from Tableau too (deletionPolicy Orphan keeps it)\n", wh.Namespace, wh.Name)
	fmt.Fprintf(&b, "  kubectl delete namespace %s   # offboard a team: its webhooks leave Tableau, the namespace goes\n", d.teamNamespace())
	fmt.Fprintf(&b, "\nThe simulated Tableau Server (admin API, see bin/tableau-sim --help):\n\n")
	fmt.Fprintf(&b, "  curl -s --cacert %s '%s/_sim/webhooks?site=%s'\n", d.sim.CAFile, d.sim.URL, url.QueryEscape(site.Spec.Site))
	fmt.Fprintf(&b, "  curl -s --cacert %s %s/_sim/trigger -d '{\"site\":%q,\"event\":%q,\"resourceName\":\"Sales\"}'\n",
		d.sim.CAFile, d.sim.URL, site.Spec.Site, wh.Spec.Event)
	fmt.Fprintf(&b, "\nManager log: %s\nDeliveries to the receiver are printed below. Press Ctrl-C to stop and remove everything.\n", d.mgr.LogPath)
	d.say("%s", b.String())
}

// deleteTeamNamespace runs `kubectl delete namespace` on teamNamespace, as a platform team
// offboards a team, and checks that it finishes: the namespace is gone and Tableau holds none of
// its webhooks but those with deletionPolicy: Orphan.
func (d *demo) deleteTeamNamespace(ctx context.Context) error {
	ns := d.teamNamespace()
	var kept []string
	gone := 0
	for _, wh := range d.webhooks {
		if wh.Namespace != ns {
			continue
		}
		if wh.EffectiveDeletionPolicy() == tableauv1.DeletionPolicyOrphan {
			kept = append(kept, wh.TableauName())
		} else {
			gone++
		}
	}
	done := d.step("kubectl delete namespace %s: %d webhook(s) leave Tableau, %d stay (deletionPolicy: Orphan)", ns, gone, len(kept))
	ctx, cancel := context.WithTimeout(ctx, d.opts.timeout)
	defer cancel()
	if err := d.kubectl(ctx, "delete", "namespace", ns, "--wait=true"); err != nil {
		return err
	}
	for _, wh := range d.webhooks {
		if wh.Namespace != ns || slices.Contains(kept, wh.TableauName()) {
			continue
		}
		site := d.siteOf(wh)
		if site == nil {
			continue
		}
		hooks, err := d.sim.Webhooks(ctx, site.Spec.Site)
		if err != nil {
			return err
		}
		for _, h := range hooks {
			if h.Name == wh.TableauName() {
				return fmt.Errorf("namespace %s is gone but Tableau still has webhook %q", ns, h.Name)
			}
		}
	}
	done("namespace gone")
	return nil
}

// teamNamespace is a namespace to delete in the tour: one holding TableauWebhooks but no
// TableauSite (a team that uses another team's site), else the first webhook's.
func (d *demo) teamNamespace() string {
	for _, wh := range d.webhooks {
		if wh.SiteNamespace() != wh.Namespace {
			return wh.Namespace
		}
	}
	return d.webhooks[0].Namespace
}

// kubectl runs the kubectl built with the control plane against the demo's API server.
func (d *demo) kubectl(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, d.env.Kubectl(), append([]string{"--kubeconfig", d.env.Kubeconfig}, args...)...) //nolint:gosec // our kubectl
	out, err := cmd.CombinedOutput()
	d.say("%s", indent(strings.TrimRight(string(out), "\n")))
	if err != nil {
		return fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

func (d *demo) siteOf(wh *tableauv1.TableauWebhook) *tableauv1.TableauSite {
	ns := wh.Spec.SiteRef.Namespace
	if ns == "" {
		ns = wh.Namespace
	}
	for _, s := range d.sites {
		if s.Namespace == ns && s.Name == wh.Spec.SiteRef.Name {
			return s
		}
	}
	return nil
}

// credentials are what the simulator accepts and the sample Secrets are rewritten to hold.
type credentials struct {
	patName, patSecret string
	username, password string
}

// credentialsFor keeps the token name (and username) the samples use, so that the demo shows
// them working, with fresh secrets.
func credentialsFor(objs []client.Object) credentials {
	c := credentials{patName: "demo-pat", patSecret: randomSecret()}
	patName, username := "", ""
	for _, site := range typed[*tableauv1.TableauSite](objs) {
		creds := site.Spec.Credentials
		if creds.PersonalAccessToken != nil && patName == "" {
			if s := findSecret(objs, site.Namespace, creds.PersonalAccessToken.SecretRef.Name); s != nil {
				patName = secretValue(s, "tokenName")
			}
		}
		if creds.Password != nil && username == "" {
			username = "demo-user"
			if s := findSecret(objs, site.Namespace, creds.Password.SecretRef.Name); s != nil {
				if u := secretValue(s, "username"); u != "" {
					username = u
				}
			}
		}
	}
	if patName != "" {
		c.patName = patName
	}
	if username != "" {
		c.username, c.password = username, randomSecret()
	}
	return c
}

// sitesOf returns the contentUrls of the TableauSites.
func sitesOf(objs []client.Object) []string {
	var sites []string
	for _, s := range typed[*tableauv1.TableauSite](objs) {
		if !slices.Contains(sites, s.Spec.Site) {
			sites = append(sites, s.Spec.Site)
		}
	}
	return sites
}

// rewrite points the samples at the simulator and the receiver: TableauSites get the
// simulator's URL and CA bundle, their credential Secrets the simulator's credentials,
// TableauWebhooks (and the Secrets their urlFrom names) the receiver's URL with the sample's
// path. Secrets the samples reference but do not hold are added, as are the CA bundle Secrets.
func (d *demo) rewrite(ctx context.Context, objs []client.Object, creds credentials) ([]client.Object, error) {
	for _, obj := range objs {
		if obj.GetNamespace() != "" {
			continue
		}
		namespaced, err := d.env.Client.IsObjectNamespaced(obj)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", localenv.Describe(obj), err)
		}
		if namespaced {
			obj.SetNamespace(metav1.NamespaceDefault)
		}
	}

	// Secret keys to set, by Secret.
	want := map[types.NamespacedName]map[string]string{}
	set := func(ns, name, key, value string) {
		k := types.NamespacedName{Namespace: ns, Name: name}
		if want[k] == nil {
			want[k] = map[string]string{}
		}
		want[k][key] = value
	}
	for _, site := range typed[*tableauv1.TableauSite](objs) {
		site.Spec.ServerURL = d.sim.URL
		site.Spec.TLS = &tableauv1.TableauTLS{CABundleSecretRef: &tableauv1.SecretKeySelector{Name: caSecretName, Key: "ca.crt"}}
		set(site.Namespace, caSecretName, "ca.crt", string(d.sim.CAPEM))
		if pat := site.Spec.Credentials.PersonalAccessToken; pat != nil {
			set(site.Namespace, pat.SecretRef.Name, "tokenName", creds.patName)
			set(site.Namespace, pat.SecretRef.Name, "tokenSecret", creds.patSecret)
		}
		if pw := site.Spec.Credentials.Password; pw != nil {
			set(site.Namespace, pw.SecretRef.Name, "username", creds.username)
			set(site.Namespace, pw.SecretRef.Name, "password", creds.password)
		}
		d.sites = append(d.sites, site)
	}
	for _, wh := range typed[*tableauv1.TableauWebhook](objs) {
		dest := &wh.Spec.Destination
		if dest.URL != "" {
			dest.URL = d.receiverURL(dest.URL)
		}
		if f := dest.URLFrom; f != nil {
			original := ""
			if s := findSecret(objs, wh.Namespace, f.SecretKeyRef.Name); s != nil {
				original = secretValue(s, f.SecretKeyRef.Key)
			}
			set(wh.Namespace, f.SecretKeyRef.Name, f.SecretKeyRef.Key, d.receiverURL(original))
		}
		d.webhooks = append(d.webhooks, wh)
	}

	for key, values := range want {
		s := findSecret(objs, key.Namespace, key.Name)
		if s == nil {
			s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}, Type: corev1.SecretTypeOpaque}
			s.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
			objs = append(objs, s)
		}
		if s.StringData == nil {
			s.StringData = map[string]string{}
		}
		for k, v := range values {
			s.StringData[k] = v
			delete(s.Data, k)
		}
	}
	// Secrets before what references them, so nothing waits for a watch event needlessly.
	slices.SortStableFunc(objs, func(a, b client.Object) int {
		_, sa := a.(*corev1.Secret)
		_, sb := b.(*corev1.Secret)
		return boolRank(sb) - boolRank(sa)
	})
	return objs, ctx.Err()
}

// receiverURL keeps a sample destination's path and query and replaces its scheme and host with
// the receiver's.
func (d *demo) receiverURL(original string) string {
	u, err := url.Parse(original)
	if err != nil || u.Path == "" {
		return d.receiver.URL + "/"
	}
	return d.receiver.URL + u.RequestURI()
}

func typed[T client.Object](objs []client.Object) []T {
	var out []T
	for _, o := range objs {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

func findSecret(objs []client.Object, namespace, name string) *corev1.Secret {
	for _, s := range typed[*corev1.Secret](objs) {
		if s.Name == name && (s.Namespace == namespace || s.Namespace == "" && namespace == metav1.NamespaceDefault) {
			return s
		}
	}
	return nil
}

func secretValue(s *corev1.Secret, key string) string {
	if v, ok := s.StringData[key]; ok {
		return v
	}
	return string(s.Data[key])
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

func randomSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func prettyJSON(data []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		return string(data)
	}
	return buf.String()
}

func indent(s string) string {
	if s == "" {
		return s
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// shorten cuts every line of s to at most n bytes (log lines carry long stack traces).
func shorten(s string, n int) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if len(l) > n {
			lines[i] = l[:n] + "..."
		}
	}
	return strings.Join(lines, "\n")
}

func since(t time.Time) string {
	return time.Since(t).Round(100 * time.Millisecond).String()
}
