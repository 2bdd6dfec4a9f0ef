package chaos

import "time"

// LeaseStats counts what the lease check examined.
type LeaseStats struct {
	Leases, Reads, Expired, Revoked int
}

// CheckLeases checks each lease with a key attached:
//
//   - never early: a linearizable read that starts after the key was put
//     and returns before the lease can have expired (grant call + TTL, or
//     a successful keep-alive's call + TTL when the keep-alive returned
//     before the read started), with no revoke asked before it returned,
//     finds the key; and the recorder received the key's deletion no
//     earlier than the grant's call + TTL unless a revoke was asked;
//   - eventually: the key's deletion is in the history (the harness waits
//     for it before the final checks, see Workload.WaitLeases).
func CheckLeases(leases []LeaseRec, ref *Reference, v *Violations, st *LeaseStats) {
	deleted := map[string]int64{} // key -> when the recorder received its deletion
	for _, e := range ref.Events {
		if !e.Put {
			if _, ok := deleted[e.KV.Key]; !ok {
				deleted[e.KV.Key] = e.RecvAt
			}
		}
	}
	for _, l := range leases {
		if l.PutReturn == 0 {
			continue // the put failed: the key may or may not exist
		}
		st.Leases++
		if l.RevokeCall != 0 {
			st.Revoked++
		} else {
			st.Expired++
		}
		ttl := time.Duration(l.TTL) * time.Second
		for _, r := range l.Reads {
			st.Reads++
			if r.Err != "" || r.Found || r.Call < l.PutReturn {
				continue
			}
			if l.RevokeCall != 0 && l.RevokeCall < r.Return {
				continue
			}
			from := l.GrantCall
			for _, ka := range l.KeepAlives {
				if ka.Return < r.Call && ka.Call > from {
					from = ka.Call
				}
			}
			if r.Return < from+int64(ttl) {
				v.Add("lease", "%s lease %x (TTL %ds, %s): key %s gone at a read returning %v after the lease's start, before its TTL",
					l.Source, l.ID, l.TTL, l.Source, l.Key, time.Duration(r.Return-from).Round(time.Millisecond))
			}
		}
		at, ok := deleted[l.Key]
		if !ok {
			v.Add("lease", "%s lease %x (TTL %ds): key %s was never deleted", l.Source, l.ID, l.TTL, l.Key)
			continue
		}
		if l.RevokeCall == 0 && at < l.GrantCall+int64(ttl) {
			v.Add("lease", "%s lease %x (TTL %ds): the deletion of %s was received %v after the grant was asked, before its TTL",
				l.Source, l.ID, l.TTL, l.Key, time.Duration(at-l.GrantCall).Round(time.Millisecond))
		}
	}
}
