// Package audit is the API server's audit log, as kube-apiserver's
// --audit-policy-file and --audit-log-*: a Policy (audit.k8s.io/v1)
// decides how much of each request is recorded, and a Log writes the
// Events (audit.k8s.io/v1) as JSON lines.
//
// # Model
//
// Policy.Decide is a pure function of a request's authz.Attributes (user,
// verb, resource or path): the first rule whose every given list matches
// decides the Level; no match is None.
//
//	None             nothing
//	Metadata         who, what, when, the response's code (and Status)
//	Request          + the request body as JSON (requestObject)
//	RequestResponse  + the response body as JSON (responseObject; not
//	                 for watches and other long-running requests)
//
// A request is recorded at stages: RequestReceived (before it is
// served), ResponseStarted (long-running requests: when the headers go
// out), ResponseComplete, or Panic; omitStages (policy and rule) leave
// stages out. The API server wraps each request's http.ResponseWriter in
// a ResponseWriter, which sees the status and the body and keeps Flush
// and Hijack working.
//
// # Invariants
//
//   - A request never waits on the disk: Log.Record queues (a buffered
//     channel) and one goroutine encodes and writes; when the queue is
//     full the event is dropped, counted in Stats and warned about.
//   - The log file is rotated before a line would take it past MaxBytes,
//     to <name>-<UTC time>.<ext>; the oldest beyond MaxBackups go.
//   - No policy, no audit: the API server's cost is one nil check.
//
// # Example
//
//	p, err := audit.ParsePolicy([]byte(`
//	apiVersion: audit.k8s.io/v1
//	kind: Policy
//	omitStages: [RequestReceived]
//	rules:
//	- level: None
//	  nonResourceURLs: ["/healthz*", "/readyz*", "/livez*"]
//	- level: Metadata
//	  resources: [{group: "", resources: [secrets, configmaps]}]
//	- level: RequestResponse
//	`))
//	log, err := audit.NewLog(audit.LogConfig{Path: "/var/log/kelson/audit.log", MaxBytes: 100 << 20, MaxBackups: 5})
//	defer log.Close()
//	apiserver.New(apiserver.Config{..., AuditPolicy: p, AuditSink: log})
package audit
