package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

type step struct {
	as   Info
	req  *pb.InternalRaftRequest
	want error
	// check, when set, inspects the state after the step.
	check func(t *testing.T, st *State, c Change)
}

var testHash = base64.StdEncoding.EncodeToString([]byte("$2a$04$hash"))

func userAdd(name string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: name, HashedPassword: testHash}}
}
func roleAdd(name string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: name}}
}
func grantRole(user, role string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: user, Role: role}}
}
func grantPerm(role string, typ authpb.Permission_Type, key, end string) *pb.InternalRaftRequest {
	var e []byte
	if end != "" {
		e = []byte(end)
	}
	return &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: role, Perm: &authpb.Permission{PermType: typ, Key: []byte(key), RangeEnd: e}}}
}

var (
	enable  = &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}
	disable = &pb.InternalRaftRequest{AuthDisable: &pb.AuthDisableRequest{}}
	nobody  = Info{}
)

func runSteps(t *testing.T, steps []step) *State {
	t.Helper()
	st := NewState()
	for i, s := range steps {
		c, err := Apply(st, s.as, s.req)
		if !errors.Is(err, s.want) || (err == nil) != (s.want == nil) {
			t.Fatalf("step %d (%v): err %v, want %v", i, s.req, err, s.want)
		}
		if err == nil && c.Next != nil {
			// Round-trip through the records: what is persisted is what
			// a restarted member loads.
			if c.Next.Revision < st.Revision {
				t.Fatalf("step %d: revision went back %d -> %d", i, st.Revision, c.Next.Revision)
			}
			st = c.Next
		}
		if s.check != nil {
			s.check(t, st, c)
		}
	}
	return st
}

func as(user string, st func() uint64) Info { return Info{User: user, Revision: st()} }

func TestApplyEnableNeedsRoot(t *testing.T) {
	runSteps(t, []step{
		{as: nobody, req: enable, want: ErrRootUserNotExist},
		{as: nobody, req: userAdd("root")},
		{as: nobody, req: enable, want: ErrRootRoleNotExist},
		{as: nobody, req: grantRole("root", "ghost"), want: ErrRoleNotFound},
		{as: nobody, req: grantRole("root", RootRole)}, // root may be granted before it exists
		{as: nobody, req: enable, check: func(t *testing.T, st *State, c Change) {
			if !st.Enabled || st.Revision != 3 {
				t.Fatalf("enabled=%v rev=%d, want true 3 (enable does not move the revision)", st.Enabled, st.Revision)
			}
		}},
		{as: nobody, req: enable, want: ErrUserEmpty}, // now admin only
		{as: Info{User: "root", Revision: 3}, req: enable},
		{as: Info{User: "nobody", Revision: 3}, req: userAdd("x"), want: ErrUserNotFound},
		{as: Info{User: "root", Revision: 3}, req: &pb.InternalRaftRequest{AuthUserDelete: &pb.AuthUserDeleteRequest{Name: "root"}}, want: ErrInvalidAuthMgmt},
		{as: Info{User: "root", Revision: 3}, req: &pb.InternalRaftRequest{AuthUserRevokeRole: &pb.AuthUserRevokeRoleRequest{Name: "root", Role: RootRole}}, want: ErrInvalidAuthMgmt},
		{as: Info{User: "root", Revision: 3}, req: disable, check: func(t *testing.T, st *State, c Change) {
			if st.Enabled || st.Revision != 4 || !c.DropAllTokens {
				t.Fatalf("after disable: enabled=%v rev=%d drop=%v", st.Enabled, st.Revision, c.DropAllTokens)
			}
		}},
		{as: nobody, req: &pb.InternalRaftRequest{AuthUserDelete: &pb.AuthUserDeleteRequest{Name: "root"}}},
	})
}

func TestApplyUsersAndRoles(t *testing.T) {
	root := Info{User: "root", Revision: 1 << 40} // a revision never old
	st := runSteps(t, []step{
		{as: root, req: userAdd(""), want: ErrUserEmpty},
		{as: root, req: userAdd("alice")},
		{as: root, req: userAdd("alice"), want: ErrUserAlreadyExist},
		{as: root, req: roleAdd(""), want: ErrRoleEmpty},
		{as: root, req: roleAdd("r")},
		{as: root, req: roleAdd("r"), want: ErrRoleAlreadyExist},
		{as: root, req: grantRole("bob", "r"), want: ErrUserNotFound},
		{as: root, req: grantRole("alice", "r")},
		{as: root, req: grantRole("alice", "r"), check: func(t *testing.T, st *State, c Change) {
			if c.Next != nil {
				t.Fatal("granting a held role again changed the state")
			}
		}},
		{as: root, req: &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "r"}}, want: ErrPermissionNotGiven},
		{as: root, req: grantPerm("r", R, "", ""), want: ErrInvalidAuthMgmt},
		{as: root, req: grantPerm("r", R, "b", "a"), want: ErrInvalidAuthMgmt},
		{as: root, req: grantPerm("ghost", R, "a", ""), want: ErrRoleNotFound},
		{as: root, req: grantPerm("r", R, "foo", "fop")},
		{as: root, req: grantPerm("r", RW, "foo", "fop"), check: func(t *testing.T, st *State, c Change) {
			if n := len(st.Role("r").Perms); n != 1 || st.Role("r").Perms[0].Type != RW {
				t.Fatalf("regrant of the same range: %d perms, type %v", n, st.Role("r").Perms[0].Type)
			}
		}},
		{as: root, req: grantPerm("r", R, "a", "")},
		{as: root, req: &pb.InternalRaftRequest{AuthRoleRevokePermission: &pb.AuthRoleRevokePermissionRequest{Role: "r", Key: []byte("foo")}}, want: ErrPermissionNotGranted},
		{as: root, req: &pb.InternalRaftRequest{AuthRoleRevokePermission: &pb.AuthRoleRevokePermissionRequest{Role: "r", Key: []byte("a")}}},
		{as: root, req: &pb.InternalRaftRequest{AuthUserRevokeRole: &pb.AuthUserRevokeRoleRequest{Name: "alice", Role: "x"}}, want: ErrRoleNotGranted},
		{as: root, req: roleAdd("gone")},
		{as: root, req: grantRole("alice", "gone")},
		{as: root, req: &pb.InternalRaftRequest{AuthRoleDelete: &pb.AuthRoleDeleteRequest{Role: "gone"}}, check: func(t *testing.T, st *State, c Change) {
			if st.HasRole("alice", "gone") {
				t.Fatal("deleted role still held by alice")
			}
		}},
		{as: root, req: &pb.InternalRaftRequest{AuthRoleDelete: &pb.AuthRoleDeleteRequest{Role: "gone"}}, want: ErrRoleNotFound},
		{as: root, req: &pb.InternalRaftRequest{AuthUserGet: &pb.AuthUserGetRequest{Name: "nope"}}, want: ErrUserNotFound},
	})
	if got := st.perms["alice"]; !got.allowed([]byte("foo1"), nil, W) || got.allowed([]byte("a"), nil, R) {
		t.Fatal("alice's merged permissions do not follow her role")
	}
}

// TestApplyGetRules: with auth on, a user may read itself and its roles,
// nothing else.
func TestApplyGetRules(t *testing.T) {
	rev := uint64(0)
	cur := func() uint64 { return rev }
	steps := []step{
		{as: nobody, req: userAdd("root")},
		{as: nobody, req: grantRole("root", RootRole)},
		{as: nobody, req: userAdd("alice")},
		{as: nobody, req: roleAdd("r")},
		{as: nobody, req: roleAdd("s")},
		{as: nobody, req: grantRole("alice", "r")},
		{as: nobody, req: enable},
	}
	st := runSteps(t, steps)
	rev = st.Revision
	alice := as("alice", cur)
	for _, c := range []struct {
		req  *pb.InternalRaftRequest
		want error
	}{
		{&pb.InternalRaftRequest{AuthUserGet: &pb.AuthUserGetRequest{Name: "alice"}}, nil},
		{&pb.InternalRaftRequest{AuthUserGet: &pb.AuthUserGetRequest{Name: "root"}}, ErrPermissionDenied},
		{&pb.InternalRaftRequest{AuthRoleGet: &pb.AuthRoleGetRequest{Role: "r"}}, nil},
		{&pb.InternalRaftRequest{AuthRoleGet: &pb.AuthRoleGetRequest{Role: "s"}}, ErrPermissionDenied},
		{&pb.InternalRaftRequest{AuthUserList: &pb.AuthUserListRequest{}}, ErrPermissionDenied},
		{&pb.InternalRaftRequest{AuthRoleList: &pb.AuthRoleListRequest{}}, ErrPermissionDenied},
		{&pb.InternalRaftRequest{AuthStatus: &pb.AuthStatusRequest{}}, nil},
		{userAdd("mallory"), ErrPermissionDenied},
		{disable, ErrPermissionDenied},
	} {
		if _, err := Apply(st, alice, c.req); !errors.Is(err, c.want) || (err == nil) != (c.want == nil) {
			t.Errorf("alice %v: err %v, want %v", c.req, err, c.want)
		}
	}
	// Root's role shows read-write on everything.
	c, err := Apply(st, as("root", cur), &pb.InternalRaftRequest{AuthRoleGet: &pb.AuthRoleGetRequest{Role: RootRole}})
	if !errors.Is(err, ErrRoleNotFound) {
		t.Fatalf("role get root before role add root: %v %v", c.Resp, err)
	}
}

// TestCheckRequest covers the apply-time checks of key-value requests.
func TestCheckRequest(t *testing.T) {
	st := runSteps(t, []step{
		{as: nobody, req: userAdd("root")},
		{as: nobody, req: grantRole("root", RootRole)},
		{as: nobody, req: userAdd("u")},
		{as: nobody, req: roleAdd("r")},
		{as: nobody, req: grantPerm("r", RW, "a/", "a0")},
		{as: nobody, req: grantPerm("r", R, "ro", "")},
		{as: nobody, req: grantRole("u", "r")},
		{as: nobody, req: enable},
	})
	u := Info{User: "u", Revision: st.Revision}
	old := Info{User: "u", Revision: st.Revision - 1}
	root := Info{User: "root", Revision: st.Revision}
	hdr := func(ai Info) *pb.RequestHeader { h := &pb.RequestHeader{}; ai.SetHeader(h); return h }
	put := func(ai Info, key string, lease int64, prev bool) *pb.InternalRaftRequest {
		return &pb.InternalRaftRequest{Header: hdr(ai), Put: &pb.PutRequest{Key: []byte(key), Lease: lease, PrevKv: prev}}
	}
	txn := func(ai Info, t *pb.TxnRequest) *pb.InternalRaftRequest {
		return &pb.InternalRaftRequest{Header: hdr(ai), Txn: t}
	}
	leases := LeaseKeys(func(id int64) [][]byte {
		if id == 7 {
			return [][]byte{[]byte("zzz")}
		}
		return nil
	})
	opPut := func(k string) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k)}}}
	}
	for i, c := range []struct {
		req  *pb.InternalRaftRequest
		want error
	}{
		{put(u, "a/1", 0, false), nil},
		{put(u, "b", 0, false), ErrPermissionDenied},
		{put(u, "ro", 0, false), ErrPermissionDenied},
		{put(Info{}, "a/1", 0, false), ErrUserEmpty},
		{put(old, "a/1", 0, false), ErrAuthOldRevision},
		{put(root, "anything", 0, false), nil},
		{put(u, "a/1", 7, false), ErrPermissionDenied}, // lease 7 holds zzz, which u may not write
		{put(u, "a/1", 8, false), nil},
		{put(root, "a/1", 7, false), nil},
		{&pb.InternalRaftRequest{Header: hdr(u), DeleteRange: &pb.DeleteRangeRequest{Key: []byte("a/"), RangeEnd: []byte("a0")}}, nil},
		{&pb.InternalRaftRequest{Header: hdr(u), DeleteRange: &pb.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("b")}}, ErrPermissionDenied},
		{&pb.InternalRaftRequest{Header: hdr(u), LeaseRevoke: &pb.LeaseRevokeRequest{ID: 7}}, ErrPermissionDenied},
		{&pb.InternalRaftRequest{Header: hdr(u), LeaseRevoke: &pb.LeaseRevokeRequest{ID: 8}}, nil},
		{&pb.InternalRaftRequest{Header: hdr(Internal), LeaseRevoke: &pb.LeaseRevokeRequest{ID: 7}}, nil},
		// Every key a txn touches counts, on both branches and in compares.
		{txn(u, &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a/x")}}), nil},
		{txn(u, &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a/x")}, Failure: []*pb.RequestOp{opPut("b")}}), ErrPermissionDenied},
		{txn(u, &pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte("secret")}}, Success: []*pb.RequestOp{opPut("a/x")}}), ErrPermissionDenied},
		{txn(u, &pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte("ro")}}, Success: []*pb.RequestOp{opPut("a/x")}}), nil},
		{txn(u, &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Failure: []*pb.RequestOp{opPut("b")}}}}}}), ErrPermissionDenied},
		{txn(u, &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("x")}}}}}), ErrPermissionDenied},
		{put(u, "a/1", 0, true), nil},
	} {
		if err := st.CheckRequest(c.req, leases); !errors.Is(err, c.want) || (err == nil) != (c.want == nil) {
			t.Errorf("case %d %v: err %v, want %v", i, c.req, err, c.want)
		}
	}
	if err := st.CheckAdmin(u); !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("CheckAdmin(u) = %v", err)
	}
	if err := st.RequireInfo(Info{}); !errors.Is(err, ErrUserEmpty) {
		t.Errorf("RequireInfo(nobody) = %v", err)
	}
	// Auth off: everything passes.
	if err := NewState().CheckRequest(put(Info{}, "b", 7, true), leases); err != nil {
		t.Errorf("auth disabled: %v", err)
	}
}

// memSource is an in-memory Source with the records an Apply sequence wrote.
type memSource map[string][]byte

func (m memSource) AuxScan(prefix []byte, fn func(k, v []byte) error) error {
	for _, k := range sortedKeys(m) {
		if len(k) >= len(prefix) && k[:len(prefix)] == string(prefix) {
			if err := fn([]byte(k), m[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestRecordsRoundTrip: the state loaded from the persisted records equals
// the state the changes built.
func TestRecordsRoundTrip(t *testing.T) {
	src := memSource{}
	st := NewState()
	for _, req := range []*pb.InternalRaftRequest{
		userAdd("root"), grantRole("root", RootRole), userAdd("u"), roleAdd("r"), roleAdd("s"),
		grantPerm("r", RW, "a", "b"), grantPerm("r", R, "z", "\x00"), grantRole("u", "r"), grantRole("u", "s"),
		{AuthRoleDelete: &pb.AuthRoleDeleteRequest{Role: "s"}}, enable,
		{AuthUserAdd: &pb.AuthUserAddRequest{Name: "cert", Options: &authpb.UserAddOptions{NoPassword: true}}},
	} {
		c, err := Apply(st, Info{User: "root", Revision: st.Revision}, req)
		if err != nil {
			t.Fatalf("%v: %v", req, err)
		}
		for _, w := range c.Writes {
			if w.Delete {
				delete(src, string(w.Key))
			} else {
				src[string(w.Key)] = w.Value
			}
		}
		if c.Next != nil {
			st = c.Next
		}
	}
	got, err := LoadState(src)
	if err != nil {
		t.Fatal(err)
	}
	if got.Enabled != st.Enabled || got.Revision != st.Revision {
		t.Fatalf("loaded enabled=%v rev=%d, built %v %d", got.Enabled, got.Revision, st.Enabled, st.Revision)
	}
	if len(got.users) != 3 || len(got.roles) != 1 || !got.User("cert").NoPassword || got.HasRole("u", "s") {
		t.Fatalf("loaded users %v roles %v", got.UserNames(), got.RoleNames())
	}
	if !got.perms["u"].allowed([]byte("zz"), []byte("\x00"), R) || got.perms["u"].allowed([]byte("zz"), nil, W) {
		t.Fatal("loaded permissions differ")
	}
}

// TestApplyRandomSequences applies random auth requests from random callers
// (nil fields, unknown names, bad ranges included): nothing panics, the
// revision never goes back, and the persisted records always load back into
// the state that was built.
func TestApplyRandomSequences(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	names := []string{"", "root", "a", "b"}
	keys := []string{"", "\x00", "a", "b", "z"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	randReq := func() *pb.InternalRaftRequest {
		switch rng.IntN(15) {
		case 0:
			return enable
		case 1:
			return disable
		case 2:
			return userAdd(pick(names))
		case 3:
			return &pb.InternalRaftRequest{AuthUserDelete: &pb.AuthUserDeleteRequest{Name: pick(names)}}
		case 4:
			return grantRole(pick(names), pick(names))
		case 5:
			return &pb.InternalRaftRequest{AuthUserRevokeRole: &pb.AuthUserRevokeRoleRequest{Name: pick(names), Role: pick(names)}}
		case 6:
			return roleAdd(pick(names))
		case 7:
			return &pb.InternalRaftRequest{AuthRoleDelete: &pb.AuthRoleDeleteRequest{Role: pick(names)}}
		case 8:
			return grantPerm(pick(names), authpb.Permission_Type(rng.IntN(4)), pick(keys), pick(keys))
		case 9:
			return &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: pick(names)}}
		case 10:
			return &pb.InternalRaftRequest{AuthRoleRevokePermission: &pb.AuthRoleRevokePermissionRequest{Role: pick(names), Key: []byte(pick(keys)), RangeEnd: []byte(pick(keys))}}
		case 11:
			return &pb.InternalRaftRequest{AuthUserGet: &pb.AuthUserGetRequest{Name: pick(names)}}
		case 12:
			return &pb.InternalRaftRequest{AuthRoleGet: &pb.AuthRoleGetRequest{Role: pick(names)}}
		case 13:
			return &pb.InternalRaftRequest{AuthUserChangePassword: &pb.AuthUserChangePasswordRequest{Name: pick(names), HashedPassword: "%%%"}}
		}
		return &pb.InternalRaftRequest{}
	}
	for run := 0; run < 50; run++ {
		src := memSource{}
		st := NewState()
		for i := 0; i < 60; i++ {
			ai := Info{User: pick(names), Revision: st.Revision}
			if rng.IntN(5) == 0 {
				ai.Revision = uint64(rng.IntN(4))
			}
			c, err := Apply(st, ai, randReq())
			if err != nil {
				var ae *Error
				if !errors.As(err, &ae) {
					t.Fatalf("seed %d: error %v is not an auth.Error", seed, err)
				}
				continue
			}
			for _, w := range c.Writes {
				if w.Delete {
					delete(src, string(w.Key))
				} else {
					src[string(w.Key)] = w.Value
				}
			}
			if c.Next != nil {
				if c.Next.Revision < st.Revision {
					t.Fatalf("seed %d: revision went back", seed)
				}
				st = c.Next
			}
			// Checks never panic either.
			_ = st.CheckRange(ai, []byte(pick(keys)), []byte(pick(keys)))
		}
		got, err := LoadState(src)
		if err != nil {
			t.Fatal(err)
		}
		if got.Enabled != st.Enabled || got.Revision != st.Revision ||
			fmt.Sprint(got.UserNames()) != fmt.Sprint(st.UserNames()) || fmt.Sprint(got.RoleNames()) != fmt.Sprint(st.RoleNames()) {
			t.Fatalf("seed %d: loaded state differs: %v %d %v %v / built %v %d %v %v", seed,
				got.Enabled, got.Revision, got.UserNames(), got.RoleNames(), st.Enabled, st.Revision, st.UserNames(), st.RoleNames())
		}
		for _, n := range st.UserNames() {
			if fmt.Sprint(got.User(n).Roles) != fmt.Sprint(st.User(n).Roles) {
				t.Fatalf("seed %d: user %q roles %v, built %v", seed, n, got.User(n).Roles, st.User(n).Roles)
			}
		}
	}
}
