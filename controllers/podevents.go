package controllers

import (
	"reflect"

	"github.com/kelson-dev/kelson/controllers/expectations"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// OwnedPodEvents routes a pod informer's events to the controller whose
// objects own pods (DaemonSets, StatefulSets): a pod's controlling owner
// of that kind is queued, and its expectations learn of the pod's creation
// or deletion; an orphan pod (or one whose labels changed) queues the
// owners that may adopt it. A terminating pod counts as deleted.
type OwnedPodEvents struct {
	// Queue receives owner keys ("namespace/name").
	Queue Queue
	// OwnerKey is the key of the live owner a controller reference names
	// in a namespace (of the controller's kind, with the reference's UID);
	// "" if there is none.
	OwnerKey func(namespace string, ref *metav1.OwnerReference) string
	// Expectations are told of observed creations and deletions per owner
	// key.
	Expectations *expectations.Expectations
	// EnqueueAdopters queues the owners whose selector matches an orphan
	// pod.
	EnqueueAdopters func(pod *corev1.Pod)
}

// Handler is the informer handler.
func (e OwnedPodEvents) Handler() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{AddFunc: e.add, UpdateFunc: e.update, DeleteFunc: e.delete}
}

func (e OwnedPodEvents) add(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		e.delete(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if k := e.OwnerKey(pod.Namespace, ref); k != "" {
			e.Expectations.CreationsObserved(k, 1)
			e.Queue.Add(k)
		}
		return
	}
	e.EnqueueAdopters(pod)
}

func (e OwnedPodEvents) update(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return // a resync: nothing changed
	}
	curRef, oldRef := metav1.GetControllerOf(cur), metav1.GetControllerOf(old)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if k := e.OwnerKey(old.Namespace, oldRef); k != "" {
			e.Queue.Add(k)
		}
	}
	if curRef != nil {
		if k := e.OwnerKey(cur.Namespace, curRef); k != "" {
			if cur.DeletionTimestamp != nil {
				e.Expectations.DeletionObserved(k, cur.UID)
			}
			e.Queue.Add(k)
		}
		return
	}
	if refChanged || !reflect.DeepEqual(cur.Labels, old.Labels) {
		e.EnqueueAdopters(cur)
	}
}

func (e OwnedPodEvents) delete(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		tomb, isTomb := obj.(cache.DeletedFinalStateUnknown)
		if !isTomb {
			return
		}
		if pod, ok = tomb.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	if k := e.OwnerKey(pod.Namespace, metav1.GetControllerOf(pod)); k != "" {
		e.Expectations.DeletionObserved(k, pod.UID)
		e.Queue.Add(k)
	}
}
