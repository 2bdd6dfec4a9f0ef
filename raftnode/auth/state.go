package auth

import (
	"bytes"
	"math"
	"slices"
	"sort"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

const (
	// RootUser and RootRole are etcd's: enabling auth needs the root user
	// holding the root role, and the root role may do everything.
	RootUser = "root"
	RootRole = "root"
)

// Info is who a request comes from: a user name and the auth revision its
// credentials were checked against. The zero Info is "nobody" (no token,
// no certificate): with auth enabled it may do nothing.
type Info struct {
	User     string
	Revision uint64
}

// Internal is the identity of requests a member makes on its own (a lease
// expiring): they are never refused. Clients cannot claim it: a request's
// identity is set by the member from the client's credentials.
var Internal = Info{Revision: math.MaxUint64}

func (ai Info) internal() bool { return ai.User == "" && ai.Revision == math.MaxUint64 }

// InfoFromHeader reads the identity a proposal carries.
func InfoFromHeader(h *pb.RequestHeader) Info {
	if h == nil {
		return Info{}
	}
	return Info{User: h.Username, Revision: h.AuthRevision}
}

// SetHeader records ai in a proposal's header.
func (ai Info) SetHeader(h *pb.RequestHeader) {
	h.Username, h.AuthRevision = ai.User, ai.Revision
}

// User is one user. Password is the bcrypt hash; nil for a user made with
// NoPassword (who can only authenticate by certificate).
type User struct {
	Name       string
	Password   []byte
	Roles      []string // sorted
	NoPassword bool
}

// Role is one role with its permissions, sorted by key.
type Role struct {
	Name  string
	Perms []Perm
}

// State is the replicated auth state of a member: the same on every member
// that applied the same log. A State is immutable once built; changes make
// a new one (Apply), so readers hold a *State without locks.
type State struct {
	Enabled bool
	// Revision counts changes of users, roles and permissions (and auth
	// disable). Credentials checked against an older revision are refused
	// with ErrAuthOldRevision. A fresh store is at revision 1, as etcd.
	Revision uint64

	users map[string]*User
	roles map[string]*Role
	// perms are each user's permissions merged over its roles (derived).
	perms map[string]*userPerms
}

// NewState returns the state of a store that never had auth: disabled, at
// revision 1, no users or roles.
func NewState() *State {
	return newState(false, 1, map[string]*User{}, map[string]*Role{})
}

func newState(enabled bool, rev uint64, users map[string]*User, roles map[string]*Role) *State {
	st := &State{Enabled: enabled, Revision: rev, users: users, roles: roles, perms: make(map[string]*userPerms, len(users))}
	for name, u := range users {
		var perms []Perm
		for _, r := range u.Roles {
			if role := roles[r]; role != nil {
				perms = append(perms, role.Perms...)
			}
		}
		st.perms[name] = mergePerms(perms)
	}
	return st
}

// User returns the user name, or nil.
func (st *State) User(name string) *User { return st.users[name] }

// Role returns the role name, or nil.
func (st *State) Role(name string) *Role { return st.roles[name] }

// UserNames returns every user's name, sorted.
func (st *State) UserNames() []string { return sortedKeys(st.users) }

// RoleNames returns every role's name, sorted.
func (st *State) RoleNames() []string { return sortedKeys(st.roles) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (u *User) hasRole(role string) bool {
	_, ok := slices.BinarySearch(u.Roles, role)
	return ok
}

// HasRole reports whether user holds role.
func (st *State) HasRole(user, role string) bool {
	u := st.users[user]
	return u != nil && u.hasRole(role)
}

// edit is a copy-on-write change of a State: it copies the maps once and
// records which users and roles changed, for persistence.
type edit struct {
	base         *State
	enabled      bool
	rev          uint64
	users        map[string]*User
	roles        map[string]*Role
	touchedUsers map[string]bool
	touchedRoles map[string]bool
	metaChanged  bool
}

func (st *State) edit() *edit {
	return &edit{
		base: st, enabled: st.Enabled, rev: st.Revision,
		users: cloneMap(st.users), roles: cloneMap(st.roles),
		touchedUsers: map[string]bool{}, touchedRoles: map[string]bool{},
	}
}

func cloneMap[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (e *edit) putUser(u *User) { e.users[u.Name] = u; e.touchedUsers[u.Name] = true }
func (e *edit) delUser(name string) {
	delete(e.users, name)
	e.touchedUsers[name] = true
}
func (e *edit) putRole(r *Role) { e.roles[r.Name] = r; e.touchedRoles[r.Name] = true }
func (e *edit) delRole(name string) {
	delete(e.roles, name)
	e.touchedRoles[name] = true
}
func (e *edit) bump() { e.rev++; e.metaChanged = true }

func (e *edit) state() *State { return newState(e.enabled, e.rev, e.users, e.roles) }

func (u *User) clone() *User {
	c := *u
	c.Roles = slices.Clone(u.Roles)
	return &c
}

func (r *Role) clone() *Role {
	c := *r
	c.Perms = slices.Clone(r.Perms)
	return &c
}

// permLess orders a role's permissions by key, then range end.
func permCompare(a, b Perm) int {
	if c := bytes.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	return bytes.Compare(a.RangeEnd, b.RangeEnd)
}

// rootPerm is what `role get root` shows: read-write on every key.
var rootPerm = &authpb.Permission{PermType: authpb.READWRITE, Key: []byte{}, RangeEnd: []byte{0}}
