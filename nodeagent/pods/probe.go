package pods

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The prober: a small loop per probe of each running instance, feeding
// what it concludes into decide (through results) and queueing the pod
// when a conclusion changes. Probes run on the wall clock (their periods
// are real time); decisions read only the conclusions.

type probeKind int

const (
	probeStartup probeKind = iota
	probeReadiness
	probeLiveness
)

func (k probeKind) String() string {
	return [...]string{"Startup", "Readiness", "Liveness"}[k]
}

type workerKey struct {
	id   string
	kind probeKind
}

type prober struct {
	rt     runtime.Runtime
	log    *slog.Logger
	notify func(types.UID)
	// unhealthy records an Unhealthy Event.
	unhealthy func(pod *corev1.Pod, container string, init bool, kind probeKind, msg string)
	client    *http.Client

	// mu guards workers and res.
	mu      sync.Mutex
	workers map[workerKey]context.CancelFunc
	// res: by pod UID, by instance ID.
	res map[types.UID]map[string]probeResult
}

func newProber(rt runtime.Runtime, log *slog.Logger, notify func(types.UID),
	unhealthy func(*corev1.Pod, string, bool, probeKind, string)) *prober {
	tr := &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // kubelet does not verify probe targets
		Proxy:             nil,
	}
	return &prober{rt: rt, log: log, notify: notify, unhealthy: unhealthy,
		client: &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return http.ErrUseLastResponse
			}
			return nil
		}},
		workers: map[workerKey]context.CancelFunc{}, res: map[types.UID]map[string]probeResult{}}
}

// recordProbeFailure is the Manager's Unhealthy Event.
func (m *Manager) recordProbeFailure(pod *corev1.Pod, container string, init bool, kind probeKind, msg string) {
	m.recorder.Eventf(containerRef(pod, container, init), corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", kind, msg)
}

// results are the conclusions for the pod's instances (a copy).
func (p *prober) results(uid types.UID) map[string]probeResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]probeResult, len(p.res[uid]))
	for id, r := range p.res[uid] {
		out[id] = r
	}
	return out
}

// sync runs a probe loop for every probe of every running instance of
// pod, and ends the loops of instances that no longer run.
func (p *prober) sync(pod *corev1.Pod, running []runtime.ContainerStatus, podIP netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	live := map[string]bool{}
	res := p.res[pod.UID]
	if res == nil {
		res = map[string]probeResult{}
		p.res[pod.UID] = res
	}
	for _, inst := range running {
		c := findContainer(pod, inst.Name)
		if c == nil {
			continue
		}
		live[inst.ID] = true
		if _, ok := res[inst.ID]; !ok {
			res[inst.ID] = probeResult{Started: c.StartupProbe == nil, Ready: c.ReadinessProbe == nil}
		}
		for kind, pr := range map[probeKind]*corev1.Probe{probeStartup: c.StartupProbe, probeReadiness: c.ReadinessProbe, probeLiveness: c.LivenessProbe} {
			if pr == nil {
				continue
			}
			key := workerKey{inst.ID, kind}
			if _, ok := p.workers[key]; ok {
				continue
			}
			if r := res[inst.ID]; (kind == probeStartup && (r.Started || r.StartupFailed)) || (kind == probeLiveness && r.LivenessFailed) {
				continue // concluded for good
			}
			ctx, cancel := context.WithCancel(context.Background())
			p.workers[key] = cancel
			w := &probeWorker{p: p, pod: pod, c: c, init: inst.Init, id: inst.ID, kind: kind, probe: pr, podIP: podIP, startedAt: inst.StartedAt}
			go w.run(ctx)
		}
	}
	for id := range res {
		if live[id] {
			continue
		}
		delete(res, id)
		for k := range 3 {
			key := workerKey{id, probeKind(k)}
			if cancel, ok := p.workers[key]; ok {
				cancel()
				delete(p.workers, key)
			}
		}
	}
}

// forget ends the pod's loops and drops its results.
func (p *prober) forget(uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id := range p.res[uid] {
		for k := range 3 {
			key := workerKey{id, probeKind(k)}
			if cancel, ok := p.workers[key]; ok {
				cancel()
				delete(p.workers, key)
			}
		}
	}
	delete(p.res, uid)
}

func (p *prober) stopAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, cancel := range p.workers {
		cancel()
		delete(p.workers, key)
	}
}

// update changes one instance's result under the lock; notify when it
// changed.
func (p *prober) update(uid types.UID, id string, f func(*probeResult)) {
	p.mu.Lock()
	res := p.res[uid]
	r, ok := res[id]
	if !ok {
		p.mu.Unlock()
		return
	}
	before := r
	f(&r)
	res[id] = r
	p.mu.Unlock()
	if r != before {
		p.notify(uid)
	}
}

func (p *prober) started(uid types.UID, id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.res[uid][id].Started
}

type probeWorker struct {
	p         *prober
	pod       *corev1.Pod
	c         *corev1.Container
	init      bool
	id        string
	kind      probeKind
	probe     *corev1.Probe
	podIP     netip.Addr
	startedAt time.Time
}

func (w *probeWorker) run(ctx context.Context) {
	pr := w.probe
	period := secondsOr(pr.PeriodSeconds, 10)
	success, failure := int(max(pr.SuccessThreshold, 1)), int(max(pr.FailureThreshold, 1))
	if w.kind != probeReadiness {
		success = 1
	}
	first := time.Until(w.startedAt.Add(time.Duration(pr.InitialDelaySeconds) * time.Second))
	timer := time.NewTimer(max(first, 0))
	defer timer.Stop()
	var ok, bad int
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(period)
		if w.kind != probeStartup && !w.p.started(w.pod.UID, w.id) {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, secondsOr(pr.TimeoutSeconds, 1))
		passed, msg := runProbe(pctx, w.p.rt, w.p.client, w.id, w.podIP, w.c, &pr.ProbeHandler)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if passed {
			ok, bad = ok+1, 0
		} else {
			ok, bad = 0, bad+1
			w.p.unhealthy(w.pod, w.c.Name, w.init, w.kind, msg)
		}
		done := false
		w.p.update(w.pod.UID, w.id, func(r *probeResult) {
			switch w.kind {
			case probeStartup:
				if ok >= success {
					r.Started, done = true, true
				} else if bad >= failure {
					r.StartupFailed, done = true, true
				}
			case probeReadiness:
				if ok >= success {
					r.Ready = true
				} else if bad >= failure {
					r.Ready = false
				}
			case probeLiveness:
				if bad >= failure {
					r.LivenessFailed, done = true, true
				}
			}
		})
		if done {
			return
		}
	}
}

func secondsOr(s int32, def int) time.Duration {
	if s <= 0 {
		return time.Duration(def) * time.Second
	}
	return time.Duration(s) * time.Second
}

// runProbe runs one probe attempt: whether it passed, and why not.
func runProbe(ctx context.Context, rt runtime.Runtime, client *http.Client, id string, podIP netip.Addr, c *corev1.Container, h *corev1.ProbeHandler) (bool, string) {
	switch {
	case h.Exec != nil:
		var out bytes.Buffer
		code, err := rt.Exec(ctx, id, runtime.ExecOptions{Command: h.Exec.Command, Stdout: &out, Stderr: &out})
		if err != nil {
			if ctx.Err() != nil {
				return false, fmt.Sprintf("command %q timed out", h.Exec.Command)
			}
			return false, err.Error()
		}
		if code != 0 {
			return false, limit(out.String())
		}
		return true, ""
	case h.HTTPGet != nil:
		return httpProbe(ctx, client, podIP, c, h.HTTPGet)
	case h.TCPSocket != nil:
		host := h.TCPSocket.Host
		if host == "" {
			host = podIP.String()
		}
		port, err := resolvePort(h.TCPSocket.Port, c)
		if err != nil {
			return false, err.Error()
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return false, fmt.Sprintf("dial tcp %s: %v", net.JoinHostPort(host, strconv.Itoa(port)), err)
		}
		_ = conn.Close()
		return true, ""
	case h.GRPC != nil:
		return false, "gRPC probes are not supported by this node agent"
	}
	return false, "the probe names no handler"
}

func httpProbe(ctx context.Context, client *http.Client, podIP netip.Addr, c *corev1.Container, g *corev1.HTTPGetAction) (bool, string) {
	host := g.Host
	if host == "" {
		host = podIP.String()
	}
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return false, err.Error()
	}
	scheme := "http"
	if g.Scheme == corev1.URISchemeHTTPS {
		scheme = "https"
	}
	path := g.Path
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "kube-probe/1.37")
	req.Header.Set("Accept", "*/*")
	for _, hd := range g.HTTPHeaders {
		if http.CanonicalHeaderKey(hd.Name) == "Host" {
			req.Host = hd.Value
			continue
		}
		req.Header.Add(hd.Name, hd.Value)
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	_ = resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return true, ""
	}
	return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
}

// resolvePort is a probe's port: a number, or the name of one of the
// container's ports.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal <= 0 || p.IntVal > 65535 {
			return 0, fmt.Errorf("invalid port number: %d", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil && n > 0 && n <= 65535 {
		return n, nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("couldn't find port %q in container %s", p.StrVal, c.Name)
}

func limit(s string) string {
	const n = 1024
	if len(s) > n {
		return s[:n]
	}
	return s
}

// runHandler runs a lifecycle hook (exec, httpGet, sleep) for instance id.
func runHandler(ctx context.Context, rt runtime.Runtime, id string, podIP netip.Addr, c *corev1.Container, h *corev1.LifecycleHandler) error {
	switch {
	case h.Exec != nil:
		var out bytes.Buffer
		code, err := rt.Exec(ctx, id, runtime.ExecOptions{Command: h.Exec.Command, Stdout: &out, Stderr: &out})
		if err != nil {
			return fmt.Errorf("exec %q: %w", h.Exec.Command, err)
		}
		if code != 0 {
			return fmt.Errorf("command %q exited with %d: %s", h.Exec.Command, code, limit(out.String()))
		}
		return nil
	case h.HTTPGet != nil:
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
		ok, msg := httpProbe(ctx, client, podIP, c, h.HTTPGet)
		if !ok {
			return errors.New(msg)
		}
		return nil
	case h.Sleep != nil:
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
			return nil
		}
	}
	return nil
}
