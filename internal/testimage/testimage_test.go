package testimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func readArchive(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			files[h.Name] = data
		}
	}
}

func TestWriteIsAValidLayout(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf, Options{}, HTTPD(), Busybox())
	if errors.Is(err, ErrNoBusybox) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	files := readArchive(t, buf.Bytes())
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Fatalf("oci-layout = %q", files["oci-layout"])
	}
	blob := func(d string) []byte {
		b, ok := files["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")]
		if !ok {
			t.Fatalf("blob %s missing", d)
		}
		if got := digestOf(b); got != d {
			t.Fatalf("blob %s has digest %s", d, got)
		}
		return b
	}
	var idx index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 2 {
		t.Fatalf("index has %d manifests, want 2", len(idx.Manifests))
	}
	want := map[string]string{
		"docker.io/library/httpd:latest":   `["httpd","-f","-p","80","-h","/usr/local/apache2/htdocs"]`,
		"docker.io/library/busybox:latest": `["sh"]`,
	}
	for _, d := range idx.Manifests {
		name := d.Annotations[annotationImageName]
		if d.Annotations[annotationRefName] != "latest" {
			t.Errorf("%s: ref.name = %q", name, d.Annotations[annotationRefName])
		}
		var m manifest
		if err := json.Unmarshal(blob(d.Digest), &m); err != nil {
			t.Fatal(err)
		}
		var cfg imageConfig
		if err := json.Unmarshal(blob(m.Config.Digest), &cfg); err != nil {
			t.Fatal(err)
		}
		cmd, _ := json.Marshal(cfg.Config.Cmd)
		if string(cmd) != want[name] {
			t.Errorf("%s: Cmd = %s, want %s", name, cmd, want[name])
		}
		layer := blob(m.Layers[0].Digest)
		if cfg.RootFS.DiffIDs[0] != m.Layers[0].Digest {
			t.Errorf("diff ID %s != layer digest %s", cfg.RootFS.DiffIDs[0], m.Layers[0].Digest)
		}
		checkLayer(t, layer)
	}
}

func checkLayer(t *testing.T, layer []byte) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(layer))
	links := map[string]string{}
	regular := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeSymlink:
			links[h.Name] = h.Linkname
		case tar.TypeReg:
			b, _ := io.ReadAll(tr)
			regular[h.Name] = b
		}
	}
	if string(regular["usr/local/apache2/htdocs/index.html"]) != IndexHTML {
		t.Errorf("index.html = %q", regular["usr/local/apache2/htdocs/index.html"])
	}
	if len(regular["bin/busybox"]) == 0 {
		t.Error("bin/busybox missing")
	}
	for _, a := range []string{"sh", "ls", "cat", "wget", "httpd", "sleep", "nslookup", "ping"} {
		if links["bin/"+a] != "busybox" {
			t.Errorf("bin/%s -> %q, want busybox", a, links["bin/"+a])
		}
	}
}

func TestWriteIsDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := Write(&a, Options{}, HTTPD()); errors.Is(err, ErrNoBusybox) {
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}
	if err := Write(&b, Options{}, HTTPD()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two archives of the same image differ")
	}
}

func TestMissingBusybox(t *testing.T) {
	err := Write(io.Discard, Options{Busybox: "/nonexistent/busybox"}, HTTPD())
	if !errors.Is(err, ErrNoBusybox) {
		t.Fatalf("err = %v, want ErrNoBusybox", err)
	}
}

func TestTagOf(t *testing.T) {
	for ref, want := range map[string]string{
		"docker.io/library/httpd:latest": "latest",
		"localhost:5000/x":               "",
		"localhost:5000/x:1.2":           "1.2",
		"busybox":                        "",
	} {
		if got := tagOf(ref); got != want {
			t.Errorf("tagOf(%q) = %q, want %q", ref, got, want)
		}
	}
}
