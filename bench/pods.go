package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kelson-dev/kelson/internal/testimage"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// PodsConfig is `kelson bench pods`: real pods on one real node of this
// machine — a `kelson server --disable-agent` and a `kelson agent` running
// containers through containerd, both inside network namespaces the run
// makes (never on the host's network) — measuring:
//
//   - create → Running and → Ready of one pod at a time (Pods times, each
//     deleted before the next; its delete → gone too);
//   - Service rule update: from a pod behind a ClusterIP Service turning
//     Ready (and from its address appearing ready in the EndpointSlice) to
//     the ClusterIP answering from it, polled from the node (ServiceRounds
//     times, one endpoint at a time);
//   - create → Running and → Ready of Burst pods created at once, and from
//     the first create to the last Ready;
//   - the memory with the Burst pods running: the agent's RSS, its
//     containerd's, and the per-container processes' (containerd shims and
//     log drivers) proportional set size.
//
// The image is the test image of package testimage (busybox httpd serving
// "It works!", as docker.io/library/httpd:latest), imported offline: image
// pulls are not measured. It needs root, containerd, runc and
// busybox-static (ErrPodsUnavailable otherwise). The zero value means the
// defaults per field.
type PodsConfig struct {
	// Binary is the kelson binary run as the server, the agent and the
	// image import [--kelson]; default this executable.
	Binary string `json:"binary"`
	// Pods created one at a time [--pods]; default 20; negative: none.
	Pods int `json:"pods"`
	// Burst pods created at once [--burst]; default 30; negative: none.
	Burst int `json:"burst"`
	// ServiceRounds: endpoint changes measured [--service-rounds]; default
	// 10; negative: none.
	ServiceRounds int `json:"service_rounds"`
	// Clients: goroutines creating the burst [--clients]; default Burst
	// (every create sent at once).
	Clients int `json:"clients"`
	// Timeout bounds each wait for pods (Ready, gone, the ClusterIP's
	// answer) [--timeout]; default 2m.
	Timeout time.Duration `json:"timeout"`
	// SetupTimeout bounds each step of the start (the API, the image
	// import, the node Ready); default 2m.
	SetupTimeout time.Duration `json:"setup_timeout"`
	// PollInterval is the pause between two requests to the ClusterIP;
	// each request is bounded by 4 times it (at least 200ms) [--poll];
	// default 5ms.
	PollInterval time.Duration `json:"poll_interval"`
	// WorkDir is where the run's directory (data dirs, sockets, image
	// archive) is made, and removed at the end [--work-dir]; default /tmp
	// (containerd's socket path must stay short).
	WorkDir string `json:"work_dir"`
	// ChildLogLevel is the --log-level of the server and the agent; default
	// warn.
	ChildLogLevel string `json:"child_log_level"`
	// LogDir, when set, keeps the server's and the agent's logs
	// (server.log, agent.log) [--log-dir]; default: in the work dir,
	// removed (their last lines are in the error of a failed run).
	LogDir string `json:"log_dir,omitempty"`
	// Progress, when set, is told of the run's progress.
	Progress Progress `json:"-"`
	// Logger reports the run's steps; default discards.
	Logger *slog.Logger `json:"-"`
}

const (
	podsNamespace = "default"
	podsService   = "bench-svc"
	podsSvcLabel  = "kelson-bench-svc"
	// podsPort is the Service's port; the pods serve on 80.
	podsPort = 8080
)

func (c PodsConfig) withDefaults() (PodsConfig, error) {
	if c.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return c, fmt.Errorf("%w: the kelson binary: %v (give --kelson)", ErrBadConfig, err)
		}
		c.Binary = exe
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
		if *v < 0 {
			*v = 0
		}
	}
	def(&c.Pods, 20)
	def(&c.Burst, 30)
	def(&c.ServiceRounds, 10)
	if c.Clients <= 0 {
		c.Clients = max(c.Burst, 1)
	}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.SetupTimeout == 0 {
		c.SetupTimeout = 2 * time.Minute
	}
	if c.PollInterval == 0 {
		c.PollInterval = 5 * time.Millisecond
	}
	if c.WorkDir == "" {
		c.WorkDir = "/tmp"
	}
	if c.ChildLogLevel == "" {
		c.ChildLogLevel = "warn"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Timeout < 0 || c.SetupTimeout < 0 || c.PollInterval < 0 {
		return c, fmt.Errorf("%w: --timeout and --poll must be positive", ErrBadConfig)
	}
	if c.Pods == 0 && c.Burst == 0 && c.ServiceRounds == 0 {
		return c, fmt.Errorf("%w: nothing to measure: --pods, --burst and --service-rounds are all negative", ErrBadConfig)
	}
	return c, nil
}

// PodsResult is one run's figures. Latencies are from just before the
// create request to this process's receipt of the watch event.
type PodsResult struct {
	Config PodsConfig `json:"config"`
	// Setup: from the start to the node Ready with the image imported.
	Setup time.Duration `json:"setup_ns"`
	// Single: pods created one at a time (nil when none).
	Single *PodLatencies `json:"single,omitempty"`
	// Burst: pods created at once (nil when none).
	Burst *PodLatencies `json:"burst,omitempty"`
	// Service: the rule updates (nil when none).
	Service *ServiceLatencies `json:"service,omitempty"`
	// Memory with the burst's pods running (nil without a burst).
	Memory *PodsMemory `json:"memory,omitempty"`
	// Leftover: what the clean-up could not remove.
	Leftover []string `json:"leftover,omitempty"`
}

// PodLatencies are the latencies of Count pods.
type PodLatencies struct {
	Count int `json:"count"`
	// Scheduled: create → bound to the node (spec.nodeName set by the
	// scheduler).
	Scheduled Quantiles `json:"scheduled"`
	// Running: create → phase Running; Ready: create → Ready condition
	// True (the container started: the pods have no readiness probe).
	Running Quantiles `json:"running"`
	Ready   Quantiles `json:"ready"`
	// AllReady (burst): from the first create to the last pod Ready.
	AllReady time.Duration `json:"all_ready_ns,omitempty"`
	// Deleted (one at a time): delete → gone from the API (the agent
	// stopped the container, which exits on SIGTERM, and removed it).
	Deleted *Quantiles `json:"deleted,omitempty"`
}

// ServiceLatencies are the Service rule updates of Rounds endpoint
// changes: a pod behind the Service created while it has no other, until
// the ClusterIP answers from it. The answer's time is the start of the
// first request it answered (requests every PollInterval).
type ServiceLatencies struct {
	Rounds int `json:"rounds"`
	// FromReady: the pod seen Ready → the ClusterIP answers from it.
	FromReady Quantiles `json:"from_ready"`
	// FromSlice: the pod's address seen ready in the Service's
	// EndpointSlice → the ClusterIP answers from it (the agent's proxy's
	// share).
	FromSlice Quantiles `json:"from_slice"`
	// FromCreate: the pod's create → the ClusterIP answers from it.
	FromCreate Quantiles `json:"from_create"`
}

// PodsMemory is the memory of the node's processes with Pods pods
// running, read from /proc.
type PodsMemory struct {
	Pods int `json:"pods"`
	// Agent: the kelson agent process (VmRSS, VmHWM, Pss); AgentIdle: the
	// same before the burst, with no pod running.
	Agent     ProcGroup `json:"agent"`
	AgentIdle ProcGroup `json:"agent_idle"`
	// Containerd: the containerd the agent runs.
	Containerd ProcGroup `json:"containerd"`
	// Shims and LogDrivers: the processes each container has outside the
	// agent (containerd-shim-runc-v2, kelson container-log-driver).
	Shims      ProcGroup `json:"shims"`
	LogDrivers ProcGroup `json:"log_drivers"`
	// PerContainer: (Shims + LogDrivers) Pss divided by the containers.
	PerContainer int64 `json:"per_container_pss_bytes"`
	// Server: the kelson server (store, API, controllers, scheduler).
	Server ProcGroup `json:"server"`
}

// RunPods runs the pods workload.
func RunPods(ctx context.Context, cfg PodsConfig) (_ *PodsResult, err error) {
	if cfg, err = cfg.withDefaults(); err != nil {
		return nil, err
	}
	if why := podsNeeds(cfg.Binary); why != "" {
		return nil, fmt.Errorf("%w: %s", ErrPodsUnavailable, why)
	}
	res := &PodsResult{Config: cfg}
	start := time.Now()
	env, err := startPodsEnv(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w%s", err, env.logTails())
		}
		res.Leftover = env.close()
		if len(res.Leftover) > 0 {
			cfg.Logger.Warn("pods bench: clean-up left something", "leftover", res.Leftover)
		}
	}()
	res.Setup = time.Since(start)

	ev, stopWatch := watchPodsAndSlices(ctx, env.cs, podsNamespace, podsService)
	defer stopWatch()
	// A process of the node that exits ends every wait at once, with why.
	dogCtx, stopDog := context.WithCancel(ctx)
	defer stopDog()
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-dogCtx.Done():
				return
			case <-t.C:
				if err := env.alive(); err != nil {
					ev.fail(err)
					return
				}
			}
		}
	}()
	r := &podsRun{cfg: cfg, env: env, ev: ev}
	if cfg.Pods > 0 {
		if res.Single, err = r.single(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.ServiceRounds > 0 {
		if res.Service, err = r.service(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.Burst > 0 {
		idle, err := readProcMem(env.agent.pid())
		if err != nil {
			return nil, fmt.Errorf("bench: the agent's memory: %w", err)
		}
		if res.Burst, err = r.burst(ctx); err != nil {
			return nil, err
		}
		res.Memory = r.memory(idle)
	}
	if cfg.Progress != nil {
		cfg.Progress.Finish()
	}
	return res, nil
}

// podsRun is one run's measuring state.
type podsRun struct {
	cfg PodsConfig
	env *podsEnv
	ev  *podEvents
}

// httpdPod is one of the run's pods: the httpd image, whose shell writes
// the pod's name to name.html (so that an answer names its pod), exits on
// SIGTERM and serves; no readiness probe (Ready = started).
func httpdPod(name string, labels map[string]string) *corev1.Pod {
	grace := int64(5)
	script := fmt.Sprintf("echo %s > %s/name.html; trap 'exit 0' TERM; httpd -f -p 80 -h %s & wait",
		name, testimage.HTDocs, testimage.HTDocs)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name: "httpd", Image: testimage.HTTPD().Ref, ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sh", "-c", script},
				Ports:   []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
			}},
		},
	}
}

func (r *podsRun) progress(phase string, done, total int) {
	if r.cfg.Progress != nil {
		r.cfg.Progress.Update(phase, int64(done), int64(total))
	}
}

// create creates a pod and returns the time just before the request.
func (r *podsRun) create(ctx context.Context, pod *corev1.Pod) (time.Time, error) {
	t := time.Now()
	if _, err := r.env.cs.CoreV1().Pods(podsNamespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return t, fmt.Errorf("bench: create pod %s: %w", pod.Name, err)
	}
	return t, nil
}

// deleteAndWait deletes a pod and waits until it is gone; it returns the
// time just before the delete.
func (r *podsRun) deleteAndWait(ctx context.Context, name string) (time.Time, error) {
	t := time.Now()
	if err := r.env.cs.CoreV1().Pods(podsNamespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return t, fmt.Errorf("bench: delete pod %s: %w", name, err)
	}
	return t, r.ev.waitGone(ctx, r.cfg.Timeout, name)
}

// single creates pods one at a time, each deleted before the next.
func (r *podsRun) single(ctx context.Context) (*PodLatencies, error) {
	var bound, running, ready, deleted []time.Duration
	for i := range r.cfg.Pods {
		r.progress("one pod at a time", i, r.cfg.Pods)
		name := fmt.Sprintf("single-%d", i)
		t0, err := r.create(ctx, httpdPod(name, nil))
		if err != nil {
			return nil, err
		}
		if err := r.ev.waitReady(ctx, r.cfg.Timeout, name); err != nil {
			return nil, err
		}
		run, rdy, _, _ := r.ev.times(name)
		running, ready = append(running, run.Sub(t0)), append(ready, rdy.Sub(t0))
		bound = append(bound, r.ev.boundAt(name).Sub(t0))
		td, err := r.deleteAndWait(ctx, name)
		if err != nil {
			return nil, err
		}
		_, _, gone, _ := r.ev.times(name)
		deleted = append(deleted, gone.Sub(td))
	}
	r.progress("one pod at a time", r.cfg.Pods, r.cfg.Pods)
	d := quantiles(deleted)
	return &PodLatencies{Count: r.cfg.Pods, Scheduled: quantiles(bound), Running: quantiles(running), Ready: quantiles(ready), Deleted: &d}, nil
}

// burst creates the pods at once and waits for all of them.
func (r *podsRun) burst(ctx context.Context) (*PodLatencies, error) {
	n := r.cfg.Burst
	names := make([]string, n)
	starts := make([]time.Time, n)
	for i := range names {
		names[i] = fmt.Sprintf("burst-%d", i)
	}
	var created atomic.Int64
	first := time.Now()
	r.progress("burst: creating", 0, n)
	err := createAll(ctx, n, r.cfg.Clients, &created, func(ctx context.Context, i int) error {
		t, err := r.create(ctx, httpdPod(names[i], nil))
		starts[i] = t
		return err
	})
	if err != nil {
		return nil, err
	}
	// Progress: pods Ready so far, while waiting for all.
	stopProgress := make(chan struct{})
	var wg sync.WaitGroup
	if r.cfg.Progress != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := 0
				for _, name := range names {
					if _, rdy, _, _ := r.ev.times(name); !rdy.IsZero() {
						k++
					}
				}
				r.progress("burst: Ready", k, n)
				select {
				case <-stopProgress:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
	}
	err = r.ev.waitReady(ctx, r.cfg.Timeout, names...)
	close(stopProgress)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	var bound, running, ready []time.Duration
	var last time.Time
	for i, name := range names {
		run, rdy, _, _ := r.ev.times(name)
		running, ready = append(running, run.Sub(starts[i])), append(ready, rdy.Sub(starts[i]))
		bound = append(bound, r.ev.boundAt(name).Sub(starts[i]))
		if rdy.After(last) {
			last = rdy
		}
	}
	r.progress("burst: Ready", n, n)
	return &PodLatencies{Count: n, Scheduled: quantiles(bound), Running: quantiles(running), Ready: quantiles(ready), AllReady: last.Sub(first)}, nil
}

// memory reads the node's processes with the burst's pods running, after
// a moment for them to settle.
func (r *podsRun) memory(idle procMem) *PodsMemory {
	time.Sleep(2 * time.Second)
	g := scanRunProcs(r.env.dir, r.env.agent.pid(), r.env.server.pid())
	get := func(k procKind) ProcGroup {
		if p := g[k]; p != nil {
			return *p
		}
		return ProcGroup{}
	}
	m := &PodsMemory{Pods: r.cfg.Burst, Agent: get(kindAgent), Containerd: get(kindContainerd), Shims: get(kindShim),
		LogDrivers: get(kindLogDriver), Server: get(kindServer)}
	m.AgentIdle.add(idle)
	if c := max(m.Shims.Count, m.LogDrivers.Count); c > 0 {
		m.PerContainer = (m.Shims.PSS + m.LogDrivers.PSS) / int64(c)
	}
	return m
}

// errNoAnswer: the ClusterIP did not answer from the pod (yet).
var errNoAnswer = errors.New("no answer from the pod")

// service measures ServiceRounds endpoint changes of one ClusterIP
// Service: each round's pod is created while the Service has no other,
// and deleted once it answered.
func (r *podsRun) service(ctx context.Context) (*ServiceLatencies, error) {
	sel := map[string]string{podsSvcLabel: "1"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: podsService},
		Spec: corev1.ServiceSpec{
			Selector: sel,
			Ports:    []corev1.ServicePort{{Name: "http", Port: podsPort, TargetPort: intstr.FromInt32(80), Protocol: corev1.ProtocolTCP}},
		},
	}
	created, err := r.env.cs.CoreV1().Services(podsNamespace).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("bench: create service %s: %w", podsService, err)
	}
	addr := fmt.Sprintf("%s:%d", created.Spec.ClusterIP, podsPort)
	if err := r.env.node.RouteLocal(addr); err != nil {
		return nil, fmt.Errorf("bench: the ClusterIP is not routed inside the node namespace (refusing to send to it): %w", err)
	}
	p := &httpPoller{dial: r.env.dialer.DialContext, addr: addr, timeout: max(4*r.cfg.PollInterval, 200*time.Millisecond)}
	var fromReady, fromSlice, fromCreate []time.Duration
	for i := range r.cfg.ServiceRounds {
		r.progress("service rule updates", i, r.cfg.ServiceRounds)
		name := fmt.Sprintf("svc-%d", i)
		// No endpoint left from the round before (an address may be
		// given again): the ClusterIP must not answer.
		if err := r.pollUntil(ctx, "the ClusterIP "+addr+" to stop answering", func(context.Context) bool {
			_, err := p.get(ctx)
			return err != nil
		}); err != nil {
			return nil, err
		}
		t0, err := r.create(ctx, httpdPod(name, sel))
		if err != nil {
			return nil, err
		}
		var answered time.Time
		if err := r.pollUntil(ctx, "the ClusterIP "+addr+" to answer from pod "+name, func(ctx context.Context) bool {
			if r.ev.failedWhy(name) != "" {
				return true
			}
			at := time.Now()
			body, err := p.get(ctx)
			if err == nil && body == name {
				answered = at
				return true
			}
			return false
		}); err != nil {
			return nil, err
		}
		if why := r.ev.failedWhy(name); why != "" {
			return nil, fmt.Errorf("bench: pod %s will not become Ready: %s", name, why)
		}
		// The answer may come before this process saw the events.
		if err := r.ev.waitReady(ctx, r.cfg.Timeout, name); err != nil {
			return nil, err
		}
		_, rdy, _, ip := r.ev.times(name)
		if err := r.ev.wait(ctx, r.cfg.Timeout, "pod "+name+"'s address in the EndpointSlice", func() (bool, error) {
			_, ok := r.ev.sliceAt[ip]
			return ok, nil
		}); err != nil {
			return nil, err
		}
		fromReady = append(fromReady, answered.Sub(rdy))
		fromSlice = append(fromSlice, answered.Sub(r.ev.sliceTime(ip)))
		fromCreate = append(fromCreate, answered.Sub(t0))
		if _, err := r.deleteAndWait(ctx, name); err != nil {
			return nil, err
		}
	}
	r.progress("service rule updates", r.cfg.ServiceRounds, r.cfg.ServiceRounds)
	if err := r.env.cs.CoreV1().Services(podsNamespace).Delete(ctx, podsService, metav1.DeleteOptions{}); err != nil {
		return nil, fmt.Errorf("bench: delete service %s: %w", podsService, err)
	}
	return &ServiceLatencies{Rounds: r.cfg.ServiceRounds, FromReady: quantiles(fromReady),
		FromSlice: quantiles(fromSlice), FromCreate: quantiles(fromCreate)}, nil
}

// pollUntil calls done every PollInterval until it returns true, or
// Timeout (the error names what), or the server or agent exits.
func (r *podsRun) pollUntil(ctx context.Context, what string, done func(context.Context) bool) error {
	deadline := time.Now().Add(r.cfg.Timeout)
	for i := 0; ; i++ {
		if done(ctx) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if i%100 == 0 {
			if err := r.env.alive(); err != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: waiting for %s: not within %v", what, r.cfg.Timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.cfg.PollInterval):
		}
	}
}
