package raftlog

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// This file holds the reference model used by the property and crash tests:
// a generator of random but valid operations, which it also applies to a
// raft.MemoryStorage, and a comparison of a Log against that model.

func ent(index, term uint64, data string) *raftpb.Entry {
	e := &raftpb.Entry{Index: new(index), Term: new(term)}
	if data != "" {
		e.Data = []byte(data)
	}
	return e
}

func hardState(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

func snapshot(index, term uint64, voters ...uint64) *raftpb.Snapshot {
	return &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{
		Index: new(index), Term: new(term),
		ConfState: &raftpb.ConfState{Voters: voters},
	}}
}

type opKind int

const (
	opSave opKind = iota
	opCompact
	opCreateSnapshot
	opReopen
)

// op is one operation on the log.
type op struct {
	kind opKind
	hs   *raftpb.HardState
	ents []*raftpb.Entry
	snap *raftpb.Snapshot
	// index is the compaction or snapshot index.
	index uint64
	cs    *raftpb.ConfState
	data  []byte
}

func (o op) String() string {
	switch o.kind {
	case opSave:
		s := "save("
		if o.snap != nil {
			s += fmt.Sprintf("snap %d:%d ", o.snap.GetMetadata().GetIndex(), o.snap.GetMetadata().GetTerm())
		}
		if len(o.ents) > 0 {
			s += fmt.Sprintf("ents %d..%d:%d ", o.ents[0].GetIndex(), o.ents[len(o.ents)-1].GetIndex(), o.ents[0].GetTerm())
		}
		if o.hs != nil {
			s += fmt.Sprintf("hs %d/%d/%d", o.hs.GetTerm(), o.hs.GetVote(), o.hs.GetCommit())
		}
		return s + ")"
	case opCompact:
		return fmt.Sprintf("compact(%d)", o.index)
	case opCreateSnapshot:
		return fmt.Sprintf("createSnapshot(%d)", o.index)
	default:
		return "reopen"
	}
}

// gen produces random valid operations and applies them to its model.
type gen struct {
	r      *rand.Rand
	m      *raft.MemoryStorage
	term   uint64
	reopen bool // whether to produce opReopen
}

func newGen(seed uint64, reopen bool) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), m: raft.NewMemoryStorage(), term: 1, reopen: reopen}
}

func (g *gen) data() string {
	n := g.r.IntN(300)
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + g.r.IntN(26))
	}
	return string(b)
}

// small returns up to n-1 random bytes (nil for none).
func (g *gen) small(n int) []byte {
	k := g.r.IntN(n)
	if k == 0 {
		return nil
	}
	b := make([]byte, k)
	for i := range b {
		b[i] = byte(g.r.IntN(256))
	}
	return b
}

func (g *gen) entries(start uint64, n int) []*raftpb.Entry {
	ents := make([]*raftpb.Entry, n)
	for i := range ents {
		ents[i] = ent(start+uint64(i), g.term, g.data())
		if g.r.IntN(10) == 0 {
			ents[i].Type = raftpb.EntryConfChange.Enum()
		}
	}
	return ents
}

func (g *gen) next() op {
	first, _ := g.m.FirstIndex()
	last, _ := g.m.LastIndex()
	snap, _ := g.m.Snapshot()
	snapIdx := snap.GetMetadata().GetIndex()
	if g.r.IntN(3) == 0 {
		g.term++
	}
	var o op
	switch p := g.r.IntN(100); {
	case p < 50: // entries, maybe with hard state
		lo := max(first, 3) - 2 // sometimes below first: skipped entries
		start := lo + g.r.Uint64N(last+2-lo)
		if g.r.IntN(2) == 0 {
			start = last + 1 // plain append is the common case
		}
		o = op{kind: opSave, ents: g.entries(start, g.r.IntN(9))}
		if g.r.IntN(2) == 0 {
			o.hs = hardState(g.term, g.r.Uint64N(4), g.r.Uint64N(last+2))
		}
	case p < 62:
		o = op{kind: opSave, hs: hardState(g.term, g.r.Uint64N(4), g.r.Uint64N(last+2))}
	case p < 74:
		if last <= first-1 {
			return g.next()
		}
		o = op{kind: opCompact, index: first + g.r.Uint64N(last-first+1)}
	case p < 82: // snapshot from a leader, maybe with entries and hard state
		idx := max(snapIdx, last-min(last, 5)) + 1 + g.r.Uint64N(10)
		o = op{kind: opSave, snap: snapshot(idx, g.term, 1+g.r.Uint64N(3), 4)}
		o.snap.Data = g.small(10)
		if g.r.IntN(2) == 0 {
			o.ents = g.entries(idx+1, g.r.IntN(4))
		}
		if g.r.IntN(2) == 0 {
			o.hs = hardState(g.term, 1, idx)
		}
	case p < 92:
		lo := max(first-1, snapIdx+1)
		if lo > last {
			return g.next()
		}
		o = op{kind: opCreateSnapshot, index: lo + g.r.Uint64N(last-lo+1), data: g.small(20)}
		if g.r.IntN(2) == 0 {
			o.cs = &raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{g.r.Uint64N(9) + 4}}
		}
	default:
		if !g.reopen {
			return g.next()
		}
		o = op{kind: opReopen}
	}
	if err := applyModel(g.m, o); err != nil {
		panic(fmt.Sprintf("generator made an invalid op %v: %v", o, err))
	}
	return o
}

// applyModel applies o to a MemoryStorage the way Log applies it.
func applyModel(m *raft.MemoryStorage, o op) error {
	switch o.kind {
	case opSave:
		if o.snap != nil {
			if err := m.ApplySnapshot(o.snap); err != nil {
				return err
			}
		}
		if err := m.Append(o.ents); err != nil {
			return err
		}
		if o.hs != nil {
			return m.SetHardState(o.hs)
		}
	case opCompact:
		return m.Compact(o.index)
	case opCreateSnapshot:
		_, err := m.CreateSnapshot(o.index, o.cs, o.data)
		return err
	}
	return nil
}

// applyLog applies o to l (except reopen, which the caller handles).
func applyLog(l *Log, o op) error {
	switch o.kind {
	case opSave:
		return l.Save(o.hs, o.ents, o.snap)
	case opCompact:
		return l.Compact(o.index)
	case opCreateSnapshot:
		_, err := l.CreateSnapshot(o.index, o.cs, o.data)
		return err
	}
	return nil
}

// diffModel compares every observable of l with m; r picks the Entries
// ranges to probe.
func diffModel(m *raft.MemoryStorage, l *Log, r *rand.Rand) error {
	mf, _ := m.FirstIndex()
	ml, _ := m.LastIndex()
	lf, err := l.FirstIndex()
	if err != nil {
		return err
	}
	ll, err := l.LastIndex()
	if err != nil {
		return err
	}
	if mf != lf || ml != ll {
		return fmt.Errorf("bounds: model [%d, %d], log [%d, %d]", mf, ml, lf, ll)
	}
	// Terms over the whole range (bounded), and just outside it.
	lo := mf - 1
	if ml-lo > 200 {
		lo = ml - 200
	}
	for i := lo; i <= ml; i++ {
		mt, merr := m.Term(i)
		lt, lerr := l.Term(i)
		if mt != lt || merr != lerr {
			return fmt.Errorf("Term(%d): model %d/%v, log %d/%v", i, mt, merr, lt, lerr)
		}
	}
	if mf >= 2 {
		if _, err := l.Term(mf - 2); err != raft.ErrCompacted {
			return fmt.Errorf("Term(%d) below the log: %v, want ErrCompacted", mf-2, err)
		}
	}
	if _, err := l.Term(ml + 1); err != raft.ErrUnavailable {
		return fmt.Errorf("Term(%d) past the log: %v, want ErrUnavailable", ml+1, err)
	}
	// Entries: compacted, whole, and random ranges with random limits.
	if _, err := l.Entries(mf-1, ml+1, math.MaxUint64); err != raft.ErrCompacted {
		return fmt.Errorf("Entries from the dummy: %v, want ErrCompacted", err)
	}
	type rng struct{ lo, hi, max uint64 }
	probes := []rng{{mf, ml + 1, math.MaxUint64}, {mf, ml + 1, 0}}
	for range 4 {
		a := mf + r.Uint64N(ml-mf+2)
		b := a + r.Uint64N(ml+2-a)
		probes = append(probes, rng{a, b, r.Uint64N(2000)})
	}
	for _, p := range probes {
		me, merr := m.Entries(p.lo, p.hi, p.max)
		le, lerr := l.Entries(p.lo, p.hi, p.max)
		if merr != lerr {
			return fmt.Errorf("Entries(%d, %d, %d): model err %v, log err %v", p.lo, p.hi, p.max, merr, lerr)
		}
		if len(me) != len(le) {
			return fmt.Errorf("Entries(%d, %d, %d): model %d entries, log %d", p.lo, p.hi, p.max, len(me), len(le))
		}
		for i := range me {
			if !proto.Equal(me[i], le[i]) {
				return fmt.Errorf("Entries(%d, %d, %d)[%d]: model %v, log %v", p.lo, p.hi, p.max, i, me[i], le[i])
			}
		}
	}
	ms, _ := m.Snapshot()
	ls, err := l.Snapshot()
	if err != nil {
		return err
	}
	if err := snapDiff(ms, ls); err != nil {
		return err
	}
	mhs, mcs, _ := m.InitialState()
	lhs, lcs, err := l.InitialState()
	if err != nil {
		return err
	}
	if mhs.GetTerm() != lhs.GetTerm() || mhs.GetVote() != lhs.GetVote() || mhs.GetCommit() != lhs.GetCommit() {
		return fmt.Errorf("hard state: model %v, log %v", mhs, lhs)
	}
	if !confEqual(mcs, lcs) {
		return fmt.Errorf("conf state: model %v, log %v", mcs, lcs)
	}
	return nil
}

func snapDiff(a, b *raftpb.Snapshot) error {
	am, bm := a.GetMetadata(), b.GetMetadata()
	if am.GetIndex() != bm.GetIndex() || am.GetTerm() != bm.GetTerm() ||
		!bytes.Equal(a.GetData(), b.GetData()) || !confEqual(am.GetConfState(), bm.GetConfState()) {
		return fmt.Errorf("snapshot: model %v, log %v", a, b)
	}
	return nil
}

// confEqual compares conf states, treating unset and zero fields alike.
func confEqual(a, b *raftpb.ConfState) bool {
	a = raftpb.EnsureConfState(proto.Clone(raftpb.EnsureConfState(a)).(*raftpb.ConfState))
	b = raftpb.EnsureConfState(proto.Clone(raftpb.EnsureConfState(b)).(*raftpb.ConfState))
	return proto.Equal(a, b)
}
