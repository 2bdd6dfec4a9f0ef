package apiserver

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	usagev1alpha1 "github.com/kelson-dev/kelson/api/metrics/v1alpha1"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeUsages have no protobuf encoding: they are stored as JSON (with
// apiVersion and kind, without resourceVersion) under
// /registry/metrics.kelson.dev/nodeusages/<node>, and read back.
func TestNodeUsageStoredAsJSON(t *testing.T) {
	st := startMember(t)
	ts := newTestServer(t, st)
	c, err := usagev1alpha1.NewForConfig(ts.config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	u := &usagev1alpha1.NodeUsage{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Timestamp: metav1.Now(),
		Window: metav1.Duration{Duration: 10 * time.Second}}
	if _, err := c.Report(ctx, u); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Range(ctx, &pb.RangeRequest{Key: []byte("/registry/metrics.kelson.dev/nodeusages/n1")})
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("stored: %v %v", resp, err)
	}
	var stored map[string]interface{}
	if err := json.Unmarshal(resp.Kvs[0].Value, &stored); err != nil {
		t.Fatalf("not JSON: %v: %q", err, resp.Kvs[0].Value)
	}
	md, _ := stored["metadata"].(map[string]interface{})
	if stored["apiVersion"] != "metrics.kelson.dev/v1alpha1" || stored["kind"] != "NodeUsage" || md["name"] != "n1" || md["resourceVersion"] != nil {
		t.Fatalf("stored %s", resp.Kvs[0].Value)
	}
	got, err := c.Get(ctx, "n1")
	if err != nil || got.Window.Duration != 10*time.Second || got.ResourceVersion == "" {
		t.Fatalf("read back %+v %v", got, err)
	}
}
