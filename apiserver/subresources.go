package apiserver

import (
	"fmt"
	"net/http"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// serveStatus: the status subresource: get, update, patch.
func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) error {
	switch ri.Verb {
	case "get":
		return s.serveGet(w, r, res, ri)
	case "update":
		return s.update(w, r, res, ri, "status")
	case "patch":
		return s.servePatch(w, r, res, ri, "status")
	}
	return apierrors.NewMethodNotSupported(res.groupResource(), r.Method)
}

var scaleGVK = autoscalingv1.SchemeGroupVersion.WithKind("Scale")

// toScale renders obj's replica counts as autoscaling/v1 Scale.
func toScale(res *resource, obj runtime.Object) *autoscalingv1.Scale {
	m := metaOf(obj)
	sc := res.kind.Scale
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: scaleGVK.GroupVersion().String(), Kind: scaleGVK.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
			ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp()},
		Spec:   autoscalingv1.ScaleSpec{Replicas: sc.SpecReplicas(obj)},
		Status: autoscalingv1.ScaleStatus{Replicas: sc.StatusReplicas(obj), Selector: sc.Selector(obj)},
	}
}

// serveScale: the scale subresource. Updates and patches act on the Scale
// document; its spec.replicas is written to the object.
func (s *Server) serveScale(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) error {
	out, err := s.negotiate(r, res)
	if err != nil {
		return err
	}
	if out.kind != outObject {
		out.kind = outObject
	}
	switch ri.Verb {
	case "get":
		obj, err := s.get(r.Context(), res, ri.Namespace, ri.Name)
		if err != nil {
			return err
		}
		s.writeObject(w, r, out, http.StatusOK, toScale(res, obj))
		return nil
	case "update", "patch":
	default:
		return apierrors.NewMethodNotSupported(res.groupResource(), r.Method)
	}
	opts, err := parseWriteOptions(r)
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var info runtime.SerializerInfo
	if ri.Verb == "update" {
		if info, err = s.requestSerializer(r); err != nil {
			return err
		}
	} else {
		info, _ = s.serializer(mediaJSON)
	}
	ct := r.Header.Get("Content-Type")
	obj, _, err := s.updateObject(r.Context(), res, ri, "", opts, func(cur runtime.Object) (runtime.Object, error) {
		scale := toScale(res, cur)
		data := body
		if ri.Verb == "patch" {
			curJSON, err := s.encodeJSON(scale)
			if err != nil {
				return nil, err
			}
			if ct == patchApplyYAML {
				return nil, unsupportedMediaType(ct)
			}
			if data, err = applyPatch(patchContentType(ct), curJSON, body, &autoscalingv1.Scale{}); err != nil {
				return nil, err
			}
		}
		o, err := s.decodeInto(w, info, data, scaleGVK, &autoscalingv1.Scale{}, opts)
		if err != nil {
			return nil, err
		}
		want := o.(*autoscalingv1.Scale)
		if want.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(scaleGVK.GroupKind(), ri.Name, fieldInvalid("spec.replicas", want.Spec.Replicas, "must be greater than or equal to 0"))
		}
		if rv := want.ResourceVersion; rv != "" && rv != metaOf(cur).GetResourceVersion() {
			return nil, conflict(res, ri.Name)
		}
		res.kind.Scale.SetSpecReplicas(cur, want.Spec.Replicas)
		metaOf(cur).SetResourceVersion("")
		return cur, nil
	})
	if err != nil {
		return err
	}
	s.writeObject(w, r, out, http.StatusOK, toScale(res, obj))
	return nil
}

func patchContentType(ct string) string {
	for _, t := range []string{patchJSON, patchMerge, patchStrategic} {
		if len(ct) >= len(t) && ct[:len(t)] == t {
			return t
		}
	}
	return patchMerge
}

// serveBinding: POST pods/<name>/binding sets the pod's node once.
func (s *Server) serveBinding(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) error {
	out, opts, o, err := s.decodePost(w, r, res, ri, corev1.SchemeGroupVersion.WithKind("Binding"), &corev1.Binding{})
	if err != nil {
		return err
	}
	b := o.(*corev1.Binding)
	if b.Target.Name == "" || (b.Target.Kind != "" && b.Target.Kind != "Node") {
		return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), b.Name,
			fieldInvalid("target", b.Target.Name, "must name a Node"))
	}
	_, _, err = s.updateObject(r.Context(), res, ri, "binding", opts, func(cur runtime.Object) (runtime.Object, error) {
		pod := cur.(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(res.groupResource(), ri.Name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", ri.Name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(res.groupResource(), ri.Name, fmt.Errorf("pod %s is already assigned to node %q", ri.Name, pod.Spec.NodeName))
		}
		if b.UID != "" && b.UID != pod.UID {
			return nil, apierrors.NewConflict(res.groupResource(), ri.Name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", b.UID, pod.UID))
		}
		pod.Spec.NodeName = b.Target.Name
		setPodCondition(pod, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
		pod.ResourceVersion = ""
		return pod, nil
	})
	if err != nil {
		return err
	}
	s.writeObject(w, r, out, http.StatusCreated, successStatus(http.StatusCreated))
	return nil
}

func setPodCondition(pod *corev1.Pod, c corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == c.Type {
			pod.Status.Conditions[i] = c
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}

func successStatus(code int32) *metav1.Status {
	return &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: code}
}

// decodePost reads the body of a POST to a subresource (binding,
// eviction) as the kind want: the output format, the write options and
// the decoded object.
func (s *Server) decodePost(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo, want schema.GroupVersionKind, into runtime.Object) (output, writeOptions, runtime.Object, error) {
	if ri.Verb != "create" {
		return output{}, writeOptions{}, nil, apierrors.NewMethodNotSupported(res.groupResource(), r.Method)
	}
	out, err := s.negotiate(r, res)
	if err != nil {
		return out, writeOptions{}, nil, err
	}
	opts, err := parseWriteOptions(r)
	if err != nil {
		return out, opts, nil, err
	}
	info, err := s.requestSerializer(r)
	if err != nil {
		return out, opts, nil, err
	}
	body, err := readBody(r)
	if err != nil {
		return out, opts, nil, err
	}
	obj, err := s.decodeInto(w, info, body, want, into, opts)
	return out, opts, obj, err
}
