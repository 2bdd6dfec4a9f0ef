package authz

import (
	"context"
	"fmt"
	"strings"

	"github.com/kelson-dev/kelson/apiserver/authn"
)

// Decision is an Authorizer's answer.
type Decision int

const (
	NoOpinion Decision = iota
	Allow
	Deny
)

func (d Decision) String() string {
	switch d {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return "no opinion"
}

// Attributes describe one request to authorize.
type Attributes struct {
	User *authn.User
	Verb string
	// ResourceRequest is true for /api and /apis resource paths; then the
	// resource fields are set, else Path is.
	ResourceRequest bool
	Group, Version  string
	Resource        string
	Subresource     string
	Namespace       string // "" for cluster-scoped or all namespaces
	Name            string // "" for list, watch, create (mostly) and deletecollection
	Path            string // a non-resource request's URL path
	// FieldSelector and LabelSelector are the request's selectors (list,
	// watch), for the node authorizer's single-object lists.
	FieldSelector, LabelSelector string
}

// Describe says what was asked, in kube-apiserver's words for a 403:
// `pods "web" is forbidden: User "bob" cannot get resource "pods" in API
// group "" in the namespace "default"`, minus the leading object part.
func (a Attributes) Describe() string {
	user := ""
	if a.User != nil {
		user = a.User.Name
	}
	if !a.ResourceRequest {
		return fmt.Sprintf("User %q cannot %s path %q", user, a.Verb, a.Path)
	}
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	s := fmt.Sprintf("User %q cannot %s resource %q in API group %q", user, a.Verb, res, a.Group)
	if a.Namespace != "" {
		s += fmt.Sprintf(" in the namespace %q", a.Namespace)
	} else {
		s += " at the cluster scope"
	}
	return s
}

// Authorizer decides whether a request may proceed. reason is shown to
// the user on a Deny (and on the 403 when no one allows); err is a failure
// to decide (treated as NoOpinion by Union, and logged).
// Authorize must be safe for concurrent use.
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (d Decision, reason string, err error)
}

// Func adapts a function to Authorizer.
type Func func(ctx context.Context, a Attributes) (Decision, string, error)

// Authorize calls f.
func (f Func) Authorize(ctx context.Context, a Attributes) (Decision, string, error) {
	return f(ctx, a)
}

// AlwaysAllow allows everything: tests and in-process wiring only.
var AlwaysAllow Authorizer = Func(func(context.Context, Attributes) (Decision, string, error) { return Allow, "", nil })

// Union asks each Authorizer in order; the first Allow or Deny decides.
// With none, the decision is NoOpinion and the reasons (and errors) given
// are joined.
func Union(as ...Authorizer) Authorizer {
	return Func(func(ctx context.Context, a Attributes) (Decision, string, error) {
		var reasons []string
		var errs []string
		for _, z := range as {
			d, reason, err := z.Authorize(ctx, a)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			if d != NoOpinion {
				return d, reason, nil
			}
			if reason != "" {
				reasons = append(reasons, reason)
			}
		}
		if len(errs) > 0 {
			return NoOpinion, strings.Join(reasons, "; "), fmt.Errorf("authz: %s", strings.Join(errs, "; "))
		}
		return NoOpinion, strings.Join(reasons, "; "), nil
	})
}
