package auth

import (
	"encoding/base64"
	"slices"

	"github.com/kelson-dev/kelson/kvstore"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// IsAuthRequest reports whether req is for the auth state (the Auth
// service's requests and Authenticate) rather than for the key-value store.
func IsAuthRequest(req *pb.InternalRaftRequest) bool {
	return req.Authenticate != nil || req.AuthEnable != nil || req.AuthDisable != nil || req.AuthStatus != nil ||
		req.AuthUserAdd != nil || req.AuthUserDelete != nil || req.AuthUserChangePassword != nil ||
		req.AuthUserGrantRole != nil || req.AuthUserRevokeRole != nil || req.AuthUserGet != nil || req.AuthUserList != nil ||
		req.AuthRoleAdd != nil || req.AuthRoleDelete != nil || req.AuthRoleGet != nil || req.AuthRoleList != nil ||
		req.AuthRoleGrantPermission != nil || req.AuthRoleRevokePermission != nil
}

// needsAdmin lists the requests only a root-role user may make once auth is
// enabled (UserGet and RoleGet have their own rule; Authenticate and
// AuthStatus are open to all).
func needsAdmin(req *pb.InternalRaftRequest) bool {
	return req.AuthEnable != nil || req.AuthDisable != nil ||
		req.AuthUserAdd != nil || req.AuthUserDelete != nil || req.AuthUserChangePassword != nil ||
		req.AuthUserGrantRole != nil || req.AuthUserRevokeRole != nil || req.AuthUserList != nil ||
		req.AuthRoleAdd != nil || req.AuthRoleDelete != nil || req.AuthRoleList != nil ||
		req.AuthRoleGrantPermission != nil || req.AuthRoleRevokePermission != nil
}

// Change is the outcome of one auth request applied to a State.
type Change struct {
	// Next is the new state; nil when the request changed nothing.
	Next *State
	Resp proto.Message
	// Writes persist Next (kvstore auxiliary records).
	Writes []kvstore.AuxWrite
	// DropUserTokens names a user whose tokens are no longer valid (deleted,
	// or its password changed).
	DropUserTokens string
	// DropAllTokens: auth was disabled; every token is void.
	DropAllTokens bool
}

// Apply decides one auth management request (not Authenticate: Store
// applies that) made by ai against st, as etcd's auth store does, with its
// errors. It is pure: st is not modified.
func Apply(st *State, ai Info, req *pb.InternalRaftRequest) (Change, error) {
	if needsAdmin(req) {
		if err := st.CheckAdmin(ai); err != nil {
			return Change{}, err
		}
	}
	switch {
	case req.AuthEnable != nil:
		return st.authEnable()
	case req.AuthDisable != nil:
		if !st.Enabled {
			return Change{Resp: &pb.AuthDisableResponse{}}, nil
		}
		e := st.edit()
		e.enabled = false
		e.bump()
		return e.change(&pb.AuthDisableResponse{}, func(c *Change) { c.DropAllTokens = true })
	case req.AuthStatus != nil:
		return Change{Resp: &pb.AuthStatusResponse{Enabled: st.Enabled, AuthRevision: st.Revision}}, nil
	case req.AuthUserAdd != nil:
		return st.userAdd(req.AuthUserAdd)
	case req.AuthUserDelete != nil:
		r := req.AuthUserDelete
		if st.Enabled && r.Name == RootUser {
			return Change{}, ErrInvalidAuthMgmt
		}
		if st.users[r.Name] == nil {
			return Change{}, ErrUserNotFound
		}
		e := st.edit()
		e.delUser(r.Name)
		e.bump()
		return e.change(&pb.AuthUserDeleteResponse{}, func(c *Change) { c.DropUserTokens = r.Name })
	case req.AuthUserChangePassword != nil:
		r := req.AuthUserChangePassword
		u := st.users[r.Name]
		if u == nil {
			return Change{}, ErrUserNotFound
		}
		nu := u.clone()
		if !u.NoPassword {
			nu.Password = decodeHash(r.HashedPassword)
		}
		e := st.edit()
		e.putUser(nu)
		e.bump()
		return e.change(&pb.AuthUserChangePasswordResponse{}, func(c *Change) { c.DropUserTokens = r.Name })
	case req.AuthUserGrantRole != nil:
		return st.userGrantRole(req.AuthUserGrantRole)
	case req.AuthUserRevokeRole != nil:
		r := req.AuthUserRevokeRole
		if st.Enabled && r.Name == RootUser && r.Role == RootRole {
			return Change{}, ErrInvalidAuthMgmt
		}
		u := st.users[r.Name]
		if u == nil {
			return Change{}, ErrUserNotFound
		}
		if !u.hasRole(r.Role) {
			return Change{}, ErrRoleNotGranted
		}
		nu := u.clone()
		nu.Roles = slices.DeleteFunc(nu.Roles, func(s string) bool { return s == r.Role })
		e := st.edit()
		e.putUser(nu)
		e.bump()
		return e.change(&pb.AuthUserRevokeRoleResponse{}, nil)
	case req.AuthUserGet != nil:
		r := req.AuthUserGet
		// A user may read itself; anyone else needs the root role.
		if err := st.CheckAdmin(ai); err != nil && r.Name != ai.User {
			return Change{}, err
		}
		u := st.users[r.Name]
		if u == nil {
			return Change{}, ErrUserNotFound
		}
		return Change{Resp: &pb.AuthUserGetResponse{Roles: slices.Clone(u.Roles)}}, nil
	case req.AuthUserList != nil:
		return Change{Resp: &pb.AuthUserListResponse{Users: st.UserNames()}}, nil
	case req.AuthRoleAdd != nil:
		r := req.AuthRoleAdd
		if r.Name == "" {
			return Change{}, ErrRoleEmpty
		}
		if st.roles[r.Name] != nil {
			return Change{}, ErrRoleAlreadyExist
		}
		e := st.edit()
		e.putRole(&Role{Name: r.Name})
		e.bump()
		return e.change(&pb.AuthRoleAddResponse{}, nil)
	case req.AuthRoleDelete != nil:
		return st.roleDelete(req.AuthRoleDelete)
	case req.AuthRoleGet != nil:
		r := req.AuthRoleGet
		// A user may read the roles it holds; other roles need root.
		if err := st.CheckAdmin(ai); err != nil && !st.HasRole(ai.User, r.Role) {
			return Change{}, err
		}
		role := st.roles[r.Role]
		if role == nil {
			return Change{}, ErrRoleNotFound
		}
		resp := &pb.AuthRoleGetResponse{}
		if r.Role == RootRole {
			resp.Perm = []*authpb.Permission{proto.Clone(rootPerm).(*authpb.Permission)}
		} else {
			for _, p := range role.Perms {
				resp.Perm = append(resp.Perm, &authpb.Permission{PermType: p.Type, Key: p.Key, RangeEnd: p.RangeEnd})
			}
		}
		return Change{Resp: resp}, nil
	case req.AuthRoleList != nil:
		return Change{Resp: &pb.AuthRoleListResponse{Roles: st.RoleNames()}}, nil
	case req.AuthRoleGrantPermission != nil:
		return st.roleGrant(req.AuthRoleGrantPermission)
	case req.AuthRoleRevokePermission != nil:
		r := req.AuthRoleRevokePermission
		role := st.roles[r.Role]
		if role == nil {
			return Change{}, ErrRoleNotFound
		}
		want := Perm{Key: r.Key, RangeEnd: r.RangeEnd}
		i := slices.IndexFunc(role.Perms, func(p Perm) bool { return permCompare(p, want) == 0 })
		if i < 0 {
			return Change{}, ErrPermissionNotGranted
		}
		nr := role.clone()
		nr.Perms = slices.Delete(nr.Perms, i, i+1)
		e := st.edit()
		e.putRole(nr)
		e.bump()
		return e.change(&pb.AuthRoleRevokePermissionResponse{}, nil)
	}
	return Change{}, ErrInvalidAuthMgmt
}

func (st *State) authEnable() (Change, error) {
	resp := &pb.AuthEnableResponse{}
	if st.Enabled {
		return Change{Resp: resp}, nil
	}
	root := st.users[RootUser]
	if root == nil {
		return Change{}, ErrRootUserNotExist
	}
	if !root.hasRole(RootRole) {
		return Change{}, ErrRootRoleNotExist
	}
	e := st.edit()
	e.enabled = true
	e.metaChanged = true // as etcd, enabling does not move the revision
	return e.change(resp, nil)
}

func (st *State) userAdd(r *pb.AuthUserAddRequest) (Change, error) {
	if r.Name == "" {
		return Change{}, ErrUserEmpty
	}
	if st.users[r.Name] != nil {
		return Change{}, ErrUserAlreadyExist
	}
	u := &User{Name: r.Name}
	if r.Options != nil && r.Options.NoPassword {
		u.NoPassword = true
	} else {
		// The proposer hashed the password (bcrypt salts at random, so
		// replicas cannot hash it alike): the log never holds it in clear.
		u.Password = decodeHash(r.HashedPassword)
	}
	e := st.edit()
	e.putUser(u)
	e.bump()
	return e.change(&pb.AuthUserAddResponse{}, nil)
}

func (st *State) userGrantRole(r *pb.AuthUserGrantRoleRequest) (Change, error) {
	u := st.users[r.User]
	if u == nil {
		return Change{}, ErrUserNotFound
	}
	// The root role may be granted before it is created, as etcd allows.
	if r.Role != RootRole && st.roles[r.Role] == nil {
		return Change{}, ErrRoleNotFound
	}
	if u.hasRole(r.Role) {
		return Change{Resp: &pb.AuthUserGrantRoleResponse{}}, nil // as etcd: ignored
	}
	nu := u.clone()
	i, _ := slices.BinarySearch(nu.Roles, r.Role)
	nu.Roles = slices.Insert(nu.Roles, i, r.Role)
	e := st.edit()
	e.putUser(nu)
	e.bump()
	return e.change(&pb.AuthUserGrantRoleResponse{}, nil)
}

func (st *State) roleDelete(r *pb.AuthRoleDeleteRequest) (Change, error) {
	if st.Enabled && r.Role == RootRole {
		return Change{}, ErrInvalidAuthMgmt
	}
	if st.roles[r.Role] == nil {
		return Change{}, ErrRoleNotFound
	}
	e := st.edit()
	e.delRole(r.Role)
	for _, name := range st.UserNames() {
		u := st.users[name]
		if u.hasRole(r.Role) {
			nu := u.clone()
			nu.Roles = slices.DeleteFunc(nu.Roles, func(s string) bool { return s == r.Role })
			e.putUser(nu)
		}
	}
	e.bump()
	return e.change(&pb.AuthRoleDeleteResponse{}, nil)
}

func (st *State) roleGrant(r *pb.AuthRoleGrantPermissionRequest) (Change, error) {
	if r.Perm == nil {
		return Change{}, ErrPermissionNotGiven
	}
	if !validPermRange(r.Perm.Key, r.Perm.RangeEnd) {
		return Change{}, ErrInvalidAuthMgmt
	}
	role := st.roles[r.Name]
	if role == nil {
		return Change{}, ErrRoleNotFound
	}
	p := Perm{Type: r.Perm.PermType, Key: append([]byte(nil), r.Perm.Key...), RangeEnd: append([]byte(nil), r.Perm.RangeEnd...)}
	if len(p.RangeEnd) == 0 {
		p.RangeEnd = nil
	}
	nr := role.clone()
	i, found := slices.BinarySearchFunc(nr.Perms, p, permCompare)
	if found {
		nr.Perms[i].Type = p.Type // the same range again: its type is replaced
	} else {
		nr.Perms = slices.Insert(nr.Perms, i, p)
	}
	e := st.edit()
	e.putRole(nr)
	e.bump()
	return e.change(&pb.AuthRoleGrantPermissionResponse{}, nil)
}

// decodeHash reads the bcrypt hash a proposer put in a request (base64, as
// etcd's hashed_password). A hash that does not decode matches no password.
func decodeHash(s string) []byte {
	h, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(h) == 0 {
		return nil
	}
	return h
}

// change finishes an edit: the new state and the records to write.
func (e *edit) change(resp proto.Message, more func(*Change)) (Change, error) {
	c := Change{Next: e.state(), Resp: resp, Writes: e.writes()}
	if more != nil {
		more(&c)
	}
	return c, nil
}
