package authn

import (
	"context"
	"net/http"
	"slices"
)

// Well-known user and group names, as Kubernetes spells them.
const (
	Anonymous           = "system:anonymous"
	AllUnauthenticated  = "system:unauthenticated"
	AllAuthenticated    = "system:authenticated"
	SystemPrivileged    = "system:masters"
	NodesGroup          = "system:nodes"
	NodeUserPrefix      = "system:node:"
	BootstrappersGroup  = "system:bootstrappers"
	ServiceAccountsAll  = "system:serviceaccounts"
	ServiceAccountUser  = "system:serviceaccount:"  // + namespace + ":" + name
	ServiceAccountGroup = "system:serviceaccounts:" // + namespace
)

// User is an authenticated identity. Fields as authentication.k8s.io/v1
// UserInfo. A User is never modified after an Authenticator returns it.
type User struct {
	Name   string
	UID    string
	Groups []string
	// Extra carries what an authenticator knows beyond name and groups
	// (a service account token's pod name and UID, its credential ID).
	Extra map[string][]string
}

// InGroup reports whether u is in group g.
func (u *User) InGroup(g string) bool { return u != nil && slices.Contains(u.Groups, g) }

// Authenticator finds the user of a request from one kind of credential.
// See the package documentation for the meaning of its three answers.
// Authenticate must be safe for concurrent use and must not read the body.
type Authenticator interface {
	Authenticate(r *http.Request) (*User, bool, error)
}

// Func adapts a function to Authenticator.
type Func func(r *http.Request) (*User, bool, error)

// Authenticate calls f.
func (f Func) Authenticate(r *http.Request) (*User, bool, error) { return f(r) }

// Union asks each Authenticator in order: the first that claims the
// request (ok or error) decides. The user returned is a copy in the group
// system:authenticated.
func Union(as ...Authenticator) Authenticator {
	return Func(func(r *http.Request) (*User, bool, error) {
		for _, a := range as {
			u, ok, err := a.Authenticate(r)
			if err != nil {
				return nil, false, err
			}
			if ok {
				return withGroup(u, AllAuthenticated), true, nil
			}
		}
		return nil, false, nil
	})
}

func withGroup(u *User, g string) *User {
	if u.InGroup(g) {
		return u
	}
	c := *u
	c.Groups = append(slices.Clip(u.Groups), g)
	return &c
}

// AnonymousUser is who an unauthenticated request is, where one is allowed.
func AnonymousUser() *User {
	return &User{Name: Anonymous, Groups: []string{AllUnauthenticated}}
}

// Fixed authenticates every request as u: for tests and in-process
// clients that share the server's trust, never for a network listener.
func Fixed(u *User) Authenticator {
	return Func(func(*http.Request) (*User, bool, error) { return u, true, nil })
}

type userKey struct{}

// WithUser returns ctx carrying u.
func WithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the user ctx carries.
func UserFrom(ctx context.Context) (*User, bool) {
	u, ok := ctx.Value(userKey{}).(*User)
	return u, ok && u != nil
}
