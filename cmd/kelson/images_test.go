package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kelson-dev/kelson/internal/testimage"
)

func runImages(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = execute(context.Background(), append([]string{"images"}, args...), &out, &errOut, runners{})
	return code, out.String(), errOut.String()
}

func TestImagesImportUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"import"}, "takes one argument"},
		{[]string{"import", "a.tar"}, "needs one of --data-dir"},
		{[]string{"import", "a.tar", "--data-dir", "d", "--containerd-address", "s"}, "needs one of --data-dir"},
		{[]string{"nope"}, `unknown command "nope"`},
	} {
		code, _, stderr := runImages(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("kelson images %q: code %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	code, _, stderr := runImages(t, "import", "/nonexistent/a.tar", "--containerd-address", "/nonexistent.sock")
	if code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing file: code %d, stderr %q", code, stderr)
	}
}

func TestImagesImport(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containerd")
	}
	for _, bin := range []string{"containerd", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed: %v", bin, err)
		}
	}
	dir, err := os.MkdirTemp("", "kimg") // short: containerd's socket lives here
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	archive := filepath.Join(dir, "images.tar")
	if err := testimage.WriteFile(archive, testimage.Options{}); errors.Is(err, testimage.ErrNoBusybox) {
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	code, stdout, stderr := runImages(t, "import", archive, "--data-dir", data)
	if code != 0 {
		t.Fatalf("import: code %d, stderr %s", code, stderr)
	}
	if want := "docker.io/library/httpd:latest\ndocker.io/library/busybox:latest\n"; stdout != want {
		t.Fatalf("import printed %q, want %q", stdout, want)
	}

	garbage := filepath.Join(dir, "garbage.tar")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a tar archive "), 64), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runImages(t, "import", garbage, "--data-dir", data)
	if code != 1 || !strings.Contains(stderr, "not an OCI or docker image archive") {
		t.Fatalf("garbage: code %d, stderr %q", code, stderr)
	}
}
