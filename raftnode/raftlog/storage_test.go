package raftlog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

var _ raft.Storage = (*Log)(nil)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// cacheModes runs a test with the default cache, no cache (every read hits
// Pebble) and a cache too small for the whole log.
var cacheModes = []int64{0, -1, 30}

func openMem(t testing.TB, fs vfs.FS, cache int64) *Log {
	t.Helper()
	l, err := Open("/log", Options{FS: fs, CacheBytes: cache, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// newLog345 returns a log compacted to 3 (term 3) holding 4:4 and 5:5, the
// fixture raft's own storage tests use.
func newLog345(t *testing.T, cache int64) *Log {
	t.Helper()
	l := openMem(t, vfs.NewMem(), cache)
	if err := l.Save(nil, nil, snapshot(3, 3, 1, 2, 3)); err != nil {
		t.Fatal(err)
	}
	if err := l.Save(nil, []*raftpb.Entry{ent(4, 4, ""), ent(5, 5, "")}, nil); err != nil {
		t.Fatal(err)
	}
	return l
}

func forCache(t *testing.T, f func(t *testing.T, cache int64)) {
	for _, c := range cacheModes {
		t.Run(fmt.Sprintf("cache=%d", c), func(t *testing.T) { f(t, c) })
	}
}

func TestTerm(t *testing.T) {
	forCache(t, func(t *testing.T, cache int64) {
		l := newLog345(t, cache)
		for _, tt := range []struct {
			i    uint64
			term uint64
			err  error
		}{
			{2, 0, raft.ErrCompacted},
			{3, 3, nil},
			{4, 4, nil},
			{5, 5, nil},
			{6, 0, raft.ErrUnavailable},
		} {
			term, err := l.Term(tt.i)
			if err != tt.err || term != tt.term {
				t.Errorf("Term(%d) = %d, %v; want %d, %v", tt.i, term, err, tt.term, tt.err)
			}
		}
	})
}

func TestEntries(t *testing.T) {
	forCache(t, func(t *testing.T, cache int64) {
		l := newLog345(t, cache)
		if err := l.Save(nil, []*raftpb.Entry{ent(6, 6, ""), ent(7, 6, "")}, nil); err != nil {
			t.Fatal(err)
		}
		size := uint64(proto.Size(ent(4, 4, "")))
		all := []*raftpb.Entry{ent(4, 4, ""), ent(5, 5, ""), ent(6, 6, ""), ent(7, 6, "")}
		for _, tt := range []struct {
			lo, hi, max uint64
			want        []*raftpb.Entry
			err         error
		}{
			{2, 6, math.MaxUint64, nil, raft.ErrCompacted},
			{3, 4, math.MaxUint64, nil, raft.ErrCompacted},
			{4, 5, math.MaxUint64, all[:1], nil},
			{4, 8, math.MaxUint64, all, nil},
			{4, 9, math.MaxUint64, nil, raft.ErrUnavailable},
			{5, 7, math.MaxUint64, all[1:3], nil},
			// at least one entry, even past the limit
			{4, 8, 0, all[:1], nil},
			{4, 8, size, all[:1], nil},
			{4, 8, 2*size - 1, all[:1], nil},
			{4, 8, 2 * size, all[:2], nil},
			{4, 8, 3*size + 1, all[:3], nil},
			{6, 6, math.MaxUint64, nil, nil},
		} {
			got, err := l.Entries(tt.lo, tt.hi, tt.max)
			if err != tt.err {
				t.Errorf("Entries(%d, %d, %d) err = %v, want %v", tt.lo, tt.hi, tt.max, err, tt.err)
				continue
			}
			if len(got) != len(tt.want) {
				t.Errorf("Entries(%d, %d, %d) = %v, want %v", tt.lo, tt.hi, tt.max, got, tt.want)
				continue
			}
			for i := range got {
				if !proto.Equal(got[i], tt.want[i]) {
					t.Errorf("Entries(%d, %d, %d)[%d] = %v, want %v", tt.lo, tt.hi, tt.max, i, got[i], tt.want[i])
				}
			}
			// The caller owns the slice: appending must not disturb the log.
			_ = append(got, ent(99, 99, "x"))
		}
		if got, _ := l.Entries(4, 8, math.MaxUint64); len(got) != 4 || got[3].GetIndex() != 7 {
			t.Fatalf("log disturbed by appends to a returned slice: %v", got)
		}
	})
}

func TestEntriesOnlyDummy(t *testing.T) {
	l := openMem(t, vfs.NewMem(), 0)
	if _, err := l.Entries(1, 1, math.MaxUint64); err != raft.ErrUnavailable {
		t.Fatalf("empty log: Entries(1,1) err = %v, want ErrUnavailable", err)
	}
	if f, _ := l.FirstIndex(); f != 1 {
		t.Fatalf("FirstIndex of an empty log = %d, want 1", f)
	}
	if n, _ := l.LastIndex(); n != 0 {
		t.Fatalf("LastIndex of an empty log = %d, want 0", n)
	}
	if term, err := l.Term(0); term != 0 || err != nil {
		t.Fatalf("Term(0) = %d, %v; want 0, nil", term, err)
	}
	hs, cs, err := l.InitialState()
	if err != nil || !raft.IsEmptyHardState(hs) || len(cs.GetVoters()) != 0 {
		t.Fatalf("InitialState of an empty log = %v, %v, %v", hs, cs, err)
	}
}

func TestFirstLastIndex(t *testing.T) {
	forCache(t, func(t *testing.T, cache int64) {
		l := newLog345(t, cache)
		check := func(first, last uint64) {
			t.Helper()
			f, err1 := l.FirstIndex()
			n, err2 := l.LastIndex()
			if f != first || n != last || err1 != nil || err2 != nil {
				t.Fatalf("First/LastIndex = %d, %d (%v, %v); want %d, %d", f, n, err1, err2, first, last)
			}
		}
		check(4, 5)
		if err := l.Save(nil, []*raftpb.Entry{ent(6, 5, "")}, nil); err != nil {
			t.Fatal(err)
		}
		check(4, 6)
		if err := l.Compact(4); err != nil {
			t.Fatal(err)
		}
		check(5, 6)
		if err := l.Compact(6); err != nil {
			t.Fatal(err)
		}
		check(7, 6)
	})
}

func TestCompact(t *testing.T) {
	for _, tt := range []struct {
		i           uint64
		err         error
		first, term uint64
	}{
		{2, raft.ErrCompacted, 4, 3},
		{3, raft.ErrCompacted, 4, 3},
		{4, nil, 5, 4},
		{5, nil, 6, 5},
		{6, raft.ErrUnavailable, 4, 3},
	} {
		forCache(t, func(t *testing.T, cache int64) {
			l := newLog345(t, cache)
			err := l.Compact(tt.i)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("Compact(%d) = %v, want %v", tt.i, err, tt.err)
			}
			if f, _ := l.FirstIndex(); f != tt.first {
				t.Fatalf("after Compact(%d): FirstIndex %d, want %d", tt.i, f, tt.first)
			}
			if term, err := l.Term(tt.first - 1); err != nil || term != tt.term {
				t.Fatalf("after Compact(%d): Term(%d) = %d, %v; want %d", tt.i, tt.first-1, term, err, tt.term)
			}
			if _, err := l.Entries(tt.first-1, tt.first, math.MaxUint64); err != raft.ErrCompacted {
				t.Fatalf("after Compact(%d): Entries at the dummy err = %v, want ErrCompacted", tt.i, err)
			}
		})
	}
}

func TestCreateSnapshot(t *testing.T) {
	cs := &raftpb.ConfState{Voters: []uint64{1, 2, 3}}
	for _, tt := range []struct {
		i    uint64
		err  error
		term uint64
	}{
		{3, raft.ErrSnapOutOfDate, 0},
		{4, nil, 4},
		{5, nil, 5},
		{6, raft.ErrUnavailable, 0},
	} {
		forCache(t, func(t *testing.T, cache int64) {
			l := newLog345(t, cache)
			snap, err := l.CreateSnapshot(tt.i, cs, []byte("data"))
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("CreateSnapshot(%d) = %v, want %v", tt.i, err, tt.err)
			}
			if err != nil {
				return
			}
			got, _ := l.Snapshot()
			if got.GetMetadata().GetIndex() != tt.i || got.GetMetadata().GetTerm() != tt.term ||
				string(got.GetData()) != "data" || !confEqual(got.GetMetadata().GetConfState(), cs) {
				t.Fatalf("Snapshot() = %v", got)
			}
			if !proto.Equal(snap, got) {
				t.Fatalf("CreateSnapshot returned %v, Snapshot() %v", snap, got)
			}
			// The log itself is not compacted.
			if f, _ := l.FirstIndex(); f != 4 {
				t.Fatalf("FirstIndex %d after CreateSnapshot, want 4", f)
			}
		})
	}
}

func TestSave(t *testing.T) {
	forCache(t, func(t *testing.T, cache int64) {
		l := newLog345(t, cache)
		// Conflicting suffix: 5 is replaced, nothing after it survives.
		if err := l.Save(nil, []*raftpb.Entry{ent(6, 5, ""), ent(7, 5, ""), ent(8, 5, "")}, nil); err != nil {
			t.Fatal(err)
		}
		if err := l.Save(hardState(6, 1, 4), []*raftpb.Entry{ent(5, 6, "new")}, nil); err != nil {
			t.Fatal(err)
		}
		if n, _ := l.LastIndex(); n != 5 {
			t.Fatalf("LastIndex after a conflicting append = %d, want 5", n)
		}
		if term, _ := l.Term(5); term != 6 {
			t.Fatalf("Term(5) = %d, want 6", term)
		}
		// Entries at or below the compaction point are skipped.
		if err := l.Save(nil, []*raftpb.Entry{ent(2, 2, ""), ent(3, 3, ""), ent(4, 4, ""), ent(5, 6, "new"), ent(6, 6, "")}, nil); err != nil {
			t.Fatal(err)
		}
		if f, _ := l.FirstIndex(); f != 4 {
			t.Fatalf("FirstIndex = %d, want 4", f)
		}
		// A gap is refused and changes nothing.
		if err := l.Save(hardState(9, 9, 9), []*raftpb.Entry{ent(8, 6, "")}, nil); !errors.Is(err, ErrInvalidEntries) {
			t.Fatalf("gap: err = %v, want ErrInvalidEntries", err)
		}
		if err := l.Save(nil, []*raftpb.Entry{ent(7, 6, ""), ent(9, 6, "")}, nil); !errors.Is(err, ErrInvalidEntries) {
			t.Fatalf("non-contiguous: err = %v, want ErrInvalidEntries", err)
		}
		if hs, _, _ := l.InitialState(); hs.GetTerm() != 6 {
			t.Fatalf("hard state changed by a refused Save: %v", hs)
		}
		// A snapshot resets the log; entries after it in the same Save stay.
		if err := l.Save(hardState(7, 2, 20), []*raftpb.Entry{ent(21, 7, "a"), ent(22, 7, "b")}, snapshot(20, 7, 1, 2)); err != nil {
			t.Fatal(err)
		}
		if f, n := mustBounds(t, l); f != 21 || n != 22 {
			t.Fatalf("after snapshot: [%d, %d], want [21, 22]", f, n)
		}
		if term, _ := l.Term(20); term != 7 {
			t.Fatalf("Term(20) = %d, want 7", term)
		}
		// An older snapshot is refused.
		if err := l.Save(nil, nil, snapshot(15, 7)); err != raft.ErrSnapOutOfDate {
			t.Fatalf("old snapshot: err = %v, want ErrSnapOutOfDate", err)
		}
		// Empty parts write nothing.
		before := l.Metrics().Saves
		if err := l.Save(&raftpb.HardState{}, nil, &raftpb.Snapshot{}); err != nil {
			t.Fatal(err)
		}
		if l.Metrics().Saves != before {
			t.Fatal("an empty Save wrote a batch")
		}
		hs, cs, _ := l.InitialState()
		if hs.GetCommit() != 20 || !confEqual(cs, &raftpb.ConfState{Voters: []uint64{1, 2}}) {
			t.Fatalf("InitialState = %v, %v", hs, cs)
		}
	})
}

func mustBounds(t *testing.T, l *Log) (uint64, uint64) {
	t.Helper()
	f, err := l.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	n, err := l.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	return f, n
}

func TestReopen(t *testing.T) {
	fs := vfs.NewMem()
	l, err := Open("/log", Options{FS: fs, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Save(hardState(2, 1, 3), []*raftpb.Entry{ent(1, 1, "a"), ent(2, 2, "b"), ent(3, 2, "c")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateSnapshot(2, &raftpb.ConfState{Voters: []uint64{1}}, []byte("d")); err != nil {
		t.Fatal(err)
	}
	if err := l.Compact(1); err != nil {
		t.Fatal(err)
	}
	if err := l.SetMeta("cluster", []byte("c1")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.LastIndex(); !errors.Is(err, ErrClosed) {
		t.Fatalf("LastIndex after Close: %v, want ErrClosed", err)
	}
	if err := l.Save(hardState(3, 1, 3), nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Save after Close: %v, want ErrClosed", err)
	}
	l = openMem(t, fs, 0)
	if f, n := mustBounds(t, l); f != 2 || n != 3 {
		t.Fatalf("reopened bounds [%d, %d], want [2, 3]", f, n)
	}
	if term, _ := l.Term(1); term != 1 {
		t.Fatalf("reopened Term(1) = %d, want 1", term)
	}
	ents, err := l.Entries(2, 4, math.MaxUint64)
	if err != nil || len(ents) != 2 || string(ents[1].GetData()) != "c" {
		t.Fatalf("reopened Entries = %v, %v", ents, err)
	}
	hs, cs, _ := l.InitialState()
	if hs.GetCommit() != 3 || !confEqual(cs, &raftpb.ConfState{Voters: []uint64{1}}) {
		t.Fatalf("reopened InitialState = %v, %v", hs, cs)
	}
	if v, err := l.Meta("cluster"); err != nil || string(v) != "c1" {
		t.Fatalf("reopened Meta = %q, %v", v, err)
	}
}

func TestMeta(t *testing.T) {
	l := openMem(t, vfs.NewMem(), 0)
	if _, err := l.Meta("member"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Meta of a missing key: %v, want ErrNotFound", err)
	}
	if err := l.SetMeta("member", []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	v, err := l.Meta("member")
	if err != nil || string(v) != "\x01\x02" {
		t.Fatalf("Meta = %x, %v", v, err)
	}
	v[0] = 9 // the caller owns the copy
	if v, _ := l.Meta("member"); v[0] != 1 {
		t.Fatal("Meta returned a shared buffer")
	}
	if err := l.DeleteMeta("member"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Meta("member"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Meta after delete: %v, want ErrNotFound", err)
	}
	// Meta keys do not show up as entries.
	if n, _ := l.LastIndex(); n != 0 {
		t.Fatalf("LastIndex = %d after meta writes", n)
	}
}

func TestOpenRejectsForeignData(t *testing.T) {
	fs := vfs.NewMem()
	l := openMem(t, fs, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Overwrite the version with one from the future.
	db, err := openRaw(fs)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(keyVersion, encodeUint64(formatVersion+1), nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open("/log", Options{FS: fs, Logger: quietLogger()}); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("Open of a future format: %v, want ErrIncompatible", err)
	}
}

func TestOpenDetectsGap(t *testing.T) {
	fs := vfs.NewMem()
	l := openMem(t, fs, 0)
	if err := l.Save(nil, []*raftpb.Entry{ent(1, 1, ""), ent(2, 1, ""), ent(3, 1, "")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := openRaw(fs)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(entryKey(2), nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(entryKey(1), nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open("/log", Options{FS: fs, Logger: quietLogger()}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open of a log with a hole at its start: %v, want ErrCorrupt", err)
	}
}

// TestConcurrentReaders runs raft-like readers against a writer that appends,
// truncates and compacts, under the race detector. Readers must only ever see
// consistent answers: raft's sentinels or entries with the index asked for.
func TestConcurrentReaders(t *testing.T) {
	l := openMem(t, vfs.NewMem(), 200)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errc := make(chan error, 4)
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				first, _ := l.FirstIndex()
				last, _ := l.LastIndex()
				if last < first {
					continue
				}
				lo := first + (i*uint64(r+1))%(last-first+1)
				ents, err := l.Entries(lo, last+1, math.MaxUint64)
				if err == raft.ErrCompacted || err == raft.ErrUnavailable {
					continue
				}
				if err != nil {
					errc <- err
					return
				}
				for k, e := range ents {
					if e.GetIndex() != lo+uint64(k) {
						errc <- fmt.Errorf("Entries(%d) returned index %d at %d", lo, e.GetIndex(), k)
						return
					}
				}
				if _, err := l.Term(lo); err != nil && err != raft.ErrCompacted && err != raft.ErrUnavailable {
					errc <- err
					return
				}
			}
		}()
	}
	next := uint64(1)
	for i := range 300 {
		start := next
		if i%7 == 3 && next > 5 {
			start = next - 3 // conflict
		}
		ents := make([]*raftpb.Entry, 5)
		for k := range ents {
			ents[k] = ent(start+uint64(k), uint64(i+1), "payload")
		}
		if err := l.Save(hardState(uint64(i+1), 1, start), ents, nil); err != nil {
			t.Fatal(err)
		}
		next = start + 5
		if i%10 == 9 {
			if err := l.Compact(next - 8); err != nil && err != raft.ErrCompacted {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
}
