package nodelifecycle

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// nodeNameIndex indexes the shared pod informer by spec.nodeName.
const nodeNameIndex = "nodelifecycle/spec.nodeName"

// addNodeNameIndex adds the index to the pod informer unless a sibling
// controller already did (both controllers of this package use it).
func addNodeNameIndex(inf cache.SharedIndexInformer) {
	if _, ok := inf.GetIndexer().GetIndexers()[nodeNameIndex]; ok {
		return
	}
	// Fails only once the informer has started, which the constructors
	// precede.
	_ = inf.AddIndexers(cache.Indexers{nodeNameIndex: func(obj any) ([]string, error) {
		if pod, ok := obj.(*corev1.Pod); ok && pod.Spec.NodeName != "" {
			return []string{pod.Spec.NodeName}, nil
		}
		return nil, nil
	}})
}

// podsOn lists the cached pods bound to node.
func podsOn(indexer cache.Indexer, node string) []*corev1.Pod {
	objs, err := indexer.ByIndex(nodeNameIndex, node)
	if err != nil {
		return nil
	}
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if pod, ok := o.(*corev1.Pod); ok {
			out = append(out, pod)
		}
	}
	return out
}
