package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
)

// crdResource is watched like any resource; its changes also ask for a
// fresh discovery (a CRD adds or removes a resource).
var crdResource = schema.GroupResource{Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"}

// monitor is the metadata-only informer of one resource, feeding the
// graph.
type monitor struct {
	res      apiResource
	informer cache.SharedIndexInformer
	stop     chan struct{}
	// retired: stopped, its objects forgotten (guarded by the graph's
	// lock).
	retired bool
}

// startMonitor starts watching res. Its objects' metadata go into the
// graph (and, slimmed, into the informer's store).
func (gc *GarbageCollector) startMonitor(res apiResource) *monitor {
	inf := metadatainformer.NewFilteredMetadataInformer(gc.meta, res.GVR, metav1.NamespaceAll, 0, cache.Indexers{}, nil).Informer()
	_ = inf.SetTransform(func(obj any) (any, error) {
		if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
			return slim(m), nil
		}
		return obj, nil
	})
	m := &monitor{res: res, informer: inf, stop: make(chan struct{})}
	upsert := func(o *metav1.PartialObjectMetadata) {
		obj := objectFrom(o, res.GVR, res.Kind)
		gc.apply(gc.graph.observe(m, func(g *Graph) Effects { return g.Upsert(obj) }))
	}
	remove := func(o *metav1.PartialObjectMetadata) {
		id := objectFrom(o, res.GVR, res.Kind).Identity
		gc.apply(gc.graph.observe(m, func(g *Graph) Effects { return g.Remove(id) }))
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o, ok := obj.(*metav1.PartialObjectMetadata); ok {
				upsert(o)
			}
			gc.crdChanged(res)
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*metav1.PartialObjectMetadata)
			cur, ok2 := newObj.(*metav1.PartialObjectMetadata)
			if !ok1 || !ok2 {
				return
			}
			if old.UID != cur.UID {
				// Deleted and created again under the same name while the
				// watch was down: two objects.
				remove(old)
			}
			upsert(cur)
			gc.crdChanged(res)
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if o, ok := obj.(*metav1.PartialObjectMetadata); ok {
				remove(o)
			}
			gc.crdChanged(res)
		},
	})
	go inf.Run(m.stop)
	return m
}

func (gc *GarbageCollector) crdChanged(res apiResource) {
	if res.GVR.GroupResource() == crdResource {
		gc.kickDiscovery()
	}
}

// kickDiscovery asks the resync loop for a discovery soon.
func (gc *GarbageCollector) kickDiscovery() {
	select {
	case gc.kick <- struct{}{}:
	default:
	}
}

// discover reads what the API serves. A discovery that failed for some
// group versions keeps what the last one knew of those.
func (gc *GarbageCollector) discover() (resourceMap, map[schema.GroupVersion]bool, error) {
	groups, lists, err := discovery.ServerGroupsAndResources(gc.disc)
	var failed map[schema.GroupVersion]bool
	if err != nil {
		var partial *discovery.ErrGroupDiscoveryFailed
		if !errors.As(err, &partial) || len(lists) == 0 {
			return resourceMap{}, nil, fmt.Errorf("garbagecollector: discovery: %w", err)
		}
		failed = map[schema.GroupVersion]bool{}
		for gv := range partial.Groups {
			failed[gv] = true
		}
		gc.log.Warn("garbage collector: discovery failed for some group versions; keeping what was known of them", "err", err)
	}
	rm := buildResourceMap(groups, lists, gc.cfg.Ignored)
	if len(failed) > 0 {
		old := gc.resources()
		for gvk, ar := range old.byGVK {
			if failed[gvk.GroupVersion()] {
				rm.byGVK[gvk] = ar
				if _, ok := rm.preferred[gvk.GroupKind()]; !ok {
					rm.preferred[gvk.GroupKind()] = ar
				}
			}
		}
		for gvr, ar := range old.monitored {
			if failed[gvr.GroupVersion()] {
				rm.monitored[gvr] = ar
			}
		}
	}
	return rm, failed, nil
}

// syncMonitors starts monitors for resources newly served and stops those
// of resources gone (their objects leave the graph, their dependents are
// checked). It returns the monitors started.
func (gc *GarbageCollector) syncMonitors(rm resourceMap) []*monitor {
	gc.mu.Lock()
	gc.resMap = rm
	var started []*monitor
	var stopped []*monitor
	for _, ar := range rm.monitoredSorted() {
		if _, ok := gc.monitors[ar.GVR]; ok {
			continue
		}
		m := gc.startMonitor(ar)
		gc.monitors[ar.GVR] = m
		started = append(started, m)
	}
	for gvr, m := range maps.Clone(gc.monitors) {
		if _, ok := rm.monitored[gvr]; !ok {
			delete(gc.monitors, gvr)
			stopped = append(stopped, m)
		}
	}
	gc.mu.Unlock()
	for _, m := range started {
		gc.log.Debug("garbage collector: monitoring", "resource", m.res.GVR.String())
	}
	for _, m := range stopped {
		close(m.stop)
		gc.log.Debug("garbage collector: no longer served; forgetting its objects", "resource", m.res.GVR.String())
		gc.apply(gc.graph.retire(m))
	}
	return started
}

func (gc *GarbageCollector) stopMonitors() {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	for gvr, m := range gc.monitors {
		close(m.stop)
		delete(gc.monitors, gvr)
	}
}

// waitSynced waits until every monitor in ms has listed its resource, or
// timeout passes (0: until ctx ends). It reports whether they all synced.
func waitSynced(ctx context.Context, ms []*monitor, timeout time.Duration) bool {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	synced := make([]cache.InformerSynced, len(ms))
	for i, m := range ms {
		synced[i] = m.informer.HasSynced
	}
	return cache.WaitForCacheSync(ctx.Done(), synced...)
}
