package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// kelson runs the kelson binary (not a member) and returns its combined
// output and exit error.
func kelson(args ...string) (string, error) {
	out, err := exec.Command(kelsonBin, args...).CombinedOutput()
	return string(out), err
}

// getRevision is the store revision etcdctl reports for a read of key.
func getRevision(t *testing.T, e etcdctl, key string) int64 {
	t.Helper()
	var r struct {
		Header jsonHeader `json:"header"`
	}
	if err := json.Unmarshal([]byte(e.ok(t, "get", key, "-w", "json")), &r); err != nil {
		t.Fatal(err)
	}
	return r.Header.Revision
}

// TestSnapshotRestore: what an etcd user does to move a cluster's data —
// etcdctl snapshot save, then restore the file into the data dirs of a new
// cluster (kelson snapshot restore, with etcdutl's flags) and start it. The
// new cluster, of three members and of one, serves the keys at the
// snapshot's revision and takes new writes; a corrupt or truncated file and
// an occupied data dir are refused with a clear message.
func TestSnapshotRestore(t *testing.T) {
	needEtcdctl(t)
	src := newCluster(t, clusterOptions{size: 1})
	e := etcdctl{endpoints: src.EtcdctlEndpoints()}
	for i := 0; i < 20; i++ {
		e.ok(t, "put", fmt.Sprintf("app/k%02d", i%8), fmt.Sprintf("v%d", i))
	}
	e.ok(t, "del", "app/k07")
	rev := getRevision(t, e, "app/k00")
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.db")
	e.ok(t, "snapshot", "save", file)
	src.Members[0].Term()

	out, err := kelson("snapshot", "status", file, "-w", "json")
	if err != nil {
		t.Fatalf("snapshot status: %v\n%s", err, out)
	}
	var st struct {
		Revision  int64 `json:"revision"`
		TotalKey  int   `json:"totalKey"`
		TotalSize int64 `json:"totalSize"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Revision != rev || st.TotalKey < 21 || st.TotalSize == 0 {
		t.Fatalf("snapshot status: %q (%v), want revision %d and at least 21 keys (the history)", out, err, rev)
	}
	wantKeys := strings.Join([]string{
		"app/k00", "v16", "app/k01", "v17", "app/k02", "v18", "app/k03", "v19",
		"app/k04", "v12", "app/k05", "v13", "app/k06", "v14"}, "\n")

	for _, size := range []int{3, 1} {
		t.Run(fmt.Sprintf("%d-members", size), func(t *testing.T) {
			c := newCluster(t, clusterOptions{size: size, restoreFrom: file})
			e := etcdctl{endpoints: c.EtcdctlEndpoints()}
			for _, m := range c.Members {
				one := etcdctl{endpoints: m.Endpoint()}
				want(t, "get from "+m.Name, one.ok(t, "get", "app/", "--prefix", "--consistency=s"), wantKeys)
			}
			if got := getRevision(t, e, "app/k00"); got != rev {
				t.Fatalf("revision after restore: %d, want the snapshot's %d", got, rev)
			}
			// A new cluster: its own members, none of the old one.
			ml := e.ok(t, "member", "list")
			if n := len(strings.Split(ml, "\n")); n != size {
				t.Fatalf("member list after restore:\n%s\nwant %d members", ml, size)
			}
			e.ok(t, "put", "after", "restore")
			if got := getRevision(t, e, "after"); got != rev+1 {
				t.Fatalf("revision after a new write: %d, want %d", got, rev+1)
			}
			for _, m := range c.Members {
				one := etcdctl{endpoints: m.Endpoint()}
				want(t, "new key on "+m.Name, one.ok(t, "get", "after", "--print-value-only"), "restore")
			}
		})
	}

	t.Run("refused", func(t *testing.T) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		corrupt := filepath.Join(dir, "corrupt.db")
		bad := append([]byte(nil), b...)
		bad[len(bad)/2] ^= 0x40
		truncated := filepath.Join(dir, "truncated.db")
		if err := os.WriteFile(corrupt, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(truncated, b[:len(b)-700], 0o644); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{corrupt, truncated} {
			dataDir := filepath.Join(dir, "refused.kelson")
			out, err := kelson("snapshot", "restore", f, "--name", "a", "--data-dir", dataDir)
			if err == nil || !strings.Contains(out, "sha256 mismatch") {
				t.Fatalf("restore of %s: %v\n%s\nwant a failure naming the sha256 mismatch", f, err, out)
			}
			if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
				t.Fatalf("a refused restore left %s behind (%v)", dataDir, err)
			}
			out, err = kelson("snapshot", "status", f)
			if err == nil || !strings.Contains(out, "sha256 mismatch") {
				t.Fatalf("status of %s: %v\n%s\nwant a failure", f, err, out)
			}
		}
		occupied := filepath.Join(dir, "occupied")
		if err := os.MkdirAll(filepath.Join(occupied, "something"), 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := kelson("snapshot", "restore", file, "--name", "a", "--data-dir", occupied)
		if err == nil || !strings.Contains(out, "not empty") {
			t.Fatalf("restore into a non-empty dir: %v\n%s", err, out)
		}
	})
}
