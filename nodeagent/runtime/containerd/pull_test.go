package containerd

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testimage"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
)

// registry serves the test image's blobs over the registry API on
// loopback (containerd's resolver talks plain HTTP to localhost), under
// any repository name, with the tag "v1" as the httpd image.
type registry struct {
	blobs     map[string][]byte // digest -> content
	manifest  string            // digest of httpd's manifest
	manifests atomic.Int32      // manifest requests
}

func newRegistry(t *testing.T) (*registry, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := testimage.Write(&buf, testimage.Options{}, testimage.HTTPD()); err != nil {
		t.Fatal(err)
	}
	reg := &registry{blobs: map[string][]byte{}}
	tr := tar.NewReader(&buf)
	var index []byte
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if d, ok := strings.CutPrefix(h.Name, "blobs/sha256/"); ok && d != "" {
			reg.blobs["sha256:"+d] = b
		}
		if h.Name == "index.json" {
			index = b
		}
	}
	var idx struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	if err := json.Unmarshal(index, &idx); err != nil {
		t.Fatal(err)
	}
	reg.manifest = idx.Manifests[0].Digest
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(reg)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return reg, l.Addr().String()
}

func (reg *registry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if path == "/v2/" {
		return
	}
	var digest, ctype string
	switch {
	case strings.Contains(path, "/manifests/"):
		reg.manifests.Add(1)
		ref := path[strings.LastIndex(path, "/")+1:]
		if ref != "v1" && ref != reg.manifest {
			http.Error(w, `{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`, http.StatusNotFound)
			return
		}
		digest, ctype = reg.manifest, "application/vnd.oci.image.manifest.v1+json"
	case strings.Contains(path, "/blobs/"):
		digest, ctype = path[strings.LastIndex(path, "/")+1:], "application/octet-stream"
	}
	b, ok := reg.blobs[digest]
	if !ok {
		http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN"}]}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Docker-Content-Digest", digest)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

func TestEnsureImagePullsFromALoopbackRegistry(t *testing.T) {
	e := newEnv(t)
	reg, host := newRegistry(t)
	image := host + "/web/httpd:v1"

	if _, err := e.rt.EnsureImage(e.ctx, image, corev1.PullNever); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("Never, absent: %v", err)
	}
	ref, err := e.rt.EnsureImage(e.ctx, image, corev1.PullIfNotPresent)
	if err != nil {
		t.Fatalf("IfNotPresent, absent: %v", err)
	}
	if want := host + "/web/httpd@" + reg.manifest; ref != want {
		t.Fatalf("ref %q, want %q", ref, want)
	}
	n := reg.manifests.Load()
	if _, err := e.rt.EnsureImage(e.ctx, image, corev1.PullIfNotPresent); err != nil || reg.manifests.Load() != n {
		t.Fatalf("IfNotPresent, present: err %v, %d manifest requests (was %d)", err, reg.manifests.Load(), n)
	}
	if _, err := e.rt.EnsureImage(e.ctx, image, corev1.PullAlways); err != nil || reg.manifests.Load() == n {
		t.Fatalf("Always: err %v, no manifest request", err)
	}
	if _, err := e.rt.EnsureImage(e.ctx, host+"/web/httpd:v2", corev1.PullIfNotPresent); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("absent tag: %v", err)
	}

	// The pulled image runs.
	spec := e.spec("pulled", "cat", testimage.HTDocs+"/index.html")
	spec.Image = image
	id := e.run(spec)
	if st := e.waitStatus(id, "exited", exited); st.ExitCode != 0 || st.ImageRef != ref {
		t.Fatalf("status %+v", st)
	}
}
