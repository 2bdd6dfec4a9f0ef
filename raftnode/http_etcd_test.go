package raftnode

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestGatewayMatchesEtcd sends the same JSON requests to Kelson and to a
// real etcd (skipped without one on the PATH) and compares the bodies byte
// for byte, with the cluster and member IDs and the raft term masked.
func TestGatewayMatchesEtcd(t *testing.T) {
	etcdBin, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("no etcd on the PATH (Debian: apt-get install etcd-server)")
	}
	ports := freePorts(t, 2)
	dir := t.TempDir()
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	cmd := exec.Command(etcdBin, "--name", "e", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		"--initial-cluster", fmt.Sprintf("e=http://127.0.0.1:%d", ports[1]))
	cmd.Env = append(os.Environ(), "ETCD_UNSUPPORTED_ARCH="+os.Getenv("GOARCH"))
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	eventually(t, 20*time.Second, "etcd up", func() error {
		resp, err := httpClient.Get(etcdURL + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("etcd /health: %d", resp.StatusCode)
		}
		return nil
	})

	tc := newTestCluster(t, 1, nil)
	kelsonURL := "http://" + tc.servers[0].ClientAddr[0]
	eventually(t, 10*time.Second, "kelson up", func() error {
		if code, _ := get(t, kelsonURL+"/health"); code != 200 {
			return fmt.Errorf("/health %d", code)
		}
		return nil
	})

	mask := regexp.MustCompile(`"(cluster_id|member_id|raft_term)":"\d+"`)
	for _, rq := range []struct{ path, body string }{
		{"/v3/kv/put", fmt.Sprintf(`{"key":%q,"value":%q}`, b64("foo"), b64("bar"))},
		{"/v3/kv/put", fmt.Sprintf(`{"key":%q,"value":%q,"prev_kv":true}`, b64("foo"), b64("baz"))},
		{"/v3/kv/put", fmt.Sprintf(`{"key":%q,"value":""}`, b64("fob"))},
		{"/v3/kv/range", fmt.Sprintf(`{"key":%q}`, b64("foo"))},
		{"/v3/kv/range", fmt.Sprintf(`{"key":%q,"range_end":%q}`, b64("f"), b64("g"))},
		{"/v3/kv/range", fmt.Sprintf(`{"key":%q,"range_end":%q,"limit":"1","sort_order":"DESCEND"}`, b64("f"), b64("g"))},
		{"/v3/kv/range", fmt.Sprintf(`{"key":%q,"range_end":%q,"count_only":true}`, b64("f"), b64("g"))},
		{"/v3/kv/range", fmt.Sprintf(`{"key":%q,"keys_only":true,"revision":"2"}`, b64("foo"))},
		{"/v3/kv/range", fmt.Sprintf(`{"key":%q}`, b64("missing"))},
		{"/v3/kv/range", fmt.Sprintf(`{"key":%q,"revision":"99"}`, b64("foo"))},
		{"/v3/kv/txn", fmt.Sprintf(`{"compare":[{"key":%q,"target":"VALUE","value":%q}],"success":[{"request_range":{"key":%q}}],"failure":[{"request_put":{"key":%q,"value":%q}}]}`,
			b64("foo"), b64("baz"), b64("foo"), b64("x"), b64("y"))},
		{"/v3/kv/deleterange", fmt.Sprintf(`{"key":%q,"prev_kv":true}`, b64("foo"))},
		{"/v3/kv/deleterange", fmt.Sprintf(`{"key":%q}`, b64("nothing"))},
		{"/v3/kv/put", `{"key":""}`},
		{"/v3/kv/compaction", `{"revision":"3"}`},
		{"/v3/kv/range", fmt.Sprintf(`{"key":%q,"revision":"2"}`, b64("foo"))},
	} {
		ecode, ebody := post(t, etcdURL+rq.path, rq.body)
		kcode, kbody := post(t, kelsonURL+rq.path, rq.body)
		ebody, kbody = mask.ReplaceAllString(ebody, `"$1":"X"`), mask.ReplaceAllString(kbody, `"$1":"X"`)
		if ecode != kcode || ebody != kbody {
			t.Errorf("%s %s:\n  etcd:   %d %s\n  kelson: %d %s", rq.path, rq.body, ecode, ebody, kcode, kbody)
		} else {
			t.Logf("%s %s: %d %s", rq.path, rq.body, kcode, kbody)
		}
	}
}
