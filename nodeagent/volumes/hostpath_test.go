package volumes

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestHostPathCheck(t *testing.T) {
	const p = "/x"
	for _, tc := range []struct {
		typ    corev1.HostPathType
		what   kind
		create kind
		err    string
	}{
		{typ: "", what: kindNone},
		{typ: "", what: kindSocket},
		{typ: corev1.HostPathDirectoryOrCreate, what: kindNone, create: kindDir},
		{typ: corev1.HostPathDirectoryOrCreate, what: kindDir},
		{typ: corev1.HostPathDirectoryOrCreate, what: kindFile, err: "hostPath type check failed: /x is not a directory"},
		{typ: corev1.HostPathDirectory, what: kindNone, err: "hostPath type check failed: /x does not exist"},
		{typ: corev1.HostPathDirectory, what: kindDir},
		{typ: corev1.HostPathDirectory, what: kindFile, err: "is not a directory"},
		{typ: corev1.HostPathFileOrCreate, what: kindNone, create: kindFile},
		{typ: corev1.HostPathFileOrCreate, what: kindFile},
		{typ: corev1.HostPathFileOrCreate, what: kindDir, err: "hostPath type check failed: /x is not a file"},
		{typ: corev1.HostPathFile, what: kindNone, err: "does not exist"},
		{typ: corev1.HostPathFile, what: kindFile},
		{typ: corev1.HostPathFile, what: kindCharDevice, err: "is not a file"},
		{typ: corev1.HostPathSocket, what: kindSocket},
		{typ: corev1.HostPathSocket, what: kindFile, err: "hostPath type check failed: /x is not a socket file"},
		{typ: corev1.HostPathSocket, what: kindNone, err: "does not exist"},
		{typ: corev1.HostPathCharDev, what: kindCharDevice},
		{typ: corev1.HostPathCharDev, what: kindBlockDevice, err: "hostPath type check failed: /x is not a character device"},
		{typ: corev1.HostPathBlockDev, what: kindBlockDevice},
		{typ: corev1.HostPathBlockDev, what: kindCharDevice, err: "hostPath type check failed: /x is not a block device"},
		{typ: "Weird", what: kindDir, err: "Weird is an invalid volume type"},
	} {
		create, err := hostPathCheck(tc.typ, p, tc.what)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q on %v: err = %v, want %q", tc.typ, tc.what, err, tc.err)
			}
			continue
		}
		if err != nil || create != tc.create {
			t.Errorf("%q on %v: create %v, %v; want %v", tc.typ, tc.what, create, err, tc.create)
		}
	}
}

func TestEnsureHostPath(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	typ := func(t corev1.HostPathType) *corev1.HostPathType { return &t }
	if err := ensureHostPath(filepath.Join(dir, "a/b"), typ(corev1.HostPathDirectoryOrCreate)); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "a/b")); err != nil || !fi.IsDir() {
		t.Errorf("DirectoryOrCreate made no directory: %v", err)
	}
	if err := ensureHostPath(filepath.Join(dir, "f"), typ(corev1.HostPathFileOrCreate)); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "f")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("FileOrCreate made no file: %v", err)
	}
	if err := ensureHostPath(filepath.Join(dir, "nodir/f"), typ(corev1.HostPathFileOrCreate)); err == nil || !strings.Contains(err.Error(), "parent directory") {
		t.Errorf("FileOrCreate without parent: %v", err)
	}
	for _, ok := range []struct {
		p string
		t corev1.HostPathType
	}{{sock, corev1.HostPathSocket}, {"/dev/null", corev1.HostPathCharDev}, {dir, corev1.HostPathDirectory}, {filepath.Join(dir, "f"), corev1.HostPathFile}} {
		if err := ensureHostPath(ok.p, typ(ok.t)); err != nil {
			t.Errorf("%s as %s: %v", ok.p, ok.t, err)
		}
	}
	for _, bad := range []struct {
		p string
		t corev1.HostPathType
	}{{sock, corev1.HostPathDirectory}, {"/dev/null", corev1.HostPathBlockDev}, {dir, corev1.HostPathSocket}, {filepath.Join(dir, "none"), corev1.HostPathFile}} {
		if err := ensureHostPath(bad.p, typ(bad.t)); err == nil {
			t.Errorf("%s as %s accepted", bad.p, bad.t)
		}
	}
}
