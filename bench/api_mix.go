package bench

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// livePods is the set of pod names the mix may get, update or delete.
type livePods struct {
	mu    sync.Mutex
	names []string // guarded by mu
}

func (l *livePods) add(name string) {
	l.mu.Lock()
	l.names = append(l.names, name)
	l.mu.Unlock()
}

// random returns a live name, or false when none is left.
func (l *livePods) random(rng *rand.Rand) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.names) == 0 {
		return "", false
	}
	return l.names[rng.IntN(len(l.names))], true
}

// take removes a random live name and returns it: two deletes never pick
// the same pod.
func (l *livePods) take(rng *rand.Rand) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.names)
	if n == 0 {
		return "", false
	}
	i := rng.IntN(n)
	name := l.names[i]
	l.names[i] = l.names[n-1]
	l.names = l.names[:n-1]
	return name, true
}

func (c APIMixConfig) run(ctx context.Context) (*Result, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	defer finish(c.Progress)
	r, err := startAPIRun(ctx, c.APICommon, c.Objects)
	if err != nil {
		return nil, err
	}
	live := &livePods{}
	for i := range c.Objects {
		live.add(preloadName(i))
	}
	var rv string
	if c.Watchers > 0 {
		if rv, err = currentRV(ctx, r); err != nil {
			r.cleanup()
			return nil, err
		}
	}
	rec, err := r.measure([]kind{{"create", true}, {"update", true}, {"get", true}, {"list", true}, {"delete", true}, {"watch", false}},
		"update_conflicts", "not_found", "watch_events")
	if err != nil {
		return nil, err
	}
	sent := make([]atomic.Int64, c.Total) // offset from rec.start + 1 of write i
	var pw *podWatchers
	if c.Watchers > 0 {
		pw = startPodWatchers(ctx, r.a, c.Namespace, rv, c.Watchers, rec, c.Progress,
			func(w *watcher, at time.Duration, typ watch.EventType, pod *corev1.Pod) {
				rec.count("watch_events", 1)
				if typ == watch.Deleted {
					return // carries the last write's number, not the delete's
				}
				if seq, ok := podSeq(pod, c.Total); ok {
					if t := sent[seq].Load(); t > 0 {
						w.s.observeAt(mixWatch, at, at-time.Duration(t-1), nil)
					}
				}
			})
		defer pw.stop() // on a panic; stop is idempotent
	}

	ws := r.workers(ctx)
	prefix := runPrefix("m", c.Seed)
	total := c.Mix.total()
	// outcome records an operation; a conflict or a vanished pod is an
	// answer of the server, counted but not a failure.
	outcome := func(w *apiWorker, k uint8, began time.Time, err error) {
		if conflict, notFound := ignorable(err); conflict && k == mixUpdate {
			rec.count("update_conflicts", 1)
			err = nil
		} else if notFound && k != mixCreate && k != mixList {
			rec.count("not_found", 1)
			err = nil
		}
		w.observe(k, began, err)
	}
	begin, end := loop(ctx, c.common(), rec, "requests", c.Total, func(j int, i int64) {
		w := ws[j]
		pods := w.cs.CoreV1().Pods(c.Namespace)
		k := uint8(c.Mix.pick(w.rng.IntN(total)))
		name, ok := "", true
		switch k {
		case mixUpdate, mixGet:
			name, ok = live.random(w.rng)
		case mixDelete:
			name, ok = live.take(w.rng)
		}
		if !ok {
			k, name = mixCreate, "" // nothing left to touch: create instead
		}
		began := time.Now()
		var err error
		switch k {
		case mixCreate:
			name = prefix + strconv.FormatInt(i, 10)
			sent[i].Store(int64(time.Since(rec.start)) + 1)
			began = time.Now()
			if _, err = pods.Create(w.ctx, benchPod(name, int(i), i), metav1.CreateOptions{}); err == nil {
				live.add(name)
			}
		case mixUpdate:
			var p *corev1.Pod
			if p, err = pods.Get(w.ctx, name, metav1.GetOptions{}); err == nil {
				if p.Annotations == nil {
					p.Annotations = map[string]string{}
				}
				p.Annotations[apiSeqAnno] = strconv.FormatInt(i, 10)
				p.Labels["tier"] = "v" + strconv.FormatInt(i%7, 10)
				sent[i].Store(int64(time.Since(rec.start)) + 1)
				_, err = pods.Update(w.ctx, p, metav1.UpdateOptions{})
			}
		case mixGet:
			_, err = pods.Get(w.ctx, name, metav1.GetOptions{})
		case mixList:
			sel := apiAppLabel + "=app-" + strconv.Itoa(w.rng.IntN(apiAppCount))
			_, err = pods.List(w.ctx, metav1.ListOptions{LabelSelector: sel, ResourceVersion: c.ResourceVersion})
		case mixDelete:
			zero := int64(0)
			err = pods.Delete(w.ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		}
		outcome(w, k, began, err)
	})
	if pw != nil {
		pw.stop() // before the cleanup's deletes reach the watchers
	}
	return r.result(ctx, "api-mix", "requests", begin, end, c), nil
}
