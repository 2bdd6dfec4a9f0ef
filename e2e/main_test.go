package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/kelson-dev/kelson/internal/testbin"
)

var (
	seedFlag    = flag.Int64("e2e.seed", 1, "seed of the random choices the e2e tests make (printed on failure)")
	verboseFlag = flag.Bool("e2e.verbose", false, "also copy member logs to the test's stderr as they are written")
)

// kelsonBin is the binary TestMain built; etcdctlBin is the etcdctl found
// on PATH, or "" when there is none.
var (
	kelsonBin  string
	etcdctlBin string
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kelson-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if kelsonBin, err = testbin.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if p, err := exec.LookPath("etcdctl"); err == nil {
		etcdctlBin = p
	}
	return m.Run()
}

// needEtcdctl skips the test when etcdctl is not installed.
func needEtcdctl(t *testing.T) {
	t.Helper()
	if etcdctlBin == "" {
		t.Skip("etcdctl not found on PATH: install it with scripts/test-deps.sh (Debian's etcd-client; `make test` does this)")
	}
}
