package kvstore

import (
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

func TestMetricsCounts(t *testing.T) {
	fs := vfs.NewMem()
	s := openMem(t, fs)
	mustPut(t, s, "a", "1")
	mustPut(t, s, "a", "2") // overwrite: still one key
	mustPut(t, s, "b", "1")
	if _, err := s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("zz")}); err != nil { // deletes nothing
		t.Fatal(err)
	}
	get(t, s, "a", 0)
	if _, err := s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{
		{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("c"), Value: []byte("1")}}},
		{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a")}}},
	}}); err != nil {
		t.Fatal(err)
	}
	m := s.Metrics()
	want := Metrics{Keys: 2, Puts: 4, Deletes: 2, Ranges: 2, Txns: 1, CurrentRev: m.CurrentRev}
	if m.Keys != want.Keys || m.Puts != want.Puts || m.Deletes != want.Deletes || m.Ranges != want.Ranges || m.Txns != want.Txns {
		t.Fatalf("metrics %+v, want %+v", m, want)
	}
	if m.CurrentRev != 6 { // the first write is revision 2, as etcd
		t.Fatalf("current rev %d, want 6", m.CurrentRev)
	}
	s.Close()
	// Reopened: the key count is rebuilt from history; counters restart.
	s2 := openMem(t, fs)
	if m := s2.Metrics(); m.Keys != 2 || m.Puts != 0 {
		t.Fatalf("after reopen %+v, want 2 keys and no puts", m)
	}
}
