package raftlog

import (
	"fmt"
	"io"
	"log"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// TestRawNodeRoundTrip drives a real single-member raft.RawNode on a Log:
// bootstrap, elect, commit proposals, snapshot and compact, then restart
// from disk and go on. It checks the Log against raft's own expectations.
func TestRawNodeRoundTrip(t *testing.T) {
	fs := vfs.NewMem()
	var applied []string
	var appliedIndex uint64
	var cs *raftpb.ConfState

	run := func(l *Log, restart bool, proposals []string) {
		t.Helper()
		cfg := &raft.Config{
			ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: l,
			MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, Applied: appliedIndex,
			Logger: &raft.DefaultLogger{Logger: discardLogger()},
		}
		rn, err := raft.NewRawNode(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !restart {
			if err := rn.Bootstrap([]raft.Peer{{ID: 1}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := rn.Campaign(); err != nil {
			t.Fatal(err)
		}
		pending := proposals
		for step := 0; step < 1000; step++ {
			if rn.BasicStatus().RaftState == raft.StateLeader && len(pending) > 0 {
				if err := rn.Propose([]byte(pending[0])); err != nil {
					t.Fatal(err)
				}
				pending = pending[1:]
			}
			if !rn.HasReady() {
				if len(pending) == 0 && rn.BasicStatus().Applied == lastIndex(t, l) {
					return
				}
				rn.Tick()
				continue
			}
			rd := rn.Ready()
			if err := l.Save(rd.HardState, rd.Entries, rd.Snapshot); err != nil {
				t.Fatal(err)
			}
			for _, m := range rd.Messages {
				if m.GetTo() == 1 {
					_ = rn.Step(m)
				}
			}
			for _, e := range rd.CommittedEntries {
				switch e.GetType() {
				case raftpb.EntryNormal:
					if len(e.GetData()) > 0 {
						applied = append(applied, string(e.GetData()))
					}
				case raftpb.EntryConfChange:
					cc := &raftpb.ConfChange{}
					if err := proto.Unmarshal(e.GetData(), cc); err != nil {
						t.Fatal(err)
					}
					cs = rn.ApplyConfChange(cc)
				}
				appliedIndex = e.GetIndex()
			}
			rn.Advance(rd)
		}
		t.Fatalf("raft did not settle: status %+v, %d proposals pending", rn.BasicStatus(), len(pending))
	}

	l := openMem(t, fs, 0)
	run(l, false, []string{"a", "b", "c"})
	if _, err := l.CreateSnapshot(appliedIndex, cs, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Compact(appliedIndex); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openMem(t, fs, 0)
	hs, gotCS, err := l.InitialState()
	if err != nil || hs.GetCommit() != appliedIndex || !confEqual(gotCS, cs) {
		t.Fatalf("InitialState after restart = %v, %v, %v; want commit %d, %v", hs, gotCS, err, appliedIndex, cs)
	}
	run(l, true, []string{"d", "e"})
	if fmt.Sprint(applied) != "[a b c d e]" {
		t.Fatalf("applied %v", applied)
	}
	if hs, _, _ := l.InitialState(); hs.GetTerm() < 2 {
		t.Fatalf("term %d after a restart and a new election", hs.GetTerm())
	}
}

func lastIndex(t *testing.T, l *Log) uint64 {
	t.Helper()
	n, err := l.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
