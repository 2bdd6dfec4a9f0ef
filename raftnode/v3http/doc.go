// Package v3http is the HTTP side of a member's client port, as etcd
// serves it beside gRPC: the health endpoints (/health, /livez, /readyz),
// /version, /metrics, and etcd's gRPC-gateway JSON API (/v3/kv/range,
// /v3/watch, ...), so that curl, load balancers, Kubernetes probes and
// Prometheus find what they find on etcd.
//
// # The JSON gateway
//
// Every /v3/ route calls the same v3rpc.Services the gRPC server serves,
// in process: no loopback gRPC connection, the same validation, headers
// and errors. Bodies are etcd's messages in protojson with the proto field
// names: bytes fields are base64, 64-bit integers are strings, zero fields
// are left out (etcd's gateway marshaler: UseProtoNames, no
// EmitUnpopulated). Output is compact (protojson's randomised spaces are
// removed), so it matches etcd's byte for byte where the data does.
//
//	POST /v3/kv/put    {"key":"Zm9v","value":"YmFy"}
//	200  {"header":{"cluster_id":"…","member_id":"…","revision":"2","raft_term":"2"}}
//
// Errors are etcd's gRPC errors with the gateway's HTTP status for their
// code: {"error":MSG,"message":MSG,"code":N} (etcd 3.4's body, of which
// 3.5+'s {"code","message"} is a subset).
//
// Streams (/v3/watch, /v3/lease/keepalive, /v3/maintenance/snapshot) read
// requests as a sequence of JSON objects from the request body and write
// each response as one line {"result":MSG}; a stream that fails ends with
// {"error":{"code":N,"message":MSG}}. The body is read in full duplex, so a
// client may send cancel requests while it reads events. When the body
// ends the stream goes on until the client goes away (as etcd's gateway,
// which half-closes the gRPC stream).
//
// # Health
//
// /health is etcd's {"health":"true","reason":""}: 503 with a reason for an
// alarm (unless ?exclude=NOSPACE names it), no leader, or a read that
// fails within Config.ReadTimeout (linearizable unless
// ?serializable=true, which also skips the leader check). /livez and
// /readyz are etcd 3.5+'s checks (livez: serializable_read; readyz:
// data_corruption, serializable_read, linearizable_read, non_learner),
// each also at /readyz/NAME, with ?verbose and ?exclude=NAME. What to
// report is decided by pure functions over the facts gathered (health.go).
//
// Nothing a client sends can panic the process: handlers recover, and a
// panic is logged and answered as codes.Internal.
package v3http
