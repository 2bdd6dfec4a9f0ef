package admission

import (
	"context"

	"github.com/kelson-dev/kelson/apiserver/authn"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Operation is what a write does to its object.
type Operation string

const (
	Create  Operation = "CREATE"
	Update  Operation = "UPDATE"
	Delete  Operation = "DELETE"
	Connect Operation = "CONNECT" // pods/exec, pods/attach, pods/portforward
)

// Attributes describe one write for admission.
type Attributes struct {
	Operation   Operation
	Resource    schema.GroupVersionResource
	Subresource string
	Kind        schema.GroupVersionKind
	Namespace   string
	Name        string
	// Object is the object as it will be stored (typed: *corev1.Pod ...),
	// nil for Delete and Connect. Mutators change it in place.
	Object runtime.Object
	// OldObject is the stored object for Update and Delete, else nil.
	// Never modified.
	OldObject runtime.Object
	User      *authn.User
	DryRun    bool
}

// Mutator may change a write's object. Handles reports whether the
// plugin cares about op at all (a cheap filter).
type Mutator interface {
	Handles(op Operation) bool
	Admit(ctx context.Context, a *Attributes) error
}

// Validator may refuse a write; it never changes it.
type Validator interface {
	Handles(op Operation) bool
	Validate(ctx context.Context, a *Attributes) error
}

// Chain is the admission plugins of a server, in order. The zero value
// admits everything.
type Chain struct {
	Mutators   []Mutator
	Validators []Validator
}

// Admit runs the mutators in order; the first error refuses the write.
func (c *Chain) Admit(ctx context.Context, a *Attributes) error {
	if c == nil {
		return nil
	}
	for _, m := range c.Mutators {
		if m.Handles(a.Operation) {
			if err := m.Admit(ctx, a); err != nil {
				return err
			}
		}
	}
	return nil
}

// Validate runs the validators in order; the first error refuses the write.
func (c *Chain) Validate(ctx context.Context, a *Attributes) error {
	if c == nil {
		return nil
	}
	for _, v := range c.Validators {
		if v.Handles(a.Operation) {
			if err := v.Validate(ctx, a); err != nil {
				return err
			}
		}
	}
	return nil
}
