package chaos

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// CheckHashKV asks every member for HashKV at rev and requires one answer.
func CheckHashKV(ms []*Member, rev int64, v *Violations) string {
	var parts []string
	var first *clientv3.HashKVResponse
	differ := false
	for _, m := range ms {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		h, err := m.Client().HashKV(ctx, m.ClientURL, rev)
		cancel()
		if err != nil {
			v.Add("hashkv", "%s: HashKV(%d): %v", m.Name, rev, err)
			return ""
		}
		parts = append(parts, fmt.Sprintf("%s=%08x/compact %d", m.Name, h.Hash, h.CompactRevision))
		if first == nil {
			first = h
		} else if h.Hash != first.Hash || h.CompactRevision != first.CompactRevision {
			differ = true
		}
	}
	if differ {
		v.Add("hashkv", "members disagree on HashKV at revision %d: %s", rev, strings.Join(parts, " "))
	}
	return strings.Join(parts, " ")
}

// CheckFinalState reads every key from every member at revision rev
// (serializable: each member's own store) and compares with the reference
// state at rev; it also checks that each key's last acknowledged write is
// still there or overwritten by a later one. It returns how many keys it
// compared.
func CheckFinalState(ms []*Member, rev int64, ref *Reference, ops []Op, v *Violations) int {
	want := ref.StateAt(rev)
	// The revision of the last acknowledged write per key.
	lastAck := map[string]int64{}
	for _, op := range ops {
		if op.Err != "" || op.Kind == OpGet || op.Kind == OpRange || (op.Kind == OpCAS && !op.OK) {
			continue
		}
		if op.Rev > lastAck[op.Key] {
			lastAck[op.Key] = op.Rev
		}
	}
	n := 0
	for _, m := range ms {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r, err := m.Client().Get(ctx, "\x00", clientv3.WithFromKey(), clientv3.WithSerializable(), clientv3.WithRev(rev))
		cancel()
		if err != nil {
			v.Add("final-state", "%s: read everything at revision %d: %v", m.Name, rev, err)
			continue
		}
		got := map[string]KV{}
		for _, kv := range r.Kvs {
			got[string(kv.Key)] = toKV(kv)
		}
		var keys []string
		for k := range want {
			keys = append(keys, k)
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			n++
			g, gok := got[k]
			w, wok := want[k]
			switch {
			case !gok:
				v.Add("final-state", "%s: key %s missing at revision %d; the history has %q (mod %d)", m.Name, k, rev, w.Value, w.ModRev)
			case !wok:
				v.Add("final-state", "%s: key %s=%q (mod %d) at revision %d is not in the history", m.Name, k, g.Value, g.ModRev, rev)
			case g != w:
				v.Add("final-state", "%s: key %s at revision %d is %+v, the history says %+v", m.Name, k, rev, g, w)
			}
		}
		for k, ackRev := range lastAck {
			g, ok := got[k]
			// A key whose last acknowledged write was a delete may be absent.
			if ok && g.ModRev < ackRev {
				v.Add("acked-writes", "%s: key %s last modified at %d, before its acknowledged write at revision %d", m.Name, k, g.ModRev, ackRev)
			}
			if !ok && want[k].ModRev >= ackRev && want[k].Key != "" {
				v.Add("acked-writes", "%s: key %s is gone; it was written at %d", m.Name, k, ackRev)
			}
		}
	}
	return n
}
