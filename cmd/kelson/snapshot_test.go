package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestSnapshotCommandUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"snapshot", "restore"},
		{"snapshot", "restore", "a.db", "b.db"},
		{"snapshot", "status"},
		{"snapshot", "status", "a.db", "-w", "yaml"},
		{"snapshot", "frobnicate"},
		{"snapshot", "restore", "a.db", "--wal-dir", "x"},
	} {
		code, _, _, stderr := runCapture(t, args...)
		if code != 2 || !strings.HasPrefix(stderr, "kelson: ") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a message", args, code, stderr)
		}
	}
}

func TestSnapshotRestoreMissingFile(t *testing.T) {
	var out, errOut bytes.Buffer
	code := execute(context.Background(), []string{"snapshot", "restore", t.TempDir() + "/missing.db", "--data-dir", t.TempDir() + "/d"},
		&out, &errOut, defaultRunners())
	if code == 0 || !strings.Contains(errOut.String(), "missing.db") {
		t.Fatalf("exit %d, stderr %q: want a failure naming the file", code, errOut.String())
	}
}

func TestSnapshotStatusFormats(t *testing.T) {
	for _, tt := range []struct{ format, want string }{
		{"simple", "fe01cf57, 10, 7, 2.1 MB\n"},
		{"json", `{"hash":4261531479,"revision":10,"totalKey":7,"totalSize":2105344}` + "\n"},
		{"table", `+----------+----------+------------+------------+
|   HASH   | REVISION | TOTAL KEYS | TOTAL SIZE |
+----------+----------+------------+------------+
| fe01cf57 |       10 |          7 |     2.1 MB |
+----------+----------+------------+------------+
`},
	} {
		var b bytes.Buffer
		if err := printSnapshotStatus(&b, tt.format, 0xfe01cf57, 10, 7, 2105344); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.format, b.String(), tt.want)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 9: "9 B", 10: "10 B", 999: "999 B", 1000: "1.0 kB", 2105344: "2.1 MB", 45_000_000: "45 MB", 3 << 30: "3.2 GB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
