package mountinfo

import (
	"slices"
	"testing"
)

func TestParseAndUnder(t *testing.T) {
	info := `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:33 / /var/lib/kelson/pods/u1/volumes/kubernetes.io~secret/s rw - tmpfs tmpfs rw
41 22 0:34 / /var/lib/kelson/pods/u1/volumes/kubernetes.io~empty-dir/with\040space rw - tmpfs tmpfs rw
42 22 0:35 / /var/lib/kelson/pods/u1/volumes/kubernetes.io~empty-dir/with\040space/inner rw - tmpfs tmpfs rw
43 22 0:36 / /var/lib/kelson/pods/u10/volumes/x rw - tmpfs tmpfs rw
44 22 0:37 / /var/lib/kelson/pods/u1 rw - tmpfs tmpfs rw
`
	points := Parse(info)
	if len(points) != 6 || points[2] != "/var/lib/kelson/pods/u1/volumes/kubernetes.io~empty-dir/with space" {
		t.Fatalf("points %q", points)
	}
	got := Under(points, "/var/lib/kelson/pods/u1/")
	want := []string{
		"/var/lib/kelson/pods/u1/volumes/kubernetes.io~empty-dir/with space/inner",
		"/var/lib/kelson/pods/u1/volumes/kubernetes.io~secret/s",
		"/var/lib/kelson/pods/u1/volumes/kubernetes.io~empty-dir/with space",
		"/var/lib/kelson/pods/u1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("mountsUnder\n%q\nwant\n%q", got, want)
	}
	for in, want := range map[string]string{`a\040b`: "a b", `tab\011`: "tab\t", `back\134slash`: `back\slash`, `end\04`: `end\04`, `none`: "none"} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescape %q = %q, want %q", in, got, want)
		}
	}
}
