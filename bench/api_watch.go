package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// podWatchers are watches of one namespace's pods, started from one
// resourceVersion over a set of connections.
type podWatchers struct {
	ws        []watcher
	cancel    context.CancelFunc
	receivers sync.WaitGroup
	received  atomic.Int64
	cancelled atomic.Int64 // watches the server ended before we did
	setup     time.Duration
}

// startPodWatchers starts n watches of ns's pods from rv, watcher w on
// connection w % len(a.sets), each with a series of rec. Each pod event is
// passed to handle in its watcher's goroutine with its receipt offset.
func startPodWatchers(ctx context.Context, a *apiClients, ns, rv string, n int, rec *recorder, progress Progress,
	handle func(w *watcher, at time.Duration, typ watch.EventType, pod *corev1.Pod)) *podWatchers {
	wctx, cancel := context.WithCancel(ctx)
	pw := &podWatchers{ws: make([]watcher, n), cancel: cancel}
	var created atomic.Int64
	stopTrack := track(progress, "starting watchers", int64(n), &created)
	defer stopTrack()
	start := time.Now()
	var creators sync.WaitGroup
	conns := min(len(a.sets), n)
	for c := 0; c < conns; c++ {
		creators.Add(1)
		go func() {
			defer creators.Done()
			pods := a.sets[c].CoreV1().Pods(ns)
			for i := c; i < n; i += conns {
				w := &pw.ws[i]
				w.s = rec.newSeries()
				wi, err := pods.Watch(wctx, metav1.ListOptions{ResourceVersion: rv})
				created.Add(1)
				if err != nil {
					if wctx.Err() == nil {
						w.s.fail(fmt.Errorf("start watch: %w", err))
						pw.cancelled.Add(1)
					}
					w.ended.Store(true)
					continue
				}
				pw.receivers.Add(1)
				go pw.receive(wctx, w, wi, handle)
			}
		}()
	}
	creators.Wait()
	pw.setup = time.Since(start)
	return pw
}

func (pw *podWatchers) receive(ctx context.Context, w *watcher, wi watch.Interface,
	handle func(w *watcher, at time.Duration, typ watch.EventType, pod *corev1.Pod)) {
	defer pw.receivers.Done()
	defer w.ended.Store(true)
	defer wi.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-wi.ResultChan():
			if !ok {
				if ctx.Err() == nil {
					w.s.fail(fmt.Errorf("watch ended by the server"))
					pw.cancelled.Add(1)
				}
				return
			}
			at := time.Since(w.s.rec.start)
			switch ev.Type {
			case watch.Error:
				if ctx.Err() == nil {
					w.s.fail(fmt.Errorf("watch error: %w", apierrors.FromObject(ev.Object)))
				}
				continue
			case watch.Bookmark:
				continue
			}
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			handle(w, at, ev.Type, pod)
			w.count.Add(1)
			pw.received.Add(1)
		}
	}
}

// stop ends every watch and waits for the receivers.
func (pw *podWatchers) stop() {
	pw.cancel()
	pw.receivers.Wait()
}

// podSeq reads the write sequence number a pod carries; ok is false for a
// preloaded pod or a foreign one.
func podSeq(pod *corev1.Pod, limit int64) (int64, bool) {
	s, err := strconv.ParseInt(pod.Annotations[apiSeqAnno], 10, 64)
	if err != nil || s < 0 || s >= limit {
		return 0, false
	}
	return s, true
}

// currentRV returns the namespace's pods' list resourceVersion: watches
// from it see every later write.
func currentRV(ctx context.Context, r *apiRun) (string, error) {
	l, err := r.a.client(0).CoreV1().Pods(r.c.Namespace).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return "", fmt.Errorf("bench: list pods of %s before watching: %w", r.c.Namespace, err)
	}
	return l.ResourceVersion, nil
}

func (c APIWatchConfig) run(ctx context.Context) (*Result, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	defer finish(c.Progress)
	r, err := startAPIRun(ctx, c.APICommon, 0)
	if err != nil {
		return nil, err
	}
	wa, err := dialAPI(ctx, c.APICommon, c.WatchConns)
	if err != nil {
		r.cleanup()
		return nil, err
	}
	rv, err := currentRV(ctx, r)
	if err != nil {
		r.cleanup()
		return nil, err
	}
	const (
		kEvent = iota
		kWrite
	)
	rec, err := r.measure([]kind{{"event", true}, {"write", false}})
	if err != nil {
		return nil, err
	}
	sent := make([]atomic.Int64, c.Writes) // offset from rec.start + 1; 0: not sent
	writeRevs := make([]int64, c.Writes)   // resourceVersion of each successful write
	pw := startPodWatchers(ctx, wa, c.Namespace, rv, c.Watchers, rec, c.Progress,
		func(w *watcher, at time.Duration, _ watch.EventType, pod *corev1.Pod) {
			rev, _ := strconv.ParseInt(pod.ResourceVersion, 10, 64)
			w.revs = append(w.revs, rev)
			if seq, ok := podSeq(pod, c.Writes); ok {
				if t := sent[seq].Load(); t > 0 {
					w.s.observeAt(kEvent, at, at-time.Duration(t-1), nil)
				}
			}
		})
	defer pw.stop()

	// Write: creates, then updates of what they made.
	ws := r.workers(ctx)
	creates := (c.Writes + 1) / 2
	made := make([]*corev1.Pod, creates)
	prefix := runPrefix("w", c.Seed)
	write := func(w *apiWorker, seq int64, do func() (*corev1.Pod, error)) {
		sent[seq].Store(int64(time.Since(rec.start)) + 1)
		began := time.Now()
		pod, err := do()
		w.observe(kWrite, began, err)
		if err == nil {
			writeRevs[seq], _ = strconv.ParseInt(pod.ResourceVersion, 10, 64)
		}
	}
	common := c.common()
	begin, _ := loop(ctx, common, rec, "creating", creates, func(j int, i int64) {
		w := ws[j]
		write(w, i, func() (*corev1.Pod, error) {
			p, err := w.cs.CoreV1().Pods(c.Namespace).Create(w.ctx, benchPod(prefix+strconv.FormatInt(i, 10), int(i), i), metav1.CreateOptions{})
			if err == nil {
				made[i] = p
			}
			return p, err
		})
	})
	loop(ctx, common, rec, "updating", c.Writes-creates, func(j int, i int64) {
		w := ws[j]
		if made[i] == nil {
			return // its create failed, counted there
		}
		seq := creates + i
		write(w, seq, func() (*corev1.Pod, error) {
			p := made[i].DeepCopy()
			p.Annotations[apiSeqAnno] = strconv.FormatInt(seq, 10)
			p.Annotations[apiRunAnno] = "updated"
			p.Labels["tier"] = "frontend"
			return w.cs.CoreV1().Pods(c.Namespace).Update(w.ctx, p, metav1.UpdateOptions{})
		})
	})

	// Drain: wait for every watcher to have every event.
	var expected []int64
	for _, rev := range writeRevs {
		if rev != 0 {
			expected = append(expected, rev)
		}
	}
	st := &WatchStats{Watchers: c.Watchers, Streams: c.WatchConns, Puts: c.Writes, Setup: pw.setup,
		Expected: int64(len(expected)) * int64(c.Watchers), Violations: map[string]int64{}}
	stopTrack := track(c.Progress, "receiving events", st.Expected, &pw.received)
	st.DrainTimedOut = drain(ctx, pw.ws, int64(len(expected)), c.DrainTimeout)
	stopTrack()
	pw.stop()

	end := begin
	for i := range pw.ws {
		if n := len(pw.ws[i].s.samples); n > 0 {
			end = max(end, time.Duration(pw.ws[i].s.samples[n-1].at))
		}
	}
	res := r.result(ctx, "api-watch", "events", begin, end, c)
	st.Received = pw.received.Load()
	st.Cancelled = pw.cancelled.Load()
	if !res.Interrupted {
		slices.Sort(expected)
		for i := range pw.ws {
			for _, v := range CheckOrder(i, expected, pw.ws[i].revs) {
				st.Violations[v.Kind.String()]++
				if len(st.ViolationSamples) < 20 {
					st.ViolationSamples = append(st.ViolationSamples, v)
				}
			}
		}
	}
	res.Watch = st
	return res, nil
}
