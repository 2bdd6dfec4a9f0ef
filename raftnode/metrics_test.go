package raftnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/raftnode/autocompact"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// scrape returns the value of every sample at url, keyed as
// name{label="v",...} with labels sorted (Prometheus's text format).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	code, body := get(t, url)
	if code != 200 {
		t.Fatalf("GET %s: %d %.300s", url, code, body)
	}
	dec := expfmt.NewDecoder(strings.NewReader(body), expfmt.NewFormat(expfmt.TypeTextPlain))
	samples, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, mustFamilies(t, dec)...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, s := range samples {
		out[s.Metric.String()] = float64(s.Value)
	}
	return out
}

func TestMetricsUnderEtcdNames(t *testing.T) {
	ports := freePorts(t, 1)
	tc := newTestCluster(t, 3, func(i int, c *Config) {
		if i == 0 {
			c.ListenMetricsURLs = []string{fmt.Sprintf("http://127.0.0.1:%d", ports[0])}
		}
	})
	s := tc.servers[0]
	cli := tc.client(tc.endpoints()[0])
	ctx := context.Background()
	if _, err := cli.Put(ctx, "warm", "up"); err != nil {
		t.Fatal(err)
	}
	before := scrape(t, httpURL(s, "/metrics"))
	for _, name := range []string{
		"etcd_server_has_leader", "etcd_server_is_leader", "etcd_server_leader_changes_seen_total",
		"etcd_server_proposals_committed_total", "etcd_server_proposals_applied_total",
		"etcd_server_proposals_pending", "etcd_server_proposals_failed_total",
		"etcd_mvcc_db_total_size_in_bytes", "etcd_mvcc_db_total_size_in_use_in_bytes",
		"etcd_disk_wal_fsync_duration_seconds_count", "etcd_disk_backend_commit_duration_seconds_count",
		"etcd_debugging_mvcc_keys_total", "etcd_mvcc_put_total", "etcd_mvcc_range_total",
		"etcd_mvcc_delete_total", "etcd_mvcc_txn_total", "etcd_debugging_mvcc_watcher_total",
		`etcd_server_version{server_version="3.6.0"}`, "go_goroutines", "process_resident_memory_bytes",
		`grpc_server_handled_total{grpc_code="OK", grpc_method="Put", grpc_service="etcdserverpb.KV", grpc_type="unary"}`,
		`grpc_server_started_total{grpc_method="Put", grpc_service="etcdserverpb.KV", grpc_type="unary"}`,
	} {
		if _, ok := before[name]; !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if before["etcd_server_has_leader"] != 1 || before["etcd_mvcc_db_total_size_in_bytes"] <= 0 || before["etcd_server_leader_changes_seen_total"] < 1 {
		t.Errorf("has_leader %v, db size %v, leader changes %v", before["etcd_server_has_leader"],
			before["etcd_mvcc_db_total_size_in_bytes"], before["etcd_server_leader_changes_seen_total"])
	}
	// Peer metrics name the other members by hex ID; the leader talks to
	// both followers (a follower only to the leader).
	peerRE := regexp.MustCompile(`^etcd_network_peer_(sent|received)_bytes_total\{(To|From)="[0-9a-f]+"\}$`)
	eventually(t, 10*time.Second, "peer byte counts", func() error {
		peers := 0
		for k, v := range scrape(t, httpURL(tc.servers[tc.leader()], "/metrics")) {
			if peerRE.MatchString(k) && v > 0 {
				peers++
			}
		}
		if peers < 4 {
			return fmt.Errorf("want sent and received bytes for 2 peers on the leader, found %d series", peers)
		}
		return nil
	})

	if _, err := cli.Put(ctx, "a", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "b", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	after := scrape(t, httpURL(s, "/metrics"))
	for name, delta := range map[string]float64{
		"etcd_mvcc_put_total":            2,
		"etcd_debugging_mvcc_keys_total": 2,
		`grpc_server_handled_total{grpc_code="OK", grpc_method="Put", grpc_service="etcdserverpb.KV", grpc_type="unary"}`: 2,
	} {
		if got := after[name] - before[name]; got != delta {
			t.Errorf("%s moved by %v, want %v", name, got, delta)
		}
	}
	for _, name := range []string{"etcd_mvcc_range_total", "etcd_server_proposals_committed_total", "etcd_server_proposals_applied_total", "etcd_disk_wal_fsync_duration_seconds_count"} {
		if after[name] <= before[name] {
			t.Errorf("%s did not grow: %v -> %v", name, before[name], after[name])
		}
	}
	// The leader times heartbeats to its peers.
	lead := tc.servers[tc.leader()]
	eventually(t, 10*time.Second, "round trips timed", func() error {
		if n := len(lead.Node.Metrics().PeerRTT); n != 2 {
			return fmt.Errorf("round trips timed to %d peers, want 2", n)
		}
		return nil
	})

	// The metrics listener: /metrics and health, not the gateway.
	murl := "http://" + s.MetricsAddr[0]
	if m := scrape(t, murl+"/metrics"); m["etcd_server_has_leader"] != 1 {
		t.Errorf("metrics listener: has_leader %v", m["etcd_server_has_leader"])
	}
	if code, body := get(t, murl+"/health"); code != 200 || body != `{"health":"true","reason":""}` {
		t.Errorf("metrics listener /health: %d %s", code, body)
	}
	if code, _ := get(t, murl+"/readyz"); code != 200 {
		t.Errorf("metrics listener /readyz: %d", code)
	}
	if code, _ := post(t, murl+"/v3/kv/range", `{}`); code != 404 {
		t.Errorf("metrics listener /v3/kv/range: %d, want 404", code)
	}
}

func TestAutoCompactionPeriodic(t *testing.T) {
	tc := newTestCluster(t, 1, func(_ int, c *Config) {
		c.AutoCompactionMode = "periodic"
		c.AutoCompactionRetention = "1s" // a Tick every 100ms, compacts to the revision of 1s ago
	})
	s := tc.servers[0]
	cli := tc.client()
	ctx := context.Background()
	var compacted int64
	eventually(t, 30*time.Second, "auto compaction", func() error {
		if _, err := cli.Put(ctx, "k", "v"); err != nil {
			return err
		}
		if compacted = s.Node.Metrics().Store.CompactRev; compacted < 2 {
			return fmt.Errorf("compacted revision %d", compacted)
		}
		return nil
	})
	_, err := cli.Get(ctx, "k", clientWithRev(1))
	if !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("get at revision 1 after auto compaction to %d: %v, want compacted", compacted, err)
	}
	if n := s.Node.Metrics().AutoCompactions; n < 1 {
		t.Fatalf("auto compactions %d", n)
	}
	// Recent history is kept: at most about a second of it was dropped.
	if cur := s.Node.Rev(); compacted >= cur {
		t.Fatalf("compacted to %d of %d: no history kept", compacted, cur)
	}
	m := scrape(t, httpURL(s, "/metrics"))
	if m["etcd_debugging_mvcc_compact_revision"] < float64(compacted) {
		t.Errorf("etcd_debugging_mvcc_compact_revision %v < %d", m["etcd_debugging_mvcc_compact_revision"], compacted)
	}
}

func TestAutoCompactionFlagsRejected(t *testing.T) {
	_, err := Start(context.Background(), Config{Name: "x", DataDir: t.TempDir(), AutoCompactionMode: "revision", AutoCompactionRetention: "1h",
		ListenClientURLs: []string{"http://127.0.0.1:0"}, ListenPeerURLs: []string{"http://127.0.0.1:0"}, InitialCluster: "x=http://127.0.0.1:0", Logger: testLogger(t)})
	if !errors.Is(err, ErrBadConfig) || !errors.Is(err, autocompact.ErrBadPolicy) {
		t.Fatalf("Start with revision retention 1h: %v, want ErrBadConfig wrapping autocompact.ErrBadPolicy", err)
	}
}

func mustFamilies(t *testing.T, dec expfmt.Decoder) []*dto.MetricFamily {
	t.Helper()
	var out []*dto.MetricFamily
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("decode /metrics: %v", err)
		}
		out = append(out, mf)
	}
}

func clientWithRev(rev int64) clientv3.OpOption { return clientv3.WithRev(rev) }
