package pki

import (
	"bytes"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var allLeaves = []string{ServingCertFile, AdminCertFile, ControllerManagerCertFile, SchedulerCertFile, KubeletClientCertFile}

// testClock is a settable clock for Config.Now.
type testClock struct{ ns atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.set(t)
	return c
}
func (c *testClock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *testClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *testClock) add(d time.Duration) { c.set(c.now().Add(d)) }

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testSANs() SANs {
	return SANs{DNS: []string{"kubernetes", "localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}}
}

func ensureAt(t *testing.T, dir string, clock *testClock) *Bundle {
	t.Helper()
	b, err := Ensure(Config{Dir: dir, SANs: testSANs(), Now: clock.now, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dueFiles(rs []Renewal) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.File)
	}
	return out
}

// TestDue: the leaves a running server renews, and why, decided from the
// bundle it holds and the time.
func TestDue(t *testing.T) {
	t0 := time.Now()
	b := ensureAt(t, t.TempDir(), newTestClock(t0))
	other := ensureAt(t, t.TempDir(), newTestClock(t0)) // another cluster CA

	foreignAdmin := *b
	foreignAdmin.AdminCertPEM = other.AdminCertPEM
	garbled := *b
	garbled.Scheduler = PEMPair{CertPEM: []byte("not PEM")}

	renewAt := t0.Add(LeafValidity - RenewBefore)
	for _, tc := range []struct {
		name       string
		b          *Bundle
		now        time.Time
		sans       SANs
		want       []string
		wantReason string
	}{
		{"fresh", b, t0, testSANs(), nil, ""},
		{"a day before the renewal window", b, renewAt.Add(-24 * time.Hour), testSANs(), nil, ""},
		{"in the renewal window", b, renewAt.Add(time.Hour), testSANs(), allLeaves, "within 90 days"},
		{"expired", b, t0.Add(2 * LeafValidity), testSANs(), allLeaves, "within 90 days"},
		{"not valid yet (clock went back)", b, t0.Add(-2 * time.Hour), testSANs(), allLeaves, "not valid yet"},
		{"serving names changed", b, t0, SANs{DNS: []string{"kubernetes", "new.example.com"}}, []string{ServingCertFile}, "names changed"},
		{"names in another order", b, t0, SANs{DNS: []string{"localhost", "kubernetes"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}}, nil, ""},
		{"admin from another CA", &foreignAdmin, t0, testSANs(), []string{AdminCertFile}, "not signed by the cluster CA"},
		{"unreadable", &garbled, t0, testSANs(), []string{SchedulerCertFile}, "unreadable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.b.Due(tc.now, tc.sans)
			if !slices.Equal(dueFiles(got), tc.want) {
				t.Fatalf("Due = %v, want %v", got, tc.want)
			}
			for _, r := range got {
				if !strings.Contains(r.Reason, tc.wantReason) {
					t.Errorf("%s: reason %q, want it to say %q", r.File, r.Reason, tc.wantReason)
				}
			}
		})
	}
}

func TestCheckDelay(t *testing.T) {
	t0 := time.Now()
	b := ensureAt(t, t.TempDir(), newTestClock(t0))
	renewAt := b.Serving.Leaf.NotAfter.Add(-RenewBefore)
	for _, tc := range []struct {
		name     string
		now      time.Time
		interval time.Duration
		want     time.Duration
	}{
		{"far from due: the interval", t0, CheckInterval, CheckInterval},
		{"due in 3h: then", renewAt.Add(-3 * time.Hour), CheckInterval, 3 * time.Hour},
		{"due in 3h, short interval", renewAt.Add(-3 * time.Hour), time.Hour, time.Hour},
		{"due now: a minute", renewAt, CheckInterval, minCheckDelay},
		{"overdue: a minute", renewAt.Add(100 * time.Hour), CheckInterval, minCheckDelay},
		{"short interval (tests): the interval", t0, time.Second, time.Second},
		{"short interval, overdue: the interval", renewAt.Add(time.Hour), time.Second, time.Second},
	} {
		// Every leaf of b ends within the second of the serving one's.
		if got := CheckDelay(b, tc.now, tc.interval); got < tc.want-2*time.Second || got > tc.want || got <= 0 {
			t.Errorf("%s: CheckDelay = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCAExpiring(t *testing.T) {
	t0 := time.Now()
	b := ensureAt(t, t.TempDir(), newTestClock(t0))
	if msg := CAExpiring(b.CA, t0.Add(LeafValidity)); msg != "" {
		t.Errorf("a CA 9 years from its end: %q", msg)
	}
	msg := CAExpiring(b.CA, b.CA.NotAfter.Add(-30*24*time.Hour))
	if !strings.Contains(msg, "not renewed automatically") {
		t.Errorf("a CA 30 days from its end: %q", msg)
	}
}

func TestChanged(t *testing.T) {
	clock := newTestClock(time.Now())
	dir := t.TempDir()
	b := ensureAt(t, dir, clock)
	if got := Changed(b, ensureAt(t, dir, clock)); got != nil {
		t.Errorf("reloaded unchanged files: Changed = %v", got)
	}
	os.Remove(filepath.Join(dir, SchedulerCertFile))
	if got := Changed(b, ensureAt(t, dir, clock)); !slices.Equal(got, []string{SchedulerCertFile}) {
		t.Errorf("scheduler made again: Changed = %v", got)
	}
}

// TestReloaderCheck: a check renews what is due and swaps it in; the TLS
// callbacks return the new certificates; nothing changes when nothing is
// due; a CA replaced under a running server is refused.
func TestReloaderCheck(t *testing.T) {
	clock := newTestClock(time.Now())
	dir := t.TempDir()
	cfg := Config{Dir: dir, SANs: testSANs(), Now: clock.now, Logger: quietLog()}
	b, err := Ensure(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReloader(cfg, b)

	cur, changed, err := r.Check()
	if err != nil || changed != nil || r.Bundle() != b || cur != b {
		t.Fatalf("nothing due: Check = %v, %v; bundle swapped: %v", changed, err, r.Bundle() != b)
	}

	clock.add(LeafValidity - RenewBefore + time.Hour)
	_, changed, err = r.Check()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(changed, allLeaves) {
		t.Fatalf("all due: changed %v, want %v", changed, allLeaves)
	}
	nb := r.Bundle()
	if !bytes.Equal(nb.CAPEM, b.CAPEM) {
		t.Error("the CA changed")
	}
	serving, _ := r.GetCertificate(nil)
	if bytes.Equal(serving.Certificate[0], b.Serving.Certificate[0]) || !serving.Leaf.NotAfter.After(b.Serving.Leaf.NotAfter) {
		t.Error("GetCertificate serves the old certificate")
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, ServingCertFile))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := ParseCertPEM(onDisk); err != nil || !bytes.Equal(c.Raw, serving.Certificate[0]) {
		t.Errorf("served certificate is not the one on disk: %v", err)
	}
	kc, _ := r.GetKubeletClientCertificate(nil)
	if bytes.Equal(kc.Certificate[0], b.KubeletClient.Certificate[0]) {
		t.Error("GetKubeletClientCertificate presents the old certificate")
	}
	if _, err := kc.Leaf.Verify(x509.VerifyOptions{Roots: nb.CAPool(), CurrentTime: clock.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("renewed kubelet client certificate: %v", err)
	}

	// A serving certificate replaced on disk (here: removed, so Ensure
	// makes it again) is taken at the next check.
	os.Remove(filepath.Join(dir, ServingCertFile))
	if _, changed, err = r.Check(); err != nil || !slices.Equal(changed, []string{ServingCertFile}) {
		t.Fatalf("serving replaced: changed %v, %v", changed, err)
	}

	// Another CA under a running server: refused, the current bundle stays.
	before := r.Bundle()
	for _, f := range []string{CACertFile, CAKeyFile} {
		os.Remove(filepath.Join(dir, f))
	}
	if _, changed, err = r.Check(); !errors.Is(err, ErrCA) || changed != nil {
		t.Fatalf("CA replaced: Check = %v, %v; want ErrCA", changed, err)
	}
	if r.Bundle() != before {
		t.Error("the bundle of another CA was swapped in")
	}
	if _, err := os.Stat(filepath.Join(dir, CACertFile)); err == nil {
		t.Error("a check made a new CA under a running server")
	}
	if got, _ := os.ReadFile(filepath.Join(dir, AdminCertFile)); !bytes.Equal(got, before.AdminCertPEM) {
		t.Error("a check re-signed the leaves on disk without the server's CA")
	}
	// Another CA's files: refused likewise.
	other := ensureAt(t, t.TempDir(), clock)
	os.WriteFile(filepath.Join(dir, CACertFile), other.CAPEM, 0o644)
	if _, _, err = r.Check(); !errors.Is(err, ErrCA) || r.Bundle() != before {
		t.Fatalf("another CA on disk: %v", err)
	}
	// The CA restored: checks work again.
	os.WriteFile(filepath.Join(dir, CACertFile), before.CAPEM, 0o644)
	if _, changed, err := r.Check(); !errors.Is(err, ErrCA) || changed != nil {
		t.Fatalf("CA certificate without its key: %v, %v; want ErrCA", changed, err)
	}
	if c, _ := r.GetCertificate(nil); c != &before.Serving {
		t.Error("GetCertificate changed after a refused check")
	}
}
