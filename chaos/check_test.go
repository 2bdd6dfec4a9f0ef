package chaos

import (
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// The checks must catch what they claim to catch: each is fed a small
// history with one known defect.

func put(key, val string, rev, create, ver int64, prev *KV) Event {
	return Event{Put: true, KV: KV{Key: key, Value: val, CreateRev: create, ModRev: rev, Version: ver}, Rev: rev, PrevKV: prev}
}

func del(key string, rev int64, prev *KV) Event {
	return Event{KV: KV{Key: key, ModRev: rev}, Rev: rev, PrevKV: prev}
}

func kvp(key, val string, rev, create, ver int64) *KV {
	return &KV{Key: key, Value: val, CreateRev: create, ModRev: rev, Version: ver}
}

// goodHistory: kv/a=a1@2, kv/b=b1@3, kv/a=a2@4, delete kv/b@5, kv/a=a3
// and kv/c=c1 @6.
func goodHistory() []Segment {
	return []Segment{{StartRev: 1, Responses: []WatchResp{
		{At: 10, HeaderRev: 3, Events: []Event{put("kv/a", "a1", 2, 2, 1, nil), put("kv/b", "b1", 3, 3, 1, nil)}},
		{At: 20, HeaderRev: 4, Events: []Event{put("kv/a", "a2", 4, 2, 2, kvp("kv/a", "a1", 2, 2, 1))}},
		{At: 30, HeaderRev: 5, Events: []Event{del("kv/b", 5, kvp("kv/b", "b1", 3, 3, 1))}},
		{At: 40, HeaderRev: 6, Events: []Event{put("kv/a", "a3", 6, 2, 3, kvp("kv/a", "a2", 4, 2, 2)), put("kv/c", "c1", 6, 6, 1, nil)}},
	}}}
}

func TestReferenceAcceptsGoodHistory(t *testing.T) {
	v := &Violations{}
	ref := BuildReference(goodHistory(), v)
	if v.Total() != 0 {
		t.Fatalf("violations in a good history:\n%s", v)
	}
	if ref.Last != 6 || len(ref.Events) != 6 {
		t.Fatalf("reference: last %d, %d events", ref.Last, len(ref.Events))
	}
	if st := ref.StateAt(5); len(st) != 1 || st["kv/a"].Value != "a2" {
		t.Fatalf("state at 5: %v", st)
	}
}

func TestReferenceCatches(t *testing.T) {
	for name, mutate := range map[string]func(h []Segment){
		"gap": func(h []Segment) { h[0].Responses = append(h[0].Responses[:1], h[0].Responses[2:]...) },
		"split": func(h []Segment) {
			r := h[0].Responses[3]
			h[0].Responses[3].Events = r.Events[:1]
			h[0].Responses = append(h[0].Responses, WatchResp{At: 50, HeaderRev: 6, Events: r.Events[1:]})
		},
		"version":  func(h []Segment) { h[0].Responses[1].Events[0].KV.Version = 7 },
		"prev":     func(h []Segment) { h[0].Responses[1].Events[0].PrevKV = nil },
		"phantom":  func(h []Segment) { h[0].Responses[2].Events[0].KV.Key = "kv/zz" },
		"dup":      func(h []Segment) { h[0].Responses = append(h[0].Responses, h[0].Responses[3]) },
		"backward": func(h []Segment) { h[0].Responses[2], h[0].Responses[3] = h[0].Responses[3], h[0].Responses[2] },
	} {
		h := goodHistory()
		mutate(h)
		v := &Violations{}
		BuildReference(h, v)
		if v.Total() == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
}

func TestWatchCheckCatches(t *testing.T) {
	ref := BuildReference(goodHistory(), &Violations{})
	good := func() []Segment {
		h := goodHistory()
		h[0].StartRev = 3
		h[0].Responses[0].Events = h[0].Responses[0].Events[1:] // from revision 3
		return h
	}
	v := &Violations{}
	CheckWatcher(good(), "w", "kv/", true, ref, nil, 6, nil, v, &WatchStats{})
	if v.Total() != 0 {
		t.Fatalf("violations in a good watch:\n%s", v)
	}
	// inPlace adapts a mutation that edits the history without growing it.
	inPlace := func(f func([]Segment)) func([]Segment) []Segment {
		return func(h []Segment) []Segment { f(h); return h }
	}
	cases := map[string]func(h []Segment) []Segment{
		"missed": inPlace(func(h []Segment) { h[0].Responses[2].Events = nil }),
		"dup": inPlace(func(h []Segment) {
			h[0].Responses[1].Events = append(h[0].Responses[1].Events, h[0].Responses[1].Events[0])
		}),
		"altered":  inPlace(func(h []Segment) { h[0].Responses[1].Events[0].KV.Value = "x" }),
		"prev":     inPlace(func(h []Segment) { h[0].Responses[1].Events[0].PrevKV = kvp("kv/a", "a0", 1, 1, 1) }),
		"split":    inPlace(func(h []Segment) { h[0].Responses[3].Events = h[0].Responses[3].Events[:1] }),
		"short":    inPlace(func(h []Segment) { h[0].Responses = h[0].Responses[:3] }),
		"before":   inPlace(func(h []Segment) { h[0].StartRev = 4 }),
		"progress": inPlace(func(h []Segment) { h[0].Responses[2] = WatchResp{HeaderRev: 5, Progress: true} }),
		"progress-behind": inPlace(func(h []Segment) {
			h[0].Responses = append(h[0].Responses[:2], append([]WatchResp{{HeaderRev: 3, Progress: true}}, h[0].Responses[2:]...)...)
		}),
		"compacted-wrongly": func(h []Segment) []Segment {
			h[0].Responses = append(h[0].Responses[:2], WatchResp{CompactRev: 4, Canceled: true})
			h[0].Ended = "compacted"
			return append(h, Segment{StartRev: 4}) // and resumed at 4
		},
	}
	for name, mutate := range cases {
		h := mutate(good())
		v := &Violations{}
		CheckWatcher(h, "w", "kv/", true, ref, map[int64]bool{4: true}, 6, nil, v, &WatchStats{})
		if v.Total() == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
	// A legitimate compaction: the watcher at revision 3 is told that 5 is
	// compacted and resumes from 5.
	h := []Segment{
		{StartRev: 3, Responses: []WatchResp{{CompactRev: 5, Canceled: true}}, Ended: "compacted"},
		{StartRev: 5, Responses: goodHistory()[0].Responses[2:]},
	}
	v = &Violations{}
	CheckWatcher(h, "w", "kv/", true, ref, map[int64]bool{5: true}, 6, nil, v, &WatchStats{})
	if v.Total() != 0 {
		t.Fatalf("violations in a good resumption after compaction:\n%s", v)
	}
}

func TestLinearizabilityCheckCatchesStaleRead(t *testing.T) {
	ref := BuildReference(goodHistory(), &Violations{})
	ops := []Op{
		{Client: 0, Kind: OpPut, Key: "kv/x", Value: "v1", Call: 0, Return: 10, Rev: 7},
		{Client: 0, Kind: OpPut, Key: "kv/x", Value: "v2", Call: 20, Return: 30, Rev: 8},
		{Client: 1, Kind: OpGet, Key: "kv/x", Found: "v1", Call: 40, Return: 50, Rev: 8},
	}
	v := &Violations{}
	st := &LinStats{}
	CheckLinearizable(ops, ref, 10*time.Second, "", v, st)
	if st.Result != porcupine.Illegal || v.Total() == 0 {
		t.Fatalf("stale read: result %s, %d violations", st.Result, v.Total())
	}
	ops[2].Found = "v2"
	v = &Violations{}
	CheckLinearizable(ops, ref, 10*time.Second, "", v, st)
	if st.Result != porcupine.Ok {
		t.Fatalf("good history: %s\n%s", st.Result, v)
	}
	// A revision that goes backwards in real time.
	ops[2].Rev = 7
	v = &Violations{}
	CheckRevisionOrder(ops, v)
	if v.Total() == 0 {
		t.Fatalf("revision going backwards not caught")
	}
}

func TestLeaseCheckCatchesEarlyExpiry(t *testing.T) {
	sec := int64(time.Second)
	h := []Segment{{StartRev: 1, Responses: []WatchResp{
		{At: 1 * sec, Events: []Event{put("lse/a", "x", 2, 2, 1, nil)}},
		{At: 2 * sec, Events: []Event{del("lse/a", 3, kvp("lse/a", "x", 2, 2, 1))}},
	}}}
	ref := BuildReference(h, &Violations{})
	l := LeaseRec{ID: 1, TTL: 5, Key: "lse/a", GrantCall: 0, GrantReturn: sec / 2, PutReturn: sec,
		Reads: []LeaseRead{{Call: 2 * sec, Return: 2*sec + 1, Found: false}}}
	v := &Violations{}
	CheckLeases([]LeaseRec{l}, ref, v, &LeaseStats{})
	if v.Total() != 2 { // the read, and the deletion's time
		t.Fatalf("early expiry: %d violations, want 2:\n%s", v.Total(), v)
	}
}

// TestProxy: a partition stalls a link, healing resumes it, a delay
// delays, and the proxy knows which process dialled.
func TestProxy(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	var seen []string
	n := NewNetwork(func(remote, local *net.TCPAddr) string {
		who := socketOwner(remote, local, map[string]int{"me": os.Getpid()})
		seen = append(seen, who)
		return who
	})
	defer n.Close()
	p, err := n.AddProxy("b", echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip := func(timeout time.Duration) (time.Duration, bool) {
		start := time.Now()
		c.SetDeadline(time.Now().Add(timeout))
		if _, err := c.Write([]byte("ping")); err != nil {
			return 0, false
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
			return 0, false
		}
		return time.Since(start), true
	}
	if _, ok := roundTrip(5 * time.Second); !ok {
		t.Fatal("no echo through a healthy proxy")
	}
	if len(seen) != 1 || seen[0] != "me" {
		t.Errorf("dialler identified as %q, want me", seen)
	}
	n.Block("me", "b")
	if _, ok := roundTrip(300 * time.Millisecond); ok {
		t.Fatal("echo through a blocked link")
	}
	n.Heal()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4) // the ping held during the block arrives now
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("held bytes after healing: %q %v", buf, err)
	}
	n.Delay("*", "b", 200*time.Millisecond)
	if d, ok := roundTrip(5 * time.Second); !ok || d < 200*time.Millisecond {
		t.Fatalf("delayed round trip took %v (ok %v), want at least 200ms", d, ok)
	}
	n.Heal()
	if cut := n.Cut("*", "b"); cut != 1 {
		t.Fatalf("cut %d connections, want 1", cut)
	}
	if _, ok := roundTrip(time.Second); ok {
		t.Fatal("echo on a cut connection")
	}
	if !strings.Contains(n.String(), "healthy") {
		t.Fatalf("network after heal: %s", n)
	}
}
