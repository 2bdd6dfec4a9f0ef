package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdctl runs the etcdctl binary (API v3) against a set of endpoints.
type etcdctl struct {
	endpoints string // host:port,...
}

// command builds an etcdctl command line. The environment is the test's
// minus any ETCDCTL_* setting, plus ETCDCTL_API=3.
func (e etcdctl) command(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"--endpoints=" + e.endpoints, "--dial-timeout=5s", "--command-timeout=15s"}, args...)
	var cmd *exec.Cmd
	if ctx != nil {
		cmd = exec.CommandContext(ctx, etcdctlBin, full...)
	} else {
		cmd = exec.Command(etcdctlBin, full...)
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCDCTL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "ETCDCTL_API=3")
	return cmd
}

// run runs etcdctl with stdin and returns its stdout, its stderr and its
// exit error.
func (e etcdctl) run(stdin string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := e.command(ctx, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// ok runs etcdctl, fails the test if it fails, and returns its stdout
// without the final newline.
func (e etcdctl) ok(t *testing.T, args ...string) string {
	t.Helper()
	return e.okIn(t, "", args...)
}

func (e etcdctl) okIn(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := e.run(stdin, args...)
	if err != nil {
		t.Fatalf("etcdctl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return strings.TrimSuffix(out, "\n")
}

// fails runs etcdctl, fails the test if it succeeds, and returns its
// stdout and stderr together.
func (e etcdctl) fails(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := e.run("", args...)
	if err == nil {
		t.Fatalf("etcdctl %s succeeded, want a failure; stdout:\n%s", strings.Join(args, " "), out)
	}
	return out + errOut
}

// want fails the test unless got == want (both trimmed of surrounding
// newlines), showing the command.
func want(t *testing.T, what, got, want string) {
	t.Helper()
	if strings.Trim(got, "\n") != strings.Trim(want, "\n") {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// lines of etcdctl's simple output format.
func lines(s ...string) string { return strings.Join(s, "\n") }

// jsonKV is a key-value as etcdctl -w json prints it (bytes as base64).
type jsonKV struct {
	Key            []byte `json:"key"`
	Value          []byte `json:"value"`
	CreateRevision int64  `json:"create_revision"`
	ModRevision    int64  `json:"mod_revision"`
	Version        int64  `json:"version"`
	Lease          int64  `json:"lease"`
}

type jsonHeader struct {
	ClusterID uint64 `json:"cluster_id"`
	MemberID  uint64 `json:"member_id"`
	Revision  int64  `json:"revision"`
	RaftTerm  uint64 `json:"raft_term"`
}

type jsonGet struct {
	Header jsonHeader `json:"header"`
	Kvs    []jsonKV   `json:"kvs"`
	More   bool       `json:"more"`
	Count  int64      `json:"count"`
}

func decodeJSON(t *testing.T, what, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%s: %v in %q", what, err, s)
	}
}

// putRev puts key=val and returns the revision of the put.
func (e etcdctl) putRev(t *testing.T, key, val string) int64 {
	t.Helper()
	var resp struct {
		Header jsonHeader `json:"header"`
	}
	decodeJSON(t, "put -w json", e.ok(t, "put", key, val, "-w", "json"), &resp)
	if resp.Header.Revision == 0 {
		t.Fatalf("put %s: no revision in the header", key)
	}
	return resp.Header.Revision
}

// TestEtcdctl drives three members with the real etcdctl, one subtest per
// command family, in order (later subtests compact history and stop a
// member).
func TestEtcdctl(t *testing.T) {
	needEtcdctl(t)
	c := newCluster(t, clusterOptions{size: 3})
	e := etcdctl{endpoints: c.EtcdctlEndpoints()}
	ids := map[string]uint64{} // member name -> ID
	for _, m := range c.Members {
		ids[m.Name] = memberID(t, m)
	}
	cli := c.Client()
	dir := t.TempDir()

	t.Run("put-get-del", func(t *testing.T) {
		want(t, "put", e.ok(t, "put", "kv/a", "1"), "OK")
		r1 := e.putRev(t, "kv/b", "2")
		want(t, "put", e.ok(t, "put", "kv/c", "3"), "OK")
		want(t, "put", e.ok(t, "put", "kv0", "outside the prefix"), "OK")
		want(t, "get", e.ok(t, "get", "kv/a"), lines("kv/a", "1"))
		want(t, "get --prefix", e.ok(t, "get", "kv/", "--prefix"), lines("kv/a", "1", "kv/b", "2", "kv/c", "3"))
		want(t, "get --prefix --keys-only", e.ok(t, "get", "kv/", "--prefix", "--keys-only"), lines("kv/a", "", "kv/b", "", "kv/c"))
		want(t, "get range", e.ok(t, "get", "kv/a", "kv/c"), lines("kv/a", "1", "kv/b", "2"))
		want(t, "get missing", e.ok(t, "get", "kv/nothing"), "")

		var g jsonGet
		decodeJSON(t, "get -w json", e.ok(t, "get", "kv/b", "-w", "json"), &g)
		if g.Count != 1 || len(g.Kvs) != 1 || string(g.Kvs[0].Key) != "kv/b" || string(g.Kvs[0].Value) != "2" ||
			g.Kvs[0].CreateRevision != r1 || g.Kvs[0].ModRevision != r1 || g.Kvs[0].Version != 1 {
			t.Fatalf("get kv/b -w json: %+v, want kv/b=2 created and modified at %d, version 1", g, r1)
		}
		if g.Header.Revision < r1+1 {
			t.Fatalf("get -w json: header revision %d, want at least %d", g.Header.Revision, r1+1)
		}
		decodeJSON(t, "get --limit", e.ok(t, "get", "kv/", "--prefix", "--limit=2", "-w", "json"), &g)
		if len(g.Kvs) != 2 || !g.More || g.Count != 3 || string(g.Kvs[1].Key) != "kv/b" {
			t.Fatalf("get --prefix --limit=2 -w json: %+v, want kv/a and kv/b, more, count 3", g)
		}

		r2 := e.putRev(t, "kv/b", "2-new")
		want(t, "get --rev (old)", e.ok(t, "get", "kv/b", fmt.Sprintf("--rev=%d", r1)), lines("kv/b", "2"))
		want(t, "get --rev (new)", e.ok(t, "get", "kv/b", fmt.Sprintf("--rev=%d", r2)), lines("kv/b", "2-new"))
		want(t, "get --rev before create", e.ok(t, "get", "kv/b", fmt.Sprintf("--rev=%d", r1-1)), "")
		decodeJSON(t, "get -w json", e.ok(t, "get", "kv/b", "-w", "json"), &g)
		if len(g.Kvs) != 1 || g.Kvs[0].Version != 2 || g.Kvs[0].CreateRevision != r1 || g.Kvs[0].ModRevision != r2 {
			t.Fatalf("kv/b after its second put: %+v, want version 2, created at %d, modified at %d", g.Kvs, r1, r2)
		}
		want(t, "put --prev-kv", e.ok(t, "put", "kv/c", "3-new", "--prev-kv"), lines("OK", "kv/c", "3"))

		want(t, "del", e.ok(t, "del", "kv/a"), "1")
		want(t, "del missing", e.ok(t, "del", "kv/a"), "0")
		want(t, "del --prefix", e.ok(t, "del", "kv/", "--prefix"), "2")
		want(t, "get after del", e.ok(t, "get", "kv/", "--prefix"), "")
		want(t, "get outside the prefix", e.ok(t, "get", "kv0"), lines("kv0", "outside the prefix"))
		// Every member serves the same answer from its own store.
		for _, m := range c.Members {
			one := etcdctl{endpoints: m.Endpoint()}
			want(t, "get --consistency=s on "+m.Name, one.ok(t, "get", "kv", "--prefix", "--consistency=s"), lines("kv0", "outside the prefix"))
		}
	})

	t.Run("txn", func(t *testing.T) {
		want(t, "put", e.ok(t, "put", "tx/k", "a"), "OK")
		// Compares hold: the success branch runs.
		out := e.okIn(t, lines(`value("tx/k") = "a"`, `mod("tx/k") > "0"`, "",
			`put tx/k "b"`, `put tx/other "x"`, "",
			`put tx/failed "1"`, "", ""), "txn")
		want(t, "txn success", out, lines("SUCCESS", "", "OK", "", "OK"))
		want(t, "after txn success", e.ok(t, "get", "tx/", "--prefix"), lines("tx/k", "b", "tx/other", "x"))
		// A compare fails: the failure branch runs, the success one does not.
		out = e.okIn(t, lines(`value("tx/k") = "a"`, "",
			`put tx/k "c"`, "",
			`get tx/k`, `put tx/failed "1"`, "", ""), "txn")
		want(t, "txn failure", out, lines("FAILURE", "", "tx/k", "b", "", "OK"))
		want(t, "after txn failure", e.ok(t, "get", "tx/", "--prefix"), lines("tx/failed", "1", "tx/k", "b", "tx/other", "x"))
		// version and create compares, a delete in the branch.
		out = e.okIn(t, lines(`version("tx/k") = "2"`, `create("tx/nothing") = "0"`, "",
			`del tx/other`, "", "", ""), "txn")
		want(t, "txn version/create", out, lines("SUCCESS", "", "1"))
		want(t, "after txn del", e.ok(t, "get", "tx/other"), "")
	})

	t.Run("watch", func(t *testing.T) {
		// --rev makes the watch start right after the current revision
		// whenever it is set up, so no event can be missed.
		rev := e.putRev(t, "wx/start", "0")
		w := startBackground(t, "etcdctl watch", e.command(context.Background(), "watch", "--prefix", "w/", fmt.Sprintf("--rev=%d", rev+1)))
		want(t, "put", e.ok(t, "put", "w/a", "1"), "OK")
		want(t, "put", e.ok(t, "put", "w/b", "2"), "OK")
		want(t, "put", e.ok(t, "put", "wx/ignored", "not watched"), "OK")
		want(t, "del", e.ok(t, "del", "w/a"), "1")
		want(t, "put", e.ok(t, "put", "w/c", "with spaces"), "OK")
		wantLines := []string{"PUT", "w/a", "1", "PUT", "w/b", "2", "DELETE", "w/a", "", "PUT", "w/c", "with spaces"}
		for i, l := range wantLines {
			if got := w.NextLine(30 * time.Second); got != l {
				t.Fatalf("watch output line %d: got %q, want %q; output:\n%s", i+1, got, l, w.Output())
			}
		}
		w.Signal(syscall.SIGKILL)
		w.Wait(10 * time.Second)
	})

	t.Run("lease", func(t *testing.T) {
		out := e.ok(t, "lease", "grant", "100")
		m := regexp.MustCompile(`^lease ([0-9a-f]+) granted with TTL\(100s\)$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("lease grant: %q", out)
		}
		id := m[1]
		idNum, _ := strconv.ParseUint(id, 16, 64)
		want(t, "put --lease", e.ok(t, "put", "--lease="+id, "ls/k", "v"), "OK")
		var g jsonGet
		decodeJSON(t, "get -w json", e.ok(t, "get", "ls/k", "-w", "json"), &g)
		if len(g.Kvs) != 1 || uint64(g.Kvs[0].Lease) != idNum {
			t.Fatalf("ls/k: %+v, want it attached to lease %s", g.Kvs, id)
		}
		out = e.ok(t, "lease", "timetolive", id, "--keys")
		m = regexp.MustCompile(`^lease ` + id + ` granted with TTL\(100s\), remaining\((\d+)s\), attached keys\(\[ls/k\]\)$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("lease timetolive --keys: %q", out)
		}
		if rem, _ := strconv.Atoi(m[1]); rem <= 0 || rem > 100 {
			t.Fatalf("lease timetolive: remaining %ds, want within (0, 100]", rem)
		}
		want(t, "lease keep-alive --once", e.ok(t, "lease", "keep-alive", "--once", id), "lease "+id+" keepalived with TTL(100)")
		if out := e.ok(t, "lease", "list"); !strings.Contains(out, id) {
			t.Fatalf("lease list does not show %s: %q", id, out)
		}
		want(t, "lease revoke", e.ok(t, "lease", "revoke", id), "lease "+id+" revoked")
		want(t, "get after revoke", e.ok(t, "get", "ls/k"), "")
		want(t, "timetolive after revoke", e.ok(t, "lease", "timetolive", id), "lease "+id+" already expired")

		// A short lease expires by itself (the leader revokes it through
		// raft), taking its key with it.
		out = e.ok(t, "lease", "grant", "2")
		m = regexp.MustCompile(`^lease ([0-9a-f]+) granted with TTL\((\d+)s\)$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("lease grant: %q", out)
		}
		want(t, "put --lease", e.ok(t, "put", "--lease="+m[1], "ls/short", "v"), "OK")
		deadline := time.Now().Add(60 * time.Second)
		for e.ok(t, "get", "ls/short") != "" {
			if time.Now().After(deadline) {
				t.Fatalf("ls/short still there 60s after its lease of %ss; lease: %s", m[2], e.ok(t, "lease", "timetolive", m[1]))
			}
			time.Sleep(200 * time.Millisecond)
		}
		want(t, "timetolive after expiry", e.ok(t, "lease", "timetolive", m[1]), "lease "+m[1]+" already expired")
	})

	t.Run("compaction", func(t *testing.T) {
		r1 := e.putRev(t, "cp/k", "v1")
		r2 := e.putRev(t, "cp/k", "v2")
		want(t, "get --rev before compaction", e.ok(t, "get", "cp/k", fmt.Sprintf("--rev=%d", r1)), lines("cp/k", "v1"))
		want(t, "compaction --physical", e.ok(t, "compaction", "--physical", strconv.FormatInt(r2, 10)), fmt.Sprintf("compacted revision %d", r2))
		for _, m := range c.Members { // each member answers from its own store
			one := etcdctl{endpoints: m.Endpoint()}
			if out := one.fails(t, "get", "cp/k", fmt.Sprintf("--rev=%d", r1), "--consistency=s"); !strings.Contains(out, "required revision has been compacted") {
				t.Fatalf("get --rev of a compacted revision on %s: %q, want a 'compacted' error", m.Name, out)
			}
		}
		want(t, "get --rev at the compaction", e.ok(t, "get", "cp/k", fmt.Sprintf("--rev=%d", r2)), lines("cp/k", "v2"))
		if out := e.fails(t, "compaction", strconv.FormatInt(r1, 10)); !strings.Contains(out, "required revision has been compacted") {
			t.Fatalf("compaction of an older revision: %q, want a 'compacted' error", out)
		}
		if out := e.fails(t, "watch", "cp/k", fmt.Sprintf("--rev=%d", r1)); !strings.Contains(out, "required revision has been compacted") {
			t.Fatalf("watch from a compacted revision: %q, want a 'compacted' error", out)
		}
	})

	t.Run("member-list", func(t *testing.T) {
		rows := tableRows(t, e.ok(t, "member", "list", "-w", "table"))
		if len(rows) != 4 || strings.Join(rows[0], ",") != "ID,STATUS,NAME,PEER ADDRS,CLIENT ADDRS,IS LEARNER" {
			t.Fatalf("member list -w table: rows %q, want a header and 3 members", rows)
		}
		seen := map[string]bool{}
		for _, r := range rows[1:] {
			m := memberNamed(c, r[2])
			if m == nil || seen[m.Name] {
				t.Fatalf("member list row %q: unknown or repeated name", r)
			}
			seen[m.Name] = true
			wantRow := []string{strconv.FormatUint(ids[m.Name], 16), "started", m.Name, m.PeerURL, m.ClientURL, "false"}
			if strings.Join(r, ",") != strings.Join(wantRow, ",") {
				t.Fatalf("member list row\n got %q\nwant %q", r, wantRow)
			}
		}
		var list struct {
			Members []struct {
				ID         uint64   `json:"ID"`
				Name       string   `json:"name"`
				PeerURLs   []string `json:"peerURLs"`
				ClientURLs []string `json:"clientURLs"`
			} `json:"members"`
		}
		decodeJSON(t, "member list -w json", e.ok(t, "member", "list", "-w", "json"), &list)
		if len(list.Members) != 3 {
			t.Fatalf("member list -w json: %+v", list)
		}
		for _, lm := range list.Members {
			m := memberNamed(c, lm.Name)
			if m == nil || lm.ID != ids[m.Name] || strings.Join(lm.ClientURLs, ",") != m.ClientURL || strings.Join(lm.PeerURLs, ",") != m.PeerURL {
				t.Fatalf("member list -w json: member %+v does not match the cluster", lm)
			}
		}
	})

	t.Run("endpoint-status", func(t *testing.T) {
		type epStatus struct {
			Endpoint string
			Status   struct {
				Header    jsonHeader `json:"header"`
				Leader    uint64     `json:"leader"`
				RaftTerm  uint64     `json:"raftTerm"`
				RaftIndex uint64     `json:"raftIndex"`
				Version   string     `json:"version"`
			}
		}
		for _, cluster := range []bool{false, true} {
			args := []string{"endpoint", "status", "-w", "json"}
			if cluster {
				args = append(args, "--cluster")
			}
			var sts []epStatus
			decodeJSON(t, strings.Join(args, " "), e.ok(t, args...), &sts)
			if len(sts) != 3 {
				t.Fatalf("%s: %d endpoints, want 3: %+v", args, len(sts), sts)
			}
			leaders := 0
			seen := map[uint64]bool{}
			for _, st := range sts {
				m := memberWithEndpoint(c, st.Endpoint)
				if m == nil || st.Status.Header.MemberID != ids[m.Name] || seen[ids[m.Name]] {
					t.Fatalf("%s: endpoint %s reports member %x", args, st.Endpoint, st.Status.Header.MemberID)
				}
				seen[ids[m.Name]] = true
				if st.Status.Leader != sts[0].Status.Leader || st.Status.Leader == 0 {
					t.Fatalf("%s: members disagree on the leader: %+v", args, sts)
				}
				if st.Status.Leader == st.Status.Header.MemberID {
					leaders++
				}
				if st.Status.RaftIndex == 0 || st.Status.RaftTerm == 0 || st.Status.Version == "" {
					t.Fatalf("%s: %s: empty raft index, term or version: %+v", args, st.Endpoint, st.Status)
				}
			}
			if leaders != 1 {
				t.Fatalf("%s: %d members are leader, want 1", args, leaders)
			}
		}
		rows := tableRows(t, e.ok(t, "endpoint", "status", "-w", "table"))
		if len(rows) != 4 || rows[0][0] != "ENDPOINT" || rows[0][4] != "IS LEADER" {
			t.Fatalf("endpoint status -w table: %q", rows)
		}
		leaders := 0
		for _, r := range rows[1:] {
			if r[4] == "true" {
				leaders++
			}
		}
		if leaders != 1 {
			t.Fatalf("endpoint status -w table: %d leaders, want 1: %q", leaders, rows)
		}
	})

	t.Run("endpoint-health", func(t *testing.T) {
		for _, cluster := range []bool{false, true} {
			args := []string{"endpoint", "health", "-w", "json"}
			if cluster {
				args = append(args, "--cluster")
			}
			var hs []struct {
				Endpoint string `json:"endpoint"`
				Health   bool   `json:"health"`
				Error    string `json:"error"`
			}
			decodeJSON(t, strings.Join(args, " "), e.ok(t, args...), &hs)
			if len(hs) != 3 {
				t.Fatalf("%s: %+v, want 3 endpoints", args, hs)
			}
			for _, h := range hs {
				if !h.Health || memberWithEndpoint(c, h.Endpoint) == nil {
					t.Fatalf("%s: %+v", args, hs)
				}
			}
		}
		// The simple format (on stderr with etcdctl 3.4).
		out, errOut, err := e.run("", "endpoint", "health")
		if err != nil || strings.Count(out+errOut, "is healthy: successfully committed proposal") != 3 {
			t.Fatalf("endpoint health: %v\n%s%s", err, out, errOut)
		}
	})

	t.Run("maintenance", func(t *testing.T) {
		for _, m := range c.Members {
			one := etcdctl{endpoints: m.Endpoint()}
			want(t, "defrag", one.ok(t, "defrag"), "Finished defragmenting etcd member["+m.Endpoint()+"]")
		}
		want(t, "alarm list", e.ok(t, "alarm", "list"), "")
	})

	t.Run("snapshot-save", func(t *testing.T) {
		want(t, "put", e.ok(t, "put", "snap/k", "in the snapshot"), "OK")
		path := filepath.Join(dir, "snap.db")
		one := etcdctl{endpoints: c.Members[0].Endpoint()} // snapshot save takes one endpoint
		out := one.ok(t, "snapshot", "save", path)
		if !strings.Contains(out, "Snapshot saved at "+path) {
			t.Fatalf("snapshot save: %q", out)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// Kelson's stream: the store's snapshot, padding to 512 bytes, and
		// the sha256 of both.
		if len(b) < 512+sha256.Size || len(b)%512 != sha256.Size {
			t.Fatalf("snapshot file: %d bytes, want a non-empty multiple of 512 plus %d", len(b), sha256.Size)
		}
		body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
		if h := sha256.Sum256(body); !bytes.Equal(h[:], sum) {
			t.Fatalf("snapshot file: trailing sha256 %x does not match the content's %x", sum, h)
		}
	})

	t.Run("lock", func(t *testing.T) {
		// A holds the lock until the test creates release-a; B asks for it
		// meanwhile and must get it only after A lets go.
		release := filepath.Join(dir, "release-a")
		a := startBackground(t, "etcdctl lock (A)", e.command(context.Background(), "lock", "mylock", "--",
			"sh", "-c", `echo "A $ETCD_LOCK_KEY $ETCD_LOCK_REV"; while [ ! -e "$0" ]; do sleep 0.05; done; echo "A done"`, release))
		aLine := strings.Fields(a.NextLine(30 * time.Second))
		if len(aLine) != 3 || aLine[0] != "A" || !strings.HasPrefix(aLine[1], "mylock/") {
			t.Fatalf("lock A: %q, want A, its key and revision", aLine)
		}
		b := startBackground(t, "etcdctl lock (B)", e.command(context.Background(), "lock", "mylock", "--",
			"sh", "-c", `echo "B $ETCD_LOCK_KEY $ETCD_LOCK_REV"`))
		// B is waiting once its own key is under mylock/.
		waitKeys(t, cli, "mylock/", 2)
		time.Sleep(300 * time.Millisecond) // B gets a chance to (wrongly) go ahead
		if b.Output() != "" {
			t.Fatalf("lock B ran while A held the lock: %q", b.Output())
		}
		if err := os.WriteFile(release, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		want(t, "lock A", a.NextLine(30*time.Second), "A done")
		if err := a.Wait(30 * time.Second); err != nil {
			t.Fatalf("lock A: %v", err)
		}
		bLine := strings.Fields(b.NextLine(30 * time.Second))
		if len(bLine) != 3 || bLine[0] != "B" || !strings.HasPrefix(bLine[1], "mylock/") || bLine[1] == aLine[1] {
			t.Fatalf("lock B: %q, want B, its own key and revision (A's key %s)", bLine, aLine[1])
		}
		aRev, _ := strconv.ParseInt(aLine[2], 10, 64)
		bRev, _ := strconv.ParseInt(bLine[2], 10, 64)
		if bRev <= aRev {
			t.Fatalf("lock B's revision %d is not after A's %d", bRev, aRev)
		}
		if err := b.Wait(30 * time.Second); err != nil {
			t.Fatalf("lock B: %v", err)
		}
		waitKeys(t, cli, "mylock/", 0) // both released
	})

	t.Run("elect", func(t *testing.T) {
		p1 := startBackground(t, "etcdctl elect p1", e.command(context.Background(), "elect", "myelection", "p1"))
		key1 := p1.NextLine(30 * time.Second)
		if !strings.HasPrefix(key1, "myelection/") {
			t.Fatalf("elect p1: key %q", key1)
		}
		want(t, "elect p1", p1.NextLine(30*time.Second), "p1")
		obs := startBackground(t, "etcdctl elect -l", e.command(context.Background(), "elect", "-l", "myelection"))
		want(t, "elect -l sees p1 (key)", obs.NextLine(30*time.Second), key1)
		want(t, "elect -l sees p1", obs.NextLine(30*time.Second), "p1")

		p2 := startBackground(t, "etcdctl elect p2", e.command(context.Background(), "elect", "myelection", "p2"))
		waitKeys(t, cli, "myelection/", 2) // p2 campaigns
		time.Sleep(300 * time.Millisecond)
		if p2.Output() != "" {
			t.Fatalf("p2 was elected while p1 leads: %q", p2.Output())
		}
		p1.Signal(syscall.SIGINT) // p1 resigns and exits
		if err := p1.Wait(30 * time.Second); err != nil {
			t.Fatalf("elect p1 after SIGINT: %v", err)
		}
		key2 := p2.NextLine(30 * time.Second)
		if !strings.HasPrefix(key2, "myelection/") || key2 == key1 {
			t.Fatalf("elect p2: key %q (p1's was %q)", key2, key1)
		}
		want(t, "elect p2", p2.NextLine(30*time.Second), "p2")
		want(t, "elect -l sees p2 (key)", obs.NextLine(30*time.Second), key2)
		want(t, "elect -l sees p2", obs.NextLine(30*time.Second), "p2")
		p2.Signal(syscall.SIGINT)
		obs.Signal(syscall.SIGINT)
		if err := p2.Wait(30 * time.Second); err != nil {
			t.Fatalf("elect p2 after SIGINT: %v", err)
		}
		if err := obs.Wait(30 * time.Second); err != nil {
			t.Fatalf("elect -l after SIGINT: %v", err)
		}
		waitKeys(t, cli, "myelection/", 0)
	})

	t.Run("move-leader", func(t *testing.T) {
		old := c.Leader()
		st, err := old.Status()
		if err != nil {
			t.Fatal(err)
		}
		target := c.Others(old)[0]
		out := e.ok(t, "move-leader", strconv.FormatUint(ids[target.Name], 16))
		want(t, "move-leader", out, fmt.Sprintf("Leadership transferred from %x to %x", ids[old.Name], ids[target.Name]))
		tst, err := target.Status()
		if err != nil {
			t.Fatal(err)
		}
		if tst.RaftTerm <= st.RaftTerm {
			t.Fatalf("after move-leader, %s is at term %d, want past %d", target.Name, tst.RaftTerm, st.RaftTerm)
		}
	})

	t.Run("endpoint-health-member-down", func(t *testing.T) {
		down := c.Members[2]
		down.Kill()
		c.WaitLeader(c.Others(down))
		out, errOut, err := etcdctl{endpoints: e.endpoints}.run("", "endpoint", "health", "-w", "json", "--command-timeout=3s")
		if err == nil {
			t.Fatalf("endpoint health with %s down succeeded, want a failure:\n%s%s", down.Name, out, errOut)
		}
		var hs []struct {
			Endpoint string `json:"endpoint"`
			Health   bool   `json:"health"`
		}
		decodeJSON(t, "endpoint health -w json", out, &hs)
		for _, h := range hs {
			if h.Health != (h.Endpoint != down.Endpoint()) {
				t.Fatalf("endpoint health with %s down: %+v", down.Name, hs)
			}
		}
		if len(hs) != 3 {
			t.Fatalf("endpoint health with %s down: %+v", down.Name, hs)
		}
		// The other two still serve.
		want(t, "put with a member down", e.ok(t, "put", "down/k", "v"), "OK")
		want(t, "get with a member down", e.ok(t, "get", "down/k"), lines("down/k", "v"))
	})
}

// tableRows parses etcdctl's -w table output into rows of trimmed cells,
// the header first.
func tableRows(t *testing.T, out string) [][]string {
	t.Helper()
	var rows [][]string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "|") {
			continue
		}
		var cells []string
		for _, c := range strings.Split(strings.Trim(l, "|"), "|") {
			cells = append(cells, strings.TrimSpace(c))
		}
		rows = append(rows, cells)
	}
	return rows
}

func memberNamed(c *cluster, name string) *member {
	for _, m := range c.Members {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// memberWithEndpoint finds the member by its client endpoint, with or
// without http://.
func memberWithEndpoint(c *cluster, ep string) *member {
	for _, m := range c.Members {
		if ep == m.ClientURL || ep == m.Endpoint() {
			return m
		}
	}
	return nil
}

// waitKeys waits until exactly n keys are under prefix.
func waitKeys(t *testing.T, cli *clientv3.Client, prefix string, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last int64 = -1
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
		resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		cancel()
		if err == nil {
			if resp.Count == n {
				return
			}
			last = resp.Count
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%d keys under %s after 30s, want %d", last, prefix, n)
}
