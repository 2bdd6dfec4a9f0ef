// Package bench measures an etcd v3 endpoint — a Kelson store or etcd
// itself — through go.etcd.io/etcd/client/v3, and a Kubernetes API server —
// `kelson server` or kube-apiserver — through client-go. It is what
// `kelson bench` runs, and what Go benchmarks call to put a number on a
// change.
//
// # Model
//
// A workload is a Config struct (zero value = documented defaults) run by
// Run(ctx, cfg), which returns a *Result:
//
//	PutConfig          put one key of the key space per request
//	RangeConfig        read a key of the key space, or a fixed range; l or s
//	TxnPutConfig       a transaction of TxnOps puts per request
//	TxnMixedConfig     transactions that read or write, RWRatio reads per write
//	WatchConfig        W watchers on one key over S streams, P puts; delivery
//	                   latency per event and an in-order, exactly-once check
//	WatchLatencyConfig one watcher, puts at a steady rate: put-to-event latency
//	LeaseChurnConfig   grant, one keep-alive, revoke
//	K8sMixConfig       create/update/get/list of 1-5 KB objects under
//	                   /registry/<resource>/<ns>/<name>, with prefix watchers
//	CompactConfig      load N keys, overwrite them, then put p99 at a fixed
//	                   rate before and during a physical compaction of the
//	                   whole history; members' DbSize once it has settled
//	ReadyConfig        time from a given moment (a member's start) to the
//	                   first linearizable read it serves
//
// and, against a Kubernetes API server (APICommon instead of Common: a
// kubeconfig, a namespace, protobuf or JSON; pods of ~1.5 KB):
//
//	APICreateConfig    create pods
//	APIGetConfig       get preloaded pods by name
//	APIListConfig      list every pod of a namespace of N preloaded ones
//	APIWatchConfig     W watchers over C connections, then creates and
//	                   updates; delivery latency and the CheckOrder check
//	APIMixConfig       create/update/get/list/delete with watchers
//
// and on a real node of this machine (RunPods, not Run: it returns a
// *PodsResult of its own):
//
//	PodsConfig         a `kelson server --disable-agent` and a `kelson
//	                   agent` in network namespaces the run makes; real
//	                   pods: create → scheduled/Running/Ready one at a time
//	                   and in a burst, ClusterIP rule update latency after
//	                   an endpoint change, the agent's RSS and the
//	                   per-container processes' memory (shims, log drivers)
//
// With APICommon.ServerPIDs the API workloads also report the server
// processes' RSS and CPU time per request, read from /proc before and after
// the measured phase (ProcessStats). The op-driving loop, pacer, recorder,
// Histogram, Result and reports are shared with the etcd workloads.
//
// Every Config embeds Common: endpoints, connections, clients, rate,
// target-leader. The flags of `kelson bench` map one to one onto these
// fields and keep the names of etcd's benchmark tool where they overlap
// (--conns, --clients, --total, --key-size, --val-size, --key-space-size,
// --sequential-keys, --consistency, --target-leader, --rate).
//
// # How a run measures
//
//	dial        Conns clients, connection i to Endpoints[i % n]; each
//	            endpoint must answer a status request first
//	drive       Clients goroutines take request numbers 0..Total-1 from a
//	            shared counter; a pacer lets request i start at start+i/Rate
//	observe     each goroutine appends (completion offset, latency, kind,
//	            failed) to its own series: no lock on the hot path
//	digest      the series are gathered once: a Histogram per kind, the
//	            timeline windows, the error counts -> Result
//
// Clients are closed loops: each waits for its answer before its next
// request, so latency is measured from the moment a request is sent (a
// stalled store lowers throughput rather than inflating latency by queueing
// in the tool). Failed requests are counted, never retried, and never stop
// a run; Run fails only on a bad Config or unreachable endpoints.
//
// # Invariants
//
//   - Histogram.Percentile(q) is never below the exact nearest-rank
//     percentile of the recorded samples and never above it by more than
//     1/128 of it (see Histogram). Min, Max, Mean and Count are exact.
//   - Timeline windows are exact: they are computed from every sample.
//   - In the watch workloads every put carries its sequence number in its
//     value, so an event's latency is its receive time minus its put's send
//     time, measured on one monotonic clock. CheckOrder decides, per
//     watcher, which received revisions were unexpected, duplicated or
//     reordered and which expected ones are missing.
//
// # Example
//
//	res, err := bench.Run(ctx, bench.PutConfig{
//		Common: bench.Common{Endpoints: []string{"127.0.0.1:2379"}, Conns: 100, Clients: 1000},
//		Keys:   bench.Keys{KeySpaceSize: 100000},
//		Total:  100000,
//		ValSize: 256,
//	})
//	if err != nil {
//		return err
//	}
//	bench.WriteText(os.Stdout, res)   // or WriteJSON, WriteHTML, WriteSVG
//
// # Concurrency
//
// Run may be called from several goroutines for different workloads. A
// Result is not changed after Run returns. Progress.Update is called from
// one goroutine.
package bench
