package admission

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNamespaceLifecycle(t *testing.T) {
	f := newFakes()
	now := metav1.NewTime(time.Unix(1000, 0))
	f.namespaces["live"] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "live"}}
	f.namespaces["dying"] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dying", DeletionTimestamp: &now},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	p := &NamespaceLifecycle{Namespaces: f}
	pod := &corev1.Pod{}
	for _, tc := range []struct {
		name string
		a    *Attributes
		want string // "" = admitted
		code int32
	}{
		{"create in live", attrs(Create, "pods", "", "live", "p", pod, nil), "", 0},
		{"create in missing", attrs(Create, "pods", "", "gone", "p", pod, nil), `namespaces "gone" not found`, 404},
		{"create in terminating", attrs(Create, "pods", "", "dying", "p", pod, nil),
			`pods "p" is forbidden: unable to create new content in namespace dying because it is being terminated`, 403},
		{"update in terminating", attrs(Update, "pods", "", "dying", "p", pod, pod), "", 0},
		{"delete in terminating", attrs(Delete, "pods", "", "dying", "p", nil, pod), "", 0},
		{"cluster-scoped create", attrs(Create, "nodes", "", "", "n", &corev1.Node{}, nil), "", 0},
		{"namespace create", attrs(Create, "namespaces", "", "", "new", &corev1.Namespace{}, nil), "", 0},
		{"delete default", attrs(Delete, "namespaces", "", "", "default", nil, &corev1.Namespace{}), `namespaces "default" is forbidden: this namespace may not be deleted`, 403},
		{"delete kube-system", attrs(Delete, "namespaces", "", "", "kube-system", nil, &corev1.Namespace{}), `namespaces "kube-system" is forbidden: this namespace may not be deleted`, 403},
		{"delete kube-public", attrs(Delete, "namespaces", "", "", "kube-public", nil, &corev1.Namespace{}), `namespaces "kube-public" is forbidden: this namespace may not be deleted`, 403},
		{"delete kube-node-lease", attrs(Delete, "namespaces", "", "", "kube-node-lease", nil, &corev1.Namespace{}), "", 0},
		{"delete live", attrs(Delete, "namespaces", "", "", "live", nil, &corev1.Namespace{}), "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Chain
			c.Mutators = []Mutator{p}
			err := c.Admit(context.Background(), tc.a)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if se, ok := err.(apierrors.APIStatus); !ok || se.Status().Code != tc.code {
				t.Fatalf("status %+v, want code %d", err, tc.code)
			}
		})
	}
	// The terminating refusal carries Kubernetes' cause.
	err := p.Validate(context.Background(), attrs(Create, "pods", "", "dying", "p", pod, nil))
	if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		t.Fatalf("no NamespaceTerminating cause in %#v", err)
	}
}
