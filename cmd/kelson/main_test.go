package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/raftnode"
	"github.com/kelson-dev/kelson/raftnode/auth"
)

// runCapture runs the command line with a store runner that records the
// Config instead of starting a member.
func runCapture(t *testing.T, args ...string) (code int, cfg raftnode.Config, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	called := false
	r := runners{store: func(ctx context.Context, c raftnode.Config) error {
		if ctx == nil {
			t.Error("nil context")
		}
		called, cfg = true, c
		return nil
	}}
	code = execute(context.Background(), args, &out, &errOut, r)
	if code == 0 && len(args) == 1 && args[0] == "store" && !called {
		t.Error("store command did not call its runner")
	}
	return code, cfg, out.String(), errOut.String()
}

func TestStoreFlags(t *testing.T) {
	code, cfg, _, stderr := runCapture(t, "store",
		"--name", "a", "--data-dir=/var/lib/kelson",
		"--listen-client-urls", "http://10.0.0.1:2379,http://127.0.0.1:2379",
		"--advertise-client-urls", "http://10.0.0.1:2379",
		"--listen-peer-urls", "http://10.0.0.1:2380",
		"--initial-advertise-peer-urls", "http://10.0.0.1:2380",
		"--initial-cluster", "a=http://10.0.0.1:2380,b=http://10.0.0.2:2380",
		"--initial-cluster-state", "existing",
		"--initial-cluster-token", "tok",
		"--snapshot-count", "5000",
		"--heartbeat-interval", "50",
		"--election-timeout", "500",
		"--quota-backend-bytes", "1073741824",
		"--max-request-bytes", "2097152",
		"--max-txn-ops", "64",
		"--auto-compaction-mode", "revision", "--auto-compaction-retention", "1000",
		"--listen-metrics-urls", "http://127.0.0.1:2381", "--enable-pprof",
		"--log-format", "json", "--log-level", "debug",
	)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if cfg.Logger == nil || !cfg.Logger.Enabled(context.Background(), -4) {
		t.Fatal("logger missing or not at debug level")
	}
	cfg.Logger = nil
	if cfg.HTTPHandlers["/debug/pprof/"] == nil {
		t.Fatal("--enable-pprof: the member serves no profiler")
	}
	cfg.HTTPHandlers = nil
	want := raftnode.Config{
		AutoCompactionMode:       "revision",
		AutoCompactionRetention:  "1000",
		ListenMetricsURLs:        []string{"http://127.0.0.1:2381"},
		Name:                     "a",
		DataDir:                  "/var/lib/kelson",
		ListenClientURLs:         []string{"http://10.0.0.1:2379", "http://127.0.0.1:2379"},
		AdvertiseClientURLs:      []string{"http://10.0.0.1:2379"},
		ListenPeerURLs:           []string{"http://10.0.0.1:2380"},
		InitialAdvertisePeerURLs: []string{"http://10.0.0.1:2380"},
		InitialCluster:           "a=http://10.0.0.1:2380,b=http://10.0.0.2:2380",
		InitialClusterState:      "existing",
		InitialClusterToken:      "tok",
		SnapshotCount:            5000,
		HeartbeatInterval:        50 * time.Millisecond,
		ElectionTimeout:          500 * time.Millisecond,
		QuotaBackendBytes:        1 << 30,
		MaxRequestBytes:          2 << 20,
		MaxTxnOps:                64,
		Auth:                     defaultAuthFlags,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("config\n got %+v\nwant %+v", cfg, want)
	}
}

// defaultAuthFlags are the auth options the flags give unless set
// (etcd's defaults, written out in the flags' help).
var defaultAuthFlags = auth.Options{Token: "simple", TokenTTL: auth.DefaultTokenTTL, BcryptCost: 10}

// TestStoreDefaults: unset flags leave zero values, which raftnode fills
// (but the auth flags, whose defaults their help shows).
func TestStoreDefaults(t *testing.T) {
	code, cfg, _, stderr := runCapture(t, "store")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if cfg.Logger == nil {
		t.Fatal("no logger")
	}
	cfg.Logger = nil
	if !reflect.DeepEqual(cfg, raftnode.Config{Auth: defaultAuthFlags}) {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"store", "--no-such-flag"},
		{"store", "--heartbeat-interval", "100ms"}, // etcd takes plain milliseconds
		{"store", "--snapshot-count", "-1"},
		{"store", "--log-format", "xml"},
		{"store", "--log-level", "loud"},
		{"store", "extra-arg"},
		{"nosuchcommand"},
		{"version", "x"},
	} {
		code, _, _, stderr := runCapture(t, args...)
		if code != 2 || !strings.HasPrefix(stderr, "kelson: ") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a message", args, code, stderr)
		}
	}
}

func TestRunErrorsExitCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
	}{
		{nil, 0},
		{errors.New("disk on fire"), 1},
		{fmt.Errorf("%w: --initial-cluster is empty", raftnode.ErrBadConfig), 2},
	} {
		var errOut bytes.Buffer
		r := runners{store: func(context.Context, raftnode.Config) error { return c.err }}
		if code := execute(context.Background(), []string{"store"}, &bytes.Buffer{}, &errOut, r); code != c.code {
			t.Errorf("%v: exit %d, want %d (%s)", c.err, code, c.code, errOut.String())
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	code, _, out, _ := runCapture(t, "store", "--help")
	if code != 0 || !strings.Contains(out, "Defragment is accepted and does nothing") || !strings.Contains(out, "--initial-cluster-token") {
		t.Fatalf("store help (exit %d):\n%s", code, out)
	}
	code, _, out, _ = runCapture(t, "version")
	if code != 0 || !strings.HasPrefix(out, "kelson ") {
		t.Fatalf("version (exit %d): %q", code, out)
	}
}

func TestSignalContext(t *testing.T) {
	exited := make(chan int, 1)
	var msgs syncBuffer
	ctx, stop := signalContext(context.Background(), &msgs, func(code int) { exited <- code })
	defer stop()
	if ctx.Err() != nil {
		t.Fatal("cancelled before any signal")
	}
	// First signal: graceful stop.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("first SIGTERM did not cancel the context")
	}
	select {
	case code := <-exited:
		t.Fatalf("exited (%d) on the first signal", code)
	default:
	}
	// Second signal: immediate exit.
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exited:
		if code != 1 {
			t.Fatalf("exit code %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second signal did not exit")
	}
	if s := msgs.String(); !strings.Contains(s, "stopping gracefully") || !strings.Contains(s, "exiting now") {
		t.Fatalf("messages: %q", s)
	}
	stop()
	stop() // idempotent
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
