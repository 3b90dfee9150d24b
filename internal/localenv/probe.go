package localenv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeUserAgent is what the kubelet's HTTP prober sends (kube-probe/MAJOR.MINOR).
const probeUserAgent = "kube-probe/1.37"

// prober probes one probe of the container as the kubelet's probe worker does.
type prober struct {
	kind  string // startup, liveness or readiness
	probe *corev1.Probe
	pod   *Pod

	mu        sync.Mutex
	successes int // consecutive
	failures  int // consecutive
	passed    bool
	failed    bool // failureThreshold reached
	ever      bool // succeeded at least once
	last      string
	count     int
}

// startProbes starts a worker for each probe of the container. Liveness and readiness wait
// for the startup probe, if there is one, to succeed, as in the kubelet.
func (p *Pod) startProbes(ctx context.Context) {
	c := p.Container
	var startup *prober
	if c.StartupProbe != nil {
		startup = &prober{kind: "startup", probe: c.StartupProbe, pod: p}
		p.probers = append(p.probers, startup)
	}
	if c.LivenessProbe != nil {
		p.probers = append(p.probers, &prober{kind: "liveness", probe: c.LivenessProbe, pod: p})
	}
	if c.ReadinessProbe != nil {
		p.probers = append(p.probers, &prober{kind: "readiness", probe: c.ReadinessProbe, pod: p})
	}
	for _, pr := range p.probers {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			pr.run(ctx, startup)
		}()
	}
}

// run probes until ctx ends, the container exits, or a liveness or startup probe fails
// failureThreshold times in a row (the kubelet would then restart the container).
func (pr *prober) run(ctx context.Context, startup *prober) {
	probe := pr.probe
	period := seconds(probe.PeriodSeconds, 10)
	timeout := seconds(probe.TimeoutSeconds, 1)
	successThreshold := int(max(probe.SuccessThreshold, 1))
	failureThreshold := int(max(probe.FailureThreshold, 3))
	if pr.kind != "readiness" {
		successThreshold = 1
	}
	first := pr.pod.StartedAt.Add(time.Duration(probe.InitialDelaySeconds) * time.Second)
	timer := time.NewTimer(time.Until(first))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-pr.pod.done:
			return
		case <-timer.C:
		}
		timer.Reset(period)
		if startup != nil && pr != startup && !startup.Passed() {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := pr.pod.probeOnce(pctx, probe, timeout)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if pr.record(err, successThreshold, failureThreshold) {
			return
		}
	}
}

// record counts a result; it returns true when the worker is done.
func (pr *prober) record(err error, successThreshold, failureThreshold int) bool {
	pr.mu.Lock()
	pr.count++
	if err == nil {
		pr.successes++
		pr.failures = 0
		pr.ever = true
		pr.last = "success"
		if pr.successes >= successThreshold {
			pr.passed = true
		}
	} else {
		pr.failures++
		pr.successes = 0
		pr.last = err.Error()
		if pr.failures >= failureThreshold {
			pr.passed = false
			pr.failed = true
		}
	}
	passed, failed, n := pr.passed, pr.failed, pr.failures
	pr.mu.Unlock()
	if readiness := pr.kind == "readiness"; readiness {
		pr.pod.setReady(passed)
		return false
	}
	if failed {
		pr.pod.problem("the %s probe failed %d times in a row (the kubelet would restart the container): %v", pr.kind, n, err)
		return true
	}
	// A startup probe stops once it has succeeded.
	return pr.kind == "startup" && passed
}

// Passed reports whether the probe's last results reached its successThreshold.
func (pr *prober) Passed() bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.passed
}

func (pr *prober) String() string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return fmt.Sprintf("%s probe: %d probes, last: %s", pr.kind, pr.count, pr.last)
}

func seconds(s, def int32) time.Duration {
	if s <= 0 {
		s = def
	}
	return time.Duration(s) * time.Second
}

// probeOnce runs one probe against the Pod (its IP is the host's loopback address).
func (p *Pod) probeOnce(ctx context.Context, probe *corev1.Probe, timeout time.Duration) error {
	switch {
	case probe.HTTPGet != nil:
		return p.probeHTTP(ctx, probe.HTTPGet, timeout)
	case probe.TCPSocket != nil:
		port, err := p.resolvePort(probe.TCPSocket.Port)
		if err != nil {
			return err
		}
		host := probe.TCPSocket.Host
		if host == "" {
			host = p.Object.Status.PodIP
		}
		conn, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	}
	return errors.New("the probe is neither httpGet nor tcpSocket")
}

// probeHTTP is the kubelet's HTTP probe: a GET without keep-alive, TLS unverified, redirects
// followed, success for a status from 200 to 399.
func (p *Pod) probeHTTP(ctx context.Context, get *corev1.HTTPGetAction, timeout time.Duration) error {
	port, err := p.resolvePort(get.Port)
	if err != nil {
		return err
	}
	host := get.Host
	if host == "" {
		host = p.Object.Status.PodIP
	}
	scheme := strings.ToLower(string(get.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := get.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", probeUserAgent)
	req.Header.Set("Accept", "*/*")
	for _, h := range get.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	hc := &http.Client{Timeout: timeout, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the kubelet does not verify probes
	}}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode < http.StatusOK || resp.StatusCode >= http.StatusBadRequest {
		return fmt.Errorf("GET %s: %s", req.URL, resp.Status)
	}
	return nil
}

// resolvePort resolves a probe's port, a number or the name of one of the container's ports.
func (p *Pod) resolvePort(port intstr.IntOrString) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	for _, cp := range p.Container.Ports {
		if cp.Name == port.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(port.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("the probe's port %q names none of the container's ports", port.StrVal)
}

// setReady keeps the Pod's Ready condition as the readiness probe says.
func (p *Pod) setReady(ready bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	obj := p.live
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	for _, c := range obj.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == status {
			return
		}
	}
	now := metav1.Now()
	obj.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: status, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: status, LastTransitionTime: now},
	}
	if len(obj.Status.ContainerStatuses) == 1 {
		obj.Status.ContainerStatuses[0].Ready = ready
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A status write that fails leaves the condition to the next result.
	_ = p.env.Client.Status().Update(ctx, obj)
}

// Ready reports whether the readiness probe has passed (and no probe has failed for good); a
// container without a readiness probe is ready once it runs.
func (p *Pod) Ready() bool {
	for _, pr := range p.probers {
		if pr.kind == "readiness" {
			return pr.Passed() && !p.Exited()
		}
	}
	return !p.Exited()
}

// WaitReady waits until the readiness probe passes, failing early when the container exits or
// a liveness or startup probe fails for good.
func (p *Pod) WaitReady(ctx context.Context) error {
	return p.waitProbes(ctx, "readiness", func() bool { return p.Ready() })
}

// WaitLive waits until the liveness probe has succeeded at least once (the kubelet's first
// liveness probe comes initialDelaySeconds after the start), failing early as WaitReady.
func (p *Pod) WaitLive(ctx context.Context) error {
	return p.waitProbes(ctx, "liveness", func() bool {
		for _, pr := range p.probers {
			if pr.kind == "liveness" {
				pr.mu.Lock()
				defer pr.mu.Unlock()
				return pr.ever
			}
		}
		return true
	})
}

func (p *Pod) waitProbes(ctx context.Context, what string, done func() bool) error {
	err := Poll(ctx, func(context.Context) error {
		if problems := p.Problems(); len(problems) > 0 {
			return nil
		}
		if done() {
			return nil
		}
		return fmt.Errorf("waiting for the %s probe", what)
	})
	if problems := p.Problems(); len(problems) > 0 {
		return fmt.Errorf("Pod %s/%s: %s", p.Object.Namespace, p.Object.Name, strings.Join(problems, "; "))
	}
	if err != nil {
		var states []string
		for _, pr := range p.probers {
			states = append(states, pr.String())
		}
		return fmt.Errorf("Pod %s/%s: %w (%s)", p.Object.Namespace, p.Object.Name, err, strings.Join(states, "; "))
	}
	return nil
}
