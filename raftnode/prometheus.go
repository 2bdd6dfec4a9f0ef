package raftnode

import (
	"net/http"
	"strconv"

	"github.com/kelson-dev/kelson/internal/histogram"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Prometheus exposition of a member's Metrics, under etcd's names where
// the meaning is the same, so that etcd's Grafana dashboards and alerts
// work. This file is the edge: the member's instruments are plain
// recorders (metrics.go); each member gets its own registry here, with a
// collector that reads Metrics() at scrape time. Nothing is registered
// globally.

// metricsHandler returns /metrics for n: a registry of its own holding the
// member's collector and Go's runtime and process collectors.
func metricsHandler(n *Node) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(n), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// collector maps Metrics to etcd's metric names.
type collector struct {
	n     *Node
	descs map[string]*prometheus.Desc
}

// metricSpec is one exported metric: name, help, variable labels.
type metricSpec struct {
	name, help string
	labels     []string
}

func metricSpecs() []metricSpec {
	return []metricSpec{
		{"etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not.", nil},
		{"etcd_server_is_leader", "Whether or not this member is a leader. 1 if is, 0 otherwise.", nil},
		{"etcd_server_is_learner", "Whether or not this member is a learner. 1 if is, 0 otherwise.", nil},
		{"etcd_server_leader_changes_seen_total", "The number of leader changes seen.", nil},
		{"etcd_server_proposals_committed_total", "The total number of consensus proposals committed.", nil},
		{"etcd_server_proposals_applied_total", "The total number of consensus proposals applied.", nil},
		{"etcd_server_proposals_pending", "The current number of pending proposals to commit.", nil},
		{"etcd_server_proposals_failed_total", "The total number of failed proposals seen.", nil},
		{"etcd_server_id", "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.", []string{"server_id"}},
		{"etcd_server_version", "Which version is running. 1 for 'server_version' label with current version.", []string{"server_version"}},
		{"etcd_cluster_version", "Which version is running. 1 for 'cluster_version' label with current cluster version", []string{"cluster_version"}},
		{"etcd_mvcc_db_total_size_in_bytes", "Total size of the underlying database physically allocated in bytes.", nil},
		{"etcd_mvcc_db_total_size_in_use_in_bytes", "Total size of the underlying database logically in use in bytes (Pebble: as allocated).", nil},
		{"etcd_debugging_mvcc_keys_total", "Total number of keys.", nil},
		{"etcd_debugging_mvcc_current_revision", "The current revision of store.", nil},
		{"etcd_debugging_mvcc_compact_revision", "The revision of the last compaction in store.", nil},
		{"etcd_mvcc_put_total", "Total number of puts seen by this member.", nil},
		{"etcd_mvcc_delete_total", "Total number of deletes seen by this member.", nil},
		{"etcd_mvcc_range_total", "Total number of ranges seen by this member.", nil},
		{"etcd_mvcc_txn_total", "Total number of txns seen by this member.", nil},
		{"etcd_debugging_mvcc_watcher_total", "Total number of watchers.", nil},
		{"etcd_debugging_mvcc_watch_stream_total", "Total number of watch streams.", nil},
		{"etcd_disk_wal_fsync_duration_seconds", "The latency distributions of fsync called by WAL (Kelson: the synced raft log batch of one Ready).", nil},
		{"etcd_disk_backend_commit_duration_seconds", "The latency distributions of commit called by backend (Kelson: one store batch of applied entries).", nil},
		{"etcd_network_peer_round_trip_time_seconds", "Round-Trip-Time histogram between peers (Kelson: heartbeat round trips seen by the leader).", []string{"To"}},
		{"etcd_network_peer_sent_bytes_total", "The total number of bytes sent to peers.", []string{"To"}},
		{"etcd_network_peer_received_bytes_total", "The total number of bytes received from peers.", []string{"From"}},
		{"etcd_debugging_server_auto_compactions_total", "Compactions started by --auto-compaction-mode (Kelson).", nil},
		{"grpc_server_started_total", "Total number of RPCs started on the server.", []string{"grpc_type", "grpc_service", "grpc_method"}},
		{"grpc_server_handled_total", "Total number of RPCs completed on the server, regardless of success or failure.", []string{"grpc_type", "grpc_service", "grpc_method", "grpc_code"}},
	}
}

func newCollector(n *Node) *collector {
	c := &collector{n: n, descs: map[string]*prometheus.Desc{}}
	for _, s := range metricSpecs() {
		c.descs[s.name] = prometheus.NewDesc(s.name, s.help, s.labels, nil)
	}
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func hexID(id uint64) string { return strconv.FormatUint(id, 16) }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := c.n.Metrics()
	gauge := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v, labels...)
	}
	counter := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, v, labels...)
	}
	hist := func(name string, s histogram.Snapshot, labels ...string) {
		ch <- prometheus.MustNewConstHistogram(c.descs[name], s.Count, s.Sum, s.Cumulative(), labels...)
	}
	gauge("etcd_server_has_leader", b2f(m.HasLeader))
	gauge("etcd_server_is_leader", b2f(m.IsLeader))
	gauge("etcd_server_is_learner", b2f(m.IsLearner))
	counter("etcd_server_leader_changes_seen_total", float64(m.LeaderChanges))
	// etcd exports committed and applied as gauges holding the indexes.
	gauge("etcd_server_proposals_committed_total", float64(m.ProposalsCommitted))
	gauge("etcd_server_proposals_applied_total", float64(m.ProposalsApplied))
	gauge("etcd_server_proposals_pending", float64(m.ProposalsPending))
	counter("etcd_server_proposals_failed_total", float64(m.ProposalsFailed))
	gauge("etcd_server_id", 1, hexID(m.ID))
	gauge("etcd_server_version", 1, serverVersion)
	gauge("etcd_cluster_version", 1, clusterVersion)
	gauge("etcd_mvcc_db_total_size_in_bytes", float64(m.Store.SizeBytes))
	gauge("etcd_mvcc_db_total_size_in_use_in_bytes", float64(m.Store.SizeBytes))
	gauge("etcd_debugging_mvcc_keys_total", float64(m.Store.Keys))
	gauge("etcd_debugging_mvcc_current_revision", float64(m.Store.CurrentRev))
	gauge("etcd_debugging_mvcc_compact_revision", float64(m.Store.CompactRev))
	counter("etcd_mvcc_put_total", float64(m.Store.Puts))
	counter("etcd_mvcc_delete_total", float64(m.Store.Deletes))
	counter("etcd_mvcc_range_total", float64(m.Store.Ranges))
	counter("etcd_mvcc_txn_total", float64(m.Store.Txns))
	gauge("etcd_debugging_mvcc_watcher_total", float64(m.Store.Watch.Watchers))
	gauge("etcd_debugging_mvcc_watch_stream_total", float64(m.Store.Watch.Streams))
	hist("etcd_disk_wal_fsync_duration_seconds", m.WALFsync)
	hist("etcd_disk_backend_commit_duration_seconds", m.BackendCommit)
	for id, s := range m.PeerRTT {
		hist("etcd_network_peer_round_trip_time_seconds", s, hexID(id))
	}
	for id, v := range m.PeerSentBytes {
		counter("etcd_network_peer_sent_bytes_total", float64(v), hexID(id))
	}
	for id, v := range m.PeerReceivedBytes {
		counter("etcd_network_peer_received_bytes_total", float64(v), hexID(id))
	}
	counter("etcd_debugging_server_auto_compactions_total", float64(m.AutoCompactions))
	for _, r := range m.RPC {
		counter("grpc_server_started_total", float64(r.Started), r.Type, r.Service, r.Method)
		for code, v := range r.Handled {
			counter("grpc_server_handled_total", float64(v), r.Type, r.Service, r.Method, code)
		}
	}
}
