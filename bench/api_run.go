package bench

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
)

// apiRun is the frame every API workload runs in: connections, the
// namespace, the preloaded pods, the server process's readings and the
// cleanup at the end.
type apiRun struct {
	c     APICommon
	a     *apiClients
	rec   *recorder
	stats *APIStats
	proc  *procWatch
}

// startAPIRun dials, makes the namespace and preloads objects pods.
func startAPIRun(ctx context.Context, c APICommon, objects int) (*apiRun, error) {
	a, err := dialAPI(ctx, c, c.Conns)
	if err != nil {
		return nil, err
	}
	r := &apiRun{c: c, a: a, stats: &APIStats{Server: a.host, Namespace: c.Namespace, ContentType: c.ContentType, Objects: objects}}
	if err := ensureNamespace(ctx, a.client(0), c.Namespace); err != nil {
		return nil, err
	}
	if objects > 0 {
		if r.stats.Preload, err = preload(ctx, c, a, objects); err != nil {
			r.cleanup()
			return nil, err
		}
	}
	return r, nil
}

// measure starts the measured phase: a recorder of kinds and counters, and
// the server process's first reading.
func (r *apiRun) measure(kinds []kind, counters ...string) (*recorder, error) {
	p, err := startProcWatch(r.c.ServerPIDs)
	if err != nil {
		r.cleanup()
		return nil, err
	}
	r.proc = p
	r.rec = newRecorder(time.Now(), kinds, counters...)
	return r.rec, nil
}

// result ends the measured phase at end and cleans up.
func (r *apiRun) result(ctx context.Context, name, unit string, begin, end time.Duration, cfg any) *Result {
	res := r.rec.result(name, unit, begin, end)
	r.stats.Process = r.proc.stop(res.Ops)
	r.stats.ClientCPU, r.stats.ClientCPUPerOp = r.proc.client(res.Ops)
	res.Endpoints = []string{r.a.host}
	res.Interrupted = ctx.Err() != nil
	r.cleanup()
	res.API = r.stats
	return withConfig(res, cfg)
}

func (r *apiRun) cleanup() {
	if err := cleanup(r.c, r.a.client(0)); err != nil {
		r.stats.CleanupError = err.Error()
	}
}

// apiWorker is one client goroutine's state.
type apiWorker struct {
	ctx context.Context
	cs  *kubernetes.Clientset
	rng *rand.Rand
	s   *series
}

func (r *apiRun) workers(ctx context.Context) []*apiWorker {
	ws := make([]*apiWorker, r.c.Clients)
	for j := range ws {
		ws[j] = &apiWorker{ctx: ctx, cs: r.a.client(j), rng: rand.New(rand.NewPCG(r.c.Seed, uint64(j)+1)), s: r.rec.newSeries()}
	}
	return ws
}

// observe records an operation, ignoring the failure of one cut short by
// the end of the run.
func (w *apiWorker) observe(k uint8, began time.Time, err error) {
	if err != nil && w.ctx.Err() != nil {
		return
	}
	w.s.observe(k, began, err)
}

// runPrefix names the pods one run creates, distinct across runs.
func runPrefix(kind string, seed uint64) string {
	return kind + "-" + strconv.FormatUint(seed%(36*36*36*36), 36) + "-"
}

func (c APICreateConfig) run(ctx context.Context) (*Result, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	defer finish(c.Progress)
	r, err := startAPIRun(ctx, c.APICommon, 0)
	if err != nil {
		return nil, err
	}
	rec, err := r.measure([]kind{{"create", true}})
	if err != nil {
		return nil, err
	}
	ws := r.workers(ctx)
	prefix := runPrefix("c", c.Seed)
	begin, end := loop(ctx, c.common(), rec, "creating", c.Total, func(j int, i int64) {
		w := ws[j]
		pod := benchPod(prefix+strconv.FormatInt(i, 10), int(i), i)
		began := time.Now()
		_, err := w.cs.CoreV1().Pods(c.Namespace).Create(w.ctx, pod, metav1.CreateOptions{})
		w.observe(0, began, err)
	})
	return r.result(ctx, "api-create", "requests", begin, end, c), nil
}

func (c APIGetConfig) run(ctx context.Context) (*Result, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	defer finish(c.Progress)
	r, err := startAPIRun(ctx, c.APICommon, c.Objects)
	if err != nil {
		return nil, err
	}
	rec, err := r.measure([]kind{{"get", true}})
	if err != nil {
		return nil, err
	}
	ws := r.workers(ctx)
	begin, end := loop(ctx, c.common(), rec, "getting", c.Total, func(j int, _ int64) {
		w := ws[j]
		name := preloadName(w.rng.IntN(c.Objects))
		began := time.Now()
		_, err := w.cs.CoreV1().Pods(c.Namespace).Get(w.ctx, name, metav1.GetOptions{})
		w.observe(0, began, err)
	})
	return r.result(ctx, "api-get", "requests", begin, end, c), nil
}

func (c APIListConfig) run(ctx context.Context) (*Result, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	defer finish(c.Progress)
	r, err := startAPIRun(ctx, c.APICommon, c.Objects)
	if err != nil {
		return nil, err
	}
	rec, err := r.measure([]kind{{"list", true}})
	if err != nil {
		return nil, err
	}
	ws := r.workers(ctx)
	var items atomic.Int64
	begin, end := loop(ctx, c.common(), rec, "listing", c.Total, func(j int, _ int64) {
		w := ws[j]
		opts := metav1.ListOptions{ResourceVersion: c.ResourceVersion}
		began := time.Now()
		if c.Raw {
			_, err := w.cs.CoreV1().RESTClient().Get().Namespace(c.Namespace).Resource("pods").
				VersionedParams(&opts, scheme.ParameterCodec).DoRaw(w.ctx)
			w.observe(0, began, err)
			return
		}
		l, err := w.cs.CoreV1().Pods(c.Namespace).List(w.ctx, opts)
		w.observe(0, began, err)
		if err == nil {
			items.Store(int64(len(l.Items)))
		}
	})
	r.stats.ListItems = int(items.Load())
	return r.result(ctx, "api-list", "requests", begin, end, c), nil
}
