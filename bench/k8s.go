package bench

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// K8sMixConfig: a Kubernetes apiserver's load on its store. Objects of
// MinObjectSize..MaxObjectSize bytes (JSON) live under
// /registry/<resource>/<namespace>/<name>. Objects are first preloaded
// (not measured); then Total requests are made, each drawn by Mix:
//
//	create  Txn(If CreateRevision(key) == 0, Then Put)         a new object
//	update  Txn(If ModRevision(key) == known, Then Put, Else Get)  optimistic
//	        concurrency as the apiserver does it; a lost race is counted in
//	        Counters["update_conflicts"] and learns the current revision
//	get     Get(key)                                            one object
//	list    Get(/registry/<resource>/<namespace>/, prefix, limit ListLimit)
//
// Meanwhile Watchers watch /registry/<resource>/ prefixes (as the
// apiserver's watch cache does, round-robin over Resources) and measure
// each create's and update's delivery latency (kind "watch"). The headline
// numbers cover the requests.
type K8sMixConfig struct {
	Common
	// Total requests in the measured phase [--total]. Default 10000.
	Total int64 `json:"total"`
	// Resources: the resource names [--resources].
	// Default pods, configmaps, secrets, services.
	Resources []string `json:"resources"`
	// Namespaces per resource [--namespaces]. Default 10.
	Namespaces int `json:"namespaces"`
	// Objects preloaded before measuring, spread over resources and
	// namespaces [--objects]. Default 1000.
	Objects int `json:"objects"`
	// MinObjectSize, MaxObjectSize: bytes per object, uniformly drawn
	// [--min-object-size, --max-object-size]. Default 1024 and 5120.
	MinObjectSize int `json:"min_object_size"`
	MaxObjectSize int `json:"max_object_size"`
	// Mix: relative weights of the request kinds [--mix].
	// Default create=10,update=30,get=40,list=20.
	Mix K8sMix `json:"mix"`
	// ListLimit: most objects a list returns [--list-limit]. Default 500.
	ListLimit int64 `json:"list_limit"`
	// Watchers on resource prefixes [--watchers]. Default one per
	// resource; -1 for none.
	Watchers int `json:"watchers"`
	// Consistency of gets and lists [--consistency]. Default Linearizable.
	Consistency Consistency `json:"consistency"`
}

// K8sMix weighs the request kinds of K8sMixConfig.
type K8sMix struct {
	Create int `json:"create"`
	Update int `json:"update"`
	Get    int `json:"get"`
	List   int `json:"list"`
}

// ParseK8sMix parses "create=10,update=30,get=40,list=20"; kinds left out
// weigh 0.
func ParseK8sMix(s string) (K8sMix, error) {
	w, err := parseWeights(s, "create=10,update=30,get=40,list=20", "create", "update", "get", "list")
	return K8sMix{Create: w["create"], Update: w["update"], Get: w["get"], List: w["list"]}, err
}

// parseWeights parses "kind=weight,..." pairs of the given kinds (example
// is shown in errors); kinds left out weigh 0.
func parseWeights(s, example string, kinds ...string) (map[string]int, error) {
	w := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("%w: mix %q: want kind=weight pairs like %s", ErrBadConfig, s, example)
		}
		name = strings.TrimSpace(name)
		if !slices.Contains(kinds, name) {
			return nil, fmt.Errorf("%w: mix %q: unknown kind %q (want %s)", ErrBadConfig, s, name, strings.Join(kinds, ", "))
		}
		w[name] = n
	}
	return w, nil
}

func (m K8sMix) String() string {
	return fmt.Sprintf("create=%d,update=%d,get=%d,list=%d", m.Create, m.Update, m.Get, m.List)
}

func (c K8sMixConfig) withDefaults() K8sMixConfig {
	c.Common = c.Common.withDefaults(1)
	if c.Total == 0 {
		c.Total = 10000
	}
	if len(c.Resources) == 0 {
		c.Resources = []string{"pods", "configmaps", "secrets", "services"}
	}
	if c.Namespaces == 0 {
		c.Namespaces = 10
	}
	if c.Objects == 0 {
		c.Objects = 1000
	}
	if c.MinObjectSize == 0 {
		c.MinObjectSize = 1024
	}
	if c.MaxObjectSize == 0 {
		c.MaxObjectSize = max(5120, c.MinObjectSize)
	}
	if c.Mix == (K8sMix{}) {
		c.Mix = K8sMix{Create: 10, Update: 30, Get: 40, List: 20}
	}
	if c.ListLimit == 0 {
		c.ListLimit = 500
	}
	if c.Watchers == 0 {
		c.Watchers = len(c.Resources)
	}
	if c.Consistency == "" {
		c.Consistency = Linearizable
	}
	return c
}

func (c K8sMixConfig) validate() error {
	var errs []error
	for _, r := range c.Resources {
		if r == "" || strings.Contains(r, "/") {
			errs = append(errs, fmt.Errorf("%w: resource %q: want a name without '/'", ErrBadConfig, r))
		}
	}
	if c.MaxObjectSize < c.MinObjectSize || c.MinObjectSize < 256 {
		errs = append(errs, fmt.Errorf("%w: object sizes %d..%d: want 256 <= min <= max", ErrBadConfig, c.MinObjectSize, c.MaxObjectSize))
	}
	if c.Mix.Create < 0 || c.Mix.Update < 0 || c.Mix.Get < 0 || c.Mix.List < 0 {
		errs = append(errs, fmt.Errorf("%w: mix %v: weights must not be negative", ErrBadConfig, c.Mix))
	}
	if c.Watchers < -1 {
		errs = append(errs, fmt.Errorf("%w: watchers %d: want a count, or -1 for none", ErrBadConfig, c.Watchers))
	}
	return firstErr(append([]error{c.Common.validate(), positive("total", c.Total), positive("namespaces", int64(c.Namespaces)),
		positive("objects", int64(c.Objects)), positive("list limit", c.ListLimit), c.Consistency.validate()}, errs...)...)
}

// k8sObject is one object the run created: its key and the last revision
// the run saw of it.
type k8sObject struct {
	key      string
	resource int
	ns       int
	rev      atomic.Int64
}

// learn raises o's known revision to rev.
func (o *k8sObject) learn(rev int64) {
	for {
		cur := o.rev.Load()
		if rev <= cur || o.rev.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// k8sState is the objects created so far. Objects are only appended.
type k8sState struct {
	cfg     K8sMixConfig
	start   time.Time // offsets in the sent annotation are from here
	names   atomic.Int64
	lastRev []atomic.Int64 // per resource: highest revision written

	mu   sync.RWMutex
	objs []*k8sObject // guarded by mu
}

func (st *k8sState) add(o *k8sObject) {
	st.mu.Lock()
	st.objs = append(st.objs, o)
	st.mu.Unlock()
}

func (st *k8sState) random(w *worker) *k8sObject {
	st.mu.RLock()
	defer st.mu.RUnlock()
	if len(st.objs) == 0 {
		return nil
	}
	return st.objs[w.rng.IntN(len(st.objs))]
}

// wrote records that a write to resource r made revision rev.
func (st *k8sState) wrote(r int, rev int64) {
	for {
		cur := st.lastRev[r].Load()
		if rev <= cur || st.lastRev[r].CompareAndSwap(cur, rev) {
			return
		}
	}
}

const sentAnnotation = `"bench.kelson.dev/sent":"`

// object renders an object of a random size between the configured bounds,
// stamped with the offset from st.start at which it is sent.
func (st *k8sState) object(w *worker, o *k8sObject) string {
	size := st.cfg.MinObjectSize + w.rng.IntN(st.cfg.MaxObjectSize-st.cfg.MinObjectSize+1)
	var b strings.Builder
	b.Grow(size + 64)
	name := o.key[strings.LastIndexByte(o.key, '/')+1:]
	fmt.Fprintf(&b, `{"apiVersion":"v1","kind":%q,"metadata":{"name":%q,"namespace":"ns-%d","annotations":{%s%d"}},"data":{"payload":"`,
		st.cfg.Resources[o.resource], name, o.ns, sentAnnotation, int64(time.Since(st.start)))
	if pad := size - b.Len() - 3; pad > 0 {
		b.Write(w.val[:min(pad, len(w.val))])
	}
	b.WriteString(`"}}`)
	return b.String()
}

// sentOffset reads the sent annotation of an object; ok false if absent.
func sentOffset(v []byte) (time.Duration, bool) {
	i := bytes.Index(v, []byte(sentAnnotation))
	if i < 0 {
		return 0, false
	}
	v = v[i+len(sentAnnotation):]
	j := bytes.IndexByte(v, '"')
	if j <= 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v[:j]), 10, 64)
	return time.Duration(n), err == nil
}

func (st *k8sState) newObject() *k8sObject {
	n := st.names.Add(1) - 1
	r := int(n) % len(st.cfg.Resources)
	ns := int(n/int64(len(st.cfg.Resources))) % st.cfg.Namespaces
	return &k8sObject{
		key:      fmt.Sprintf("/registry/%s/ns-%d/obj-%d", st.cfg.Resources[r], ns, n),
		resource: r,
		ns:       ns,
	}
}

func (st *k8sState) prefix(resource, ns int) string {
	return fmt.Sprintf("/registry/%s/ns-%d/", st.cfg.Resources[resource], ns)
}

// create makes a new object, recorded as kind k.
func (st *k8sState) create(w *worker, k uint8) {
	o := st.newObject()
	val := st.object(w, o)
	began := time.Now()
	resp, err := w.cli.Txn(w.ctx).
		If(clientv3.Compare(clientv3.CreateRevision(o.key), "=", 0)).
		Then(clientv3.OpPut(o.key, val)).Commit()
	w.observe(k, began, err)
	if err != nil {
		return
	}
	if !resp.Succeeded {
		w.s.rec.count("create_conflicts", 1)
		return
	}
	o.rev.Store(resp.Header.Revision)
	st.wrote(o.resource, resp.Header.Revision)
	st.add(o)
}

const (
	kCreate = iota
	kUpdate
	kGet
	kList
	kWatch
)

func (c K8sMixConfig) run(ctx context.Context) (*Result, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	defer finish(c.Progress)
	cs, err := dial(ctx, c.Common)
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	kinds := []kind{{"create", true}, {"update", true}, {"get", true}, {"list", true}, {"watch", false}}
	counters := []string{"create_conflicts", "update_conflicts", "watch_events", "watch_reorders", "preload_errors"}
	rec := newRecorder(time.Now(), kinds, counters...)
	st := &k8sState{cfg: c, start: rec.start, lastRev: make([]atomic.Int64, len(c.Resources))}

	// Preload, not measured.
	pre := newRecorder(rec.start, kinds[:1], counters...)
	drive(ctx, c.Common, cs, pre, "preloading objects", int64(c.Objects), 0, c.MaxObjectSize, func(w *worker, _ int64) {
		st.create(w, kCreate)
	})
	for _, s := range pre.series {
		for _, sm := range s.samples {
			if sm.failed {
				rec.count("preload_errors", 1)
			}
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// Watchers, from the revision after the preload.
	gr, err := cs.client(0).Get(ctx, "/registry/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return nil, fmt.Errorf("bench: read /registry/ after the preload: %w", err)
	}
	wctx, cancelWatches := context.WithCancel(ctx)
	defer cancelWatches()
	var receivers sync.WaitGroup
	nw := max(c.Watchers, 0)
	lastSeen := make([]atomic.Int64, nw)
	ended := make([]atomic.Bool, nw)
	for i := 0; i < nw; i++ {
		prefix := "/registry/" + c.Resources[i%len(c.Resources)] + "/"
		wch := cs.client(i).Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(gr.Header.Revision+1))
		s := rec.newSeries()
		receivers.Add(1)
		go func() {
			defer receivers.Done()
			defer ended[i].Store(true)
			for resp := range wch {
				if err := resp.Err(); err != nil {
					if wctx.Err() == nil {
						s.fail(fmt.Errorf("watch ended by the member: %w", err))
					}
					continue
				}
				at := time.Since(rec.start)
				for _, ev := range resp.Events {
					if ev.Kv.ModRevision <= lastSeen[i].Load() {
						rec.count("watch_reorders", 1)
					}
					lastSeen[i].Store(ev.Kv.ModRevision)
					if sent, ok := sentOffset(ev.Kv.Value); ok {
						s.observeAt(kWatch, at, at-sent, nil)
					}
				}
				rec.count("watch_events", int64(len(resp.Events)))
			}
		}()
	}

	total := c.Mix.Create + c.Mix.Update + c.Mix.Get + c.Mix.List
	var getOpts, listOpts []clientv3.OpOption
	if c.Consistency.serializable() {
		getOpts = append(getOpts, clientv3.WithSerializable())
	}
	listOpts = append(listOpts, readOpts("", c.ListLimit, false, c.Consistency)...)
	listOpts = append(listOpts, clientv3.WithPrefix())
	begin, end := drive(ctx, c.Common, cs, rec, "k8s-mix", c.Total, 0, c.MaxObjectSize, func(w *worker, _ int64) {
		n := w.rng.IntN(total)
		o := st.random(w)
		switch {
		case n < c.Mix.Create || o == nil:
			st.create(w, kCreate)
		case n < c.Mix.Create+c.Mix.Update:
			rev := o.rev.Load()
			val := st.object(w, o)
			began := time.Now()
			resp, err := w.cli.Txn(w.ctx).
				If(clientv3.Compare(clientv3.ModRevision(o.key), "=", rev)).
				Then(clientv3.OpPut(o.key, val)).
				Else(clientv3.OpGet(o.key)).Commit()
			w.observe(kUpdate, began, err)
			if err != nil {
				return
			}
			if resp.Succeeded {
				o.learn(resp.Header.Revision)
				st.wrote(o.resource, resp.Header.Revision)
				return
			}
			rec.count("update_conflicts", 1)
			if len(resp.Responses) > 0 {
				if rr := resp.Responses[0].GetResponseRange(); rr != nil && len(rr.Kvs) > 0 {
					o.learn(rr.Kvs[0].ModRevision)
				}
			}
		case n < c.Mix.Create+c.Mix.Update+c.Mix.Get:
			began := time.Now()
			_, err := w.cli.Get(w.ctx, o.key, getOpts...)
			w.observe(kGet, began, err)
		default:
			began := time.Now()
			_, err := w.cli.Get(w.ctx, st.prefix(o.resource, w.rng.IntN(c.Namespaces)), listOpts...)
			w.observe(kList, began, err)
		}
	})

	// Let the watchers catch up with the last write to their resource
	// (bounded), then stop them.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < nw && ctx.Err() == nil && time.Now().Before(deadline); {
		if ended[i].Load() || lastSeen[i].Load() >= st.lastRev[i%len(c.Resources)].Load() {
			i++
			continue
		}
		time.Sleep(2 * time.Millisecond)
	}
	cancelWatches()
	receivers.Wait()

	res := rec.result("k8s-mix", "requests", begin, end)
	res.Endpoints = cs.endpoints
	res.Interrupted = ctx.Err() != nil
	return withConfig(res, c), nil
}
