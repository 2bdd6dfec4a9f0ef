package chaos

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

// The linearizability check: every get, put, cas and delete on a key is
// checked with porcupine against a register per key ("" = absent).
//
// An operation that returned an error has an unknown outcome. Values (and
// delete markers) are unique, so the reference history tells whether it
// took effect and at which revision: one that did not is left out (it
// changed nothing and returned nothing); one that did must be linearized
// before the recorder received its revision, which becomes its return
// time. This keeps porcupine's search small. If the check fails, it is
// repeated without that help (unknown operations may then take effect any
// time after their call), so a failure does not rest on the watch history
// alone.

type linInput struct {
	Op     OpKind
	Key    string
	Value  string // put, cas
	Expect string // cas
	PrevKV bool   // put: output carries the previous value
}

type linOutput struct {
	Unknown bool   // outcome unknown (unresolved): anything goes
	Applied bool   // resolved from the history: it took effect (output values unknown)
	Found   string // get, failed cas, put with prevKV
	OK      bool   // cas
	Deleted int64  // delete
}

var linModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(linInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(string), input.(linInput), output.(linOutput)
		blind := out.Unknown || out.Applied
		switch in.Op {
		case OpGet:
			return out.Unknown || out.Found == st, st
		case OpPut:
			return blind || !in.PrevKV || out.Found == st, in.Value
		case OpCAS:
			holds := st == in.Expect
			switch {
			case out.Unknown:
				if holds {
					return true, in.Value
				}
				return true, st
			case out.Applied, out.OK:
				return holds, in.Value
			default:
				return !holds && out.Found == st, st
			}
		case OpDelete:
			if out.Unknown {
				return true, ""
			}
			want := int64(0)
			if st != "" {
				want = 1
			}
			return out.Deleted == want, ""
		}
		return false, st
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		res := ""
		switch {
		case out.Unknown:
			res = "unknown"
		case out.Applied:
			res = "applied (error returned)"
		case in.Op == OpGet:
			res = fmt.Sprintf("%q", out.Found)
		case in.Op == OpCAS && out.OK:
			res = "ok"
		case in.Op == OpCAS:
			res = fmt.Sprintf("failed, found %q", out.Found)
		case in.Op == OpDelete:
			res = fmt.Sprintf("deleted %d", out.Deleted)
		case in.Op == OpPut && in.PrevKV:
			res = fmt.Sprintf("ok, prev %q", out.Found)
		default:
			res = "ok"
		}
		switch in.Op {
		case OpGet:
			return fmt.Sprintf("get(%s) -> %s", in.Key, res)
		case OpPut:
			return fmt.Sprintf("put(%s, %s) -> %s", in.Key, in.Value, res)
		case OpDelete:
			return fmt.Sprintf("delete(%s) -> %s", in.Key, res)
		default:
			return fmt.Sprintf("cas(%s, %q -> %s) -> %s", in.Key, in.Expect, in.Value, res)
		}
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state) },
}

// LinStats counts what the linearizability check examined.
type LinStats struct {
	Ops, Failed, ResolvedApplied, ResolvedNotApplied, Unresolved int
	Result                                                       porcupine.CheckResult
	RawResult                                                    porcupine.CheckResult // only when Result was Illegal
	Duration                                                     time.Duration
}

// toPorcupine converts the single-key operations. With ref != nil,
// operations of unknown outcome are resolved from the reference.
func toPorcupine(ops []Op, ref *Reference, st *LinStats) []porcupine.Operation {
	var out []porcupine.Operation
	var last int64
	for _, op := range ops {
		if op.Return > last {
			last = op.Return
		}
	}
	for _, op := range ops {
		if op.Kind == OpRange {
			continue
		}
		in := linInput{Op: op.Kind, Key: op.Key, Value: op.Value, Expect: op.Expect, PrevKV: op.PrevKV}
		o := linOutput{Found: op.Found, OK: op.OK, Deleted: op.Deleted}
		ret := op.Return
		if op.Err != "" {
			if st != nil {
				st.Failed++
			}
			if op.Kind == OpGet {
				continue // no effect, nothing learnt
			}
			o = linOutput{Unknown: true}
			ret = last + 1
			if ref != nil {
				id := op.Value
				if op.Kind == OpDelete {
					id = op.Marker
				}
				rev, applied := ref.ValueRev(id)
				if !applied {
					if st != nil {
						st.ResolvedNotApplied++
					}
					continue
				}
				o = linOutput{Applied: true}
				if op.Kind == OpDelete {
					o = linOutput{Deleted: 0}
					for _, e := range ref.EventsAt(rev) {
						if !e.Put && e.KV.Key == op.Key {
							o.Deleted = 1
						}
					}
				}
				if t, ok := ref.RecvAt(rev); ok && t > op.Call {
					ret = t
				}
				if st != nil {
					st.ResolvedApplied++
				}
			} else if st != nil {
				st.Unresolved++
			}
		}
		if st != nil {
			st.Ops++
		}
		out = append(out, porcupine.Operation{ClientId: op.Client + 1, Input: in, Call: op.Call, Output: o, Return: ret})
	}
	return out
}

// CheckLinearizable runs porcupine over the history. On a violation it
// writes the history (JSON) and porcupine's visualization (HTML) into dir
// and returns their paths.
func CheckLinearizable(ops []Op, ref *Reference, timeout time.Duration, dir string, v *Violations, st *LinStats) []string {
	start := time.Now()
	hist := toPorcupine(ops, ref, st)
	res, info := porcupine.CheckOperationsVerbose(linModel, hist, timeout)
	st.Result = res
	st.Duration = time.Since(start)
	if res == porcupine.Ok {
		return nil
	}
	var files []string
	if dir != "" {
		html := filepath.Join(dir, "linearizability.html")
		if err := porcupine.VisualizePath(linModel, info, html); err == nil {
			files = append(files, html)
		}
		js := filepath.Join(dir, "history.json")
		if b, err := json.MarshalIndent(ops, "", " "); err == nil && os.WriteFile(js, b, 0o644) == nil {
			files = append(files, js)
		}
	}
	if res == porcupine.Unknown {
		v.Add("linearizability", "porcupine timed out after %v (inconclusive; history in %v)", timeout, files)
		return files
	}
	raw, _ := porcupine.CheckOperationsVerbose(linModel, toPorcupine(ops, nil, nil), timeout)
	st.RawResult = raw
	v.Add("linearizability", "history is not linearizable (without resolving unknown outcomes from the watch history: %s); see %v", raw, files)
	return files
}

// CheckRevisionOrder checks that revisions respect real time: an operation
// that starts after another returned sees at least its revision (a write
// gets a greater one). Serializable reads are exempt.
func CheckRevisionOrder(ops []Op, v *Violations) int {
	var done []Op
	for _, op := range ops {
		if op.Err == "" && op.Rev > 0 && !op.Serializable {
			done = append(done, op)
		}
	}
	byReturn := append([]Op(nil), done...)
	sort.Slice(byReturn, func(i, j int) bool { return byReturn[i].Return < byReturn[j].Return })
	sort.Slice(done, func(i, j int) bool { return done[i].Call < done[j].Call })
	var maxRev int64
	var maxOp Op
	j := 0
	for _, op := range done {
		for j < len(byReturn) && byReturn[j].Return < op.Call {
			if byReturn[j].Rev > maxRev {
				maxRev, maxOp = byReturn[j].Rev, byReturn[j]
			}
			j++
		}
		write := op.Kind == OpPut || op.Kind == OpDelete || (op.Kind == OpCAS && op.OK)
		if op.Rev < maxRev || (write && op.Rev == maxRev) {
			v.Add("revision-order", "client %d %s %s at revision %d started after client %d's %s %s returned revision %d",
				op.Client, op.Kind, op.Key, op.Rev, maxOp.Client, maxOp.Kind, maxOp.Key, maxRev)
		}
	}
	return len(done)
}

// CheckAckedWrites checks that every acknowledged write is in the
// reference at the revision it was acknowledged with, and that writes
// that failed appear at most once (values are unique by construction).
func CheckAckedWrites(ops []Op, ref *Reference, v *Violations) int {
	n := 0
	for _, op := range ops {
		if op.Err != "" {
			continue
		}
		var id string
		switch {
		case op.Kind == OpPut, op.Kind == OpCAS && op.OK:
			id = op.Value
		case op.Kind == OpDelete:
			id = op.Marker
		default:
			continue
		}
		n++
		rev, ok := ref.ValueRev(id)
		switch {
		case !ok:
			v.Add("acked-writes", "acknowledged %s %s=%s at revision %d is not in the history", op.Kind, op.Key, id, op.Rev)
		case rev != op.Rev:
			v.Add("acked-writes", "acknowledged %s %s=%s at revision %d is in the history at revision %d", op.Kind, op.Key, id, op.Rev, rev)
		}
	}
	return n
}

// CheckRanges checks every prefix read against the reference state at
// the revision it read (its header revision, or the revision it asked for).
func CheckRanges(ops []Op, ref *Reference, v *Violations) int {
	var rs []Op
	for _, op := range ops {
		if op.Kind == OpRange && op.Err == "" {
			rs = append(rs, op)
		}
	}
	at := func(op Op) int64 {
		if op.AtRev != 0 {
			return op.AtRev
		}
		return op.Rev
	}
	sort.Slice(rs, func(i, j int) bool { return at(rs[i]) < at(rs[j]) })
	cur := ref.cursor()
	for _, op := range rs {
		rev := at(op)
		if rev > ref.Last {
			v.Add("ranges", "client %d read %s at revision %d, past the history's end %d", op.Client, op.Key, rev, ref.Last)
			continue
		}
		state := cur.At(rev)
		var want []KV
		for k, kv := range state {
			if len(k) >= len(op.Key) && k[:len(op.Key)] == op.Key {
				want = append(want, kv)
			}
		}
		sort.Slice(want, func(i, j int) bool { return want[i].Key < want[j].Key })
		if !sameKVs(op.Kvs, want) {
			v.Add("ranges", "client %d range %s at revision %d (serializable %v, asked revision %d): got %s, want %s",
				op.Client, op.Key, rev, op.Serializable, op.AtRev, kvsString(op.Kvs), kvsString(want))
		}
	}
	return len(rs)
}

// sortOps sorts operations by call time.
func sortOps(ops []Op) { sort.Slice(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call }) }

func sameKVs(a, b []KV) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func kvsString(kvs []KV) string {
	s := "["
	for i, kv := range kvs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s=%s@%d/v%d", kv.Key, kv.Value, kv.ModRev, kv.Version)
	}
	return s + "]"
}
