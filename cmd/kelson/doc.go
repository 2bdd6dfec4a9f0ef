// Command kelson is Kelson's single binary. Each subcommand is thin: it
// binds flags onto a package's Config and calls that package's Run.
//
//	kelson store [etcd flags]   run an etcd-compatible store member (raftnode.Run)
//	kelson server [flags]       a store member (or --etcd-servers) and the Kubernetes
//	                            API over it on HTTPS (raftnode.Start, apiserver, internal/pki)
//	kelson agent --server URL --token TOKEN
//	                            a node agent that joins a server (join.go, join_agent.go)
//	kelson token create|list|delete
//	                            bootstrap tokens agents join with (internal/bootstraptoken)
//	kelson bench <workload>     benchmark any etcd v3 endpoint (bench.Run)
//	kelson snapshot restore|status FILE
//	                            restore or describe an etcdctl snapshot (raftnode.RestoreSnapshot)
//	kelson version              print the version
//
// Exit codes: 0 success (including a graceful stop on SIGINT/SIGTERM),
// 1 a failure while running, 2 a usage error (unknown command or flag, bad
// flag value, a configuration that cannot start).
//
// Signals: the first SIGINT or SIGTERM cancels the command's context, which
// stops the member (and the server's API) gracefully; a second one exits at
// once.
//
// `kelson store` and `kelson server` bind the same etcd flags (memberFlags in
// store.go) onto a raftnode.Config; the server has its own --data-dir (k3s's
// meaning: its whole state, the member in DATA_DIR/store).
package main
