package admission

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NamespaceLifecycle refuses new content in a namespace that does not
// exist or is being deleted, and the deletion of the namespaces the
// cluster cannot run without (default, kube-system, kube-public), as
// kube-apiserver's plugin of that name.
//
// Creates of the namespaces themselves, and of cluster-scoped objects,
// pass; updates and deletes of content pass (a terminating namespace's
// contents must be deletable).
type NamespaceLifecycle struct {
	Namespaces NamespaceGetter
}

// immortalNamespaces may not be deleted.
var immortalNamespaces = map[string]bool{
	metav1.NamespaceDefault: true, metav1.NamespaceSystem: true, metav1.NamespacePublic: true,
}

// Handles creates and deletes.
func (p *NamespaceLifecycle) Handles(op Operation) bool { return op == Create || op == Delete }

// Validate refuses the write as described on the type.
func (p *NamespaceLifecycle) Validate(ctx context.Context, a *Attributes) error {
	if a.Operation == Delete {
		if a.is("", "namespaces") && a.Subresource == "" && immortalNamespaces[a.Name] {
			return forbidden(a, errors.New("this namespace may not be deleted"))
		}
		return nil
	}
	if a.Namespace == "" || a.is("", "namespaces") {
		return nil
	}
	ns, err := p.Namespaces.GetNamespace(ctx, a.Namespace)
	if err != nil {
		return err // NotFound: `namespaces "x" not found`, as Kubernetes
	}
	return createIn(a, ns)
}

// createIn decides a create in ns: refused while ns terminates.
func createIn(a *Attributes, ns *corev1.Namespace) error {
	if ns.DeletionTimestamp == nil && ns.Status.Phase != corev1.NamespaceTerminating {
		return nil
	}
	msg := fmt.Sprintf("unable to create new content in namespace %s because it is being terminated", ns.Name)
	err := forbidden(a, errors.New(msg))
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
		Type: corev1.NamespaceTerminatingCause, Message: msg, Field: "metadata.namespace"})
	return err
}

// Admit is Validate: the plugin runs first among the mutators, as in
// Kubernetes, so that a write into a missing namespace is answered
// `namespaces "x" not found` before any other plugin looks at it.
func (p *NamespaceLifecycle) Admit(ctx context.Context, a *Attributes) error {
	return p.Validate(ctx, a)
}
