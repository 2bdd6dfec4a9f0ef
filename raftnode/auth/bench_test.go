package auth

import (
	"context"
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// benchState: a user with 10 roles of 10 prefix permissions each.
func benchState(b *testing.B) (*State, Info) {
	st := NewState()
	apply := func(req *pb.InternalRaftRequest) {
		c, err := Apply(st, Info{}, req)
		if err != nil {
			b.Fatal(err)
		}
		if c.Next != nil {
			st = c.Next
		}
	}
	apply(userAdd("u"))
	for r := 0; r < 10; r++ {
		role := fmt.Sprintf("r%d", r)
		apply(roleAdd(role))
		for p := 0; p < 10; p++ {
			k := fmt.Sprintf("/t%02d/p%02d/", r, p)
			apply(grantPerm(role, RW, k, k[:len(k)-1]+"0"))
		}
		apply(grantRole("u", role))
	}
	apply(userAdd("root"))
	apply(grantRole("root", RootRole))
	apply(enable)
	return st, Info{User: "u", Revision: st.Revision}
}

// BenchmarkCheckPut is the cost a write pays twice (where it is received
// and where it is applied) with auth on: a key against 100 merged prefixes.
func BenchmarkCheckPut(b *testing.B) {
	st, ai := benchState(b)
	req := &pb.InternalRaftRequest{Header: &pb.RequestHeader{}, Put: &pb.PutRequest{Key: []byte("/t05/p07/some/key"), Value: []byte("v")}}
	ai.SetHeader(req.Header)
	b.ReportAllocs()
	for b.Loop() {
		if err := st.CheckRequest(req, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckRange: a prefix read against 100 merged prefixes.
func BenchmarkCheckRange(b *testing.B) {
	st, ai := benchState(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := st.CheckRange(ai, []byte("/t05/p07/"), []byte("/t05/p070")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSimpleTokenLookup: resolving a simple token on every call.
func BenchmarkSimpleTokenLookup(b *testing.B) {
	s, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	tok := s.simple.assign("abcdefghijklmnop", 7, "u")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.InfoFromToken(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckPassword: the bcrypt comparison Authenticate pays, at
// etcd's default cost 10.
func BenchmarkCheckPassword(b *testing.B) {
	s, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	h, _ := s.HashPassword("pw")
	st := NewState()
	for _, req := range []*pb.InternalRaftRequest{
		{AuthUserAdd: &pb.AuthUserAddRequest{Name: "root", HashedPassword: h}}, grantRole("root", RootRole), enable,
	} {
		c, _ := Apply(st, Info{}, req)
		st = c.Next
	}
	s.state.Store(st)
	for b.Loop() {
		if _, err := s.CheckPassword("root", "pw"); err != nil {
			b.Fatal(err)
		}
	}
}
