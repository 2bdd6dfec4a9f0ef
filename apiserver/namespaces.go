package apiserver

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Namespaces: a deleted namespace has its contents removed by
// runNamespaceCleaner before it goes (kube-controller-manager's namespace
// controller, which Kelson runs in the API server until its controllers
// exist). Creation in a missing or terminating namespace is refused by
// the NamespaceLifecycle admission plugin (admission/namespacelifecycle.go).

var namespaceGVR = corev1.SchemeGroupVersion.WithResource("namespaces")

// systemNamespaces exist from the first start, as in Kubernetes.
var systemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// bootstrap creates the system namespaces and the `kubernetes` Service if
// they are missing. Every server does it; the creates are idempotent.
func (s *Server) bootstrap(ctx context.Context) error {
	opts := writeOptions{fieldManager: "kelson-apiserver", fieldValidation: "Ignore"}
	nsRes := s.lookup(namespaceGVR)
	for _, name := range systemNamespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		setTypeMeta(ns, nsRes)
		if err := s.ensureObject(ctx, nsRes, "", ns, opts); err != nil {
			return fmt.Errorf("apiserver: create namespace %s: %w", name, err)
		}
	}
	svcRes := s.lookup(corev1.SchemeGroupVersion.WithResource("services"))
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: s.kubernetesServiceIP(),
			Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(6443)}}},
	}
	setTypeMeta(svc, svcRes)
	if err := s.ensureObject(ctx, svcRes, "default", svc, opts); err != nil {
		return fmt.Errorf("apiserver: create the kubernetes service: %w", err)
	}
	// kube-dns has no selector and no endpoints: every node agent answers
	// its address itself (its proxy sends it to the agent's DNS server).
	dns := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "KubeDNS"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: s.cfg.ClusterDNS.String(),
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
			}},
	}
	setTypeMeta(dns, svcRes)
	if err := s.ensureObject(ctx, svcRes, metav1.NamespaceSystem, dns, opts); err != nil {
		return fmt.Errorf("apiserver: create the kube-dns service: %w", err)
	}
	return nil
}

// ensureObject creates obj unless it exists. It reads first: a create of a
// Service that exists fails on its ClusterIP (already allocated) before
// the store could answer AlreadyExists, which kept every server but the
// first bootstrapping forever.
func (s *Server) ensureObject(ctx context.Context, res *resource, ns string, obj runtime.Object, opts writeOptions) error {
	_, err := s.get(ctx, res, ns, metaOf(obj).GetName())
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	if _, err := s.createObject(ctx, res, ns, obj, opts); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// runNamespaceCleaner bootstraps, then every few seconds finishes the
// deletion of terminating namespaces: deletes their contents, then drops
// the "kubernetes" finalizer, which deletes the namespace.
func (s *Server) runNamespaceCleaner(ctx context.Context) {
	for ctx.Err() == nil {
		if err := s.bootstrap(ctx); err == nil {
			s.bootstrapped.Store(true)
			close(s.bootstrapCh)
			break
		} else if ctx.Err() == nil {
			s.log.Warn("bootstrap failed; retrying", "err", err)
		}
		sleep(ctx, time.Second)
	}
	res := s.lookup(namespaceGVR)
	if err := res.cache.WaitReady(ctx); err != nil {
		return
	}
	for ctx.Err() == nil {
		objs, _ := res.cache.List(res.prefix)
		for _, o := range objs {
			if ns := o.Obj.(*corev1.Namespace); ns.DeletionTimestamp != nil {
				if err := s.finishNamespace(ctx, ns.Name); err != nil && ctx.Err() == nil {
					s.log.Warn("namespace cleanup", "namespace", ns.Name, "err", err)
				}
			}
		}
		sleep(ctx, 2*time.Second)
	}
}

// finishNamespace deletes everything in ns, then finalizes it once empty.
func (s *Server) finishNamespace(ctx context.Context, ns string) error {
	background := metav1.DeletePropagationBackground
	zero := int64(0)
	left := 0
	for _, r := range s.resources().order {
		if !r.kind.Namespaced {
			continue
		}
		objs, _ := r.cache.List(r.listPrefix(ns))
		for _, o := range objs {
			left++
			m := metaOf(o.Obj)
			if m.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) > 0 {
				continue // waits for whoever owns its finalizers
			}
			opts := metav1.DeleteOptions{PropagationPolicy: &background, GracePeriodSeconds: &zero}
			if _, err := s.deleteObject(ctx, r, ns, m.GetName(), &opts); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	if left > 0 {
		return nil // look again next round
	}
	res := s.lookup(namespaceGVR)
	_, _, err := s.updateObject(ctx, res, requestInfo{Name: ns}, "finalize", writeOptions{fieldManager: "kelson-namespace-controller", fieldValidation: "Ignore"},
		func(cur runtime.Object) (runtime.Object, error) {
			n := cur.(*corev1.Namespace)
			n.Spec.Finalizers = nil
			n.Finalizers = removeString(n.Finalizers, "kubernetes")
			n.ResourceVersion = ""
			return n, nil
		})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func removeString(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
