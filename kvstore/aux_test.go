package kvstore

import (
	"bytes"
	"path/filepath"
	"testing"
)

func auxRecords(t *testing.T, s *Store, prefix string) map[string]string {
	t.Helper()
	got := map[string]string{}
	if err := s.AuxScan([]byte(prefix), func(k, v []byte) error {
		got[string(k)] = string(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestAuxRecords: written with the applied index (idempotent like Apply),
// scanned by prefix, out of the key space and its history, kept by a
// reopen and by Snapshot/Restore.
func TestAuxRecords(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "s"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ok, err := s.ApplyAux(5, []AuxWrite{{Key: []byte("x/a"), Value: []byte("1")}, {Key: []byte("x/b"), Value: []byte("2")}, {Key: []byte("y"), Value: []byte("3")}}, false)
	if !ok || err != nil || s.AppliedIndex() != 5 {
		t.Fatalf("ApplyAux: %v %v, applied %d", ok, err, s.AppliedIndex())
	}
	if ok, _ := s.ApplyAux(5, []AuxWrite{{Key: []byte("x/a"), Value: []byte("changed")}}, false); ok {
		t.Fatal("an index already applied was applied again")
	}
	if _, err := s.ApplyAux(6, []AuxWrite{{Key: []byte("x/b"), Delete: true}}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyAux(7, []AuxWrite{{Key: nil, Value: []byte("v")}}, false); err == nil {
		t.Fatal("empty key accepted")
	}
	if got := auxRecords(t, s, "x/"); len(got) != 1 || got["x/a"] != "1" {
		t.Fatalf("scan x/: %v", got)
	}
	if s.Rev() != 1 {
		t.Fatalf("aux records moved the revision to %d", s.Rev())
	}
	var snap bytes.Buffer
	if err := s.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(filepath.Join(dir, "s"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := auxRecords(t, s, ""); len(got) != 2 || got["y"] != "3" || s.AppliedIndex() != 6 {
		t.Fatalf("after reopen: %v, applied %d", got, s.AppliedIndex())
	}
	s.Close()
	if err := Restore(filepath.Join(dir, "r"), &snap, Options{}); err != nil {
		t.Fatal(err)
	}
	r, err := Open(filepath.Join(dir, "r"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := auxRecords(t, r, ""); len(got) != 2 || got["x/a"] != "1" {
		t.Fatalf("after restore: %v", got)
	}
}
