package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// DefaultBusybox is where Debian's busybox-static puts its binary.
const DefaultBusybox = "/bin/busybox"

// IndexHTML is the page the httpd image serves, as the real httpd image's.
const IndexHTML = "<html><body><h1>It works!</h1></body></html>\n"

// HTDocs is the httpd image's document root.
const HTDocs = "/usr/local/apache2/htdocs"

// ErrNoBusybox is returned when the busybox binary is missing; tests skip
// on it (errors.Is).
var ErrNoBusybox = errors.New("testimage: busybox binary not found (apt-get install busybox-static)")

// Image is one image of an archive: its reference and configuration. All
// images share one layer (busybox, its applet links, /etc files and the
// httpd document root).
type Image struct {
	// Ref is the full reference, e.g. "docker.io/library/httpd:latest".
	Ref        string
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	// ExposedPorts like "80/tcp".
	ExposedPorts []string
}

// HTTPD is an image standing in for docker.io/library/httpd:latest: busybox
// httpd serving "It works!" on port 80 from /usr/local/apache2/htdocs.
func HTTPD() Image {
	return Image{
		Ref:          "docker.io/library/httpd:latest",
		Cmd:          []string{"httpd", "-f", "-p", "80", "-h", HTDocs},
		Env:          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		WorkingDir:   "/usr/local/apache2",
		ExposedPorts: []string{"80/tcp"},
	}
}

// Busybox is an image standing in for docker.io/library/busybox:latest
// (Cmd ["sh"]).
func Busybox() Image {
	return Image{
		Ref: "docker.io/library/busybox:latest",
		Cmd: []string{"sh"},
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	}
}

// Options tune Write. The zero value is ready to use.
type Options struct {
	// Busybox is the static busybox binary to put in the image. Default
	// DefaultBusybox.
	Busybox string
	// Arch is the image's architecture. Default runtime.GOARCH.
	Arch string
}

// Applets are the busybox applets linked in /bin.
var applets = []string{
	"[", "ash", "awk", "basename", "cat", "chmod", "chown", "cp", "cut", "date", "dd", "df", "dirname",
	"du", "echo", "env", "expr", "false", "find", "free", "grep", "gunzip", "gzip", "head", "hostname",
	"httpd", "id", "ifconfig", "ip", "kill", "killall", "ln", "ls", "md5sum", "mkdir", "mkfifo", "mktemp",
	"more", "mount", "mv", "nc", "netstat", "nslookup", "pidof", "ping", "printf", "ps", "pwd",
	"readlink", "realpath", "rm", "rmdir", "route", "sed", "seq", "sh", "sha256sum", "sleep", "sort",
	"stat", "tail", "tar", "tee", "test", "timeout", "top", "touch", "tr", "true", "umount", "uname",
	"uniq", "uptime", "usleep", "vi", "watch", "wc", "wget", "which", "whoami", "xargs", "yes",
}

// epoch is every file's modification time, so that the layer (and every
// digest) depends only on the busybox binary.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Layer returns the image layer: an uncompressed tar.
func Layer(opts Options) ([]byte, error) {
	bbPath := opts.Busybox
	if bbPath == "" {
		bbPath = DefaultBusybox
	}
	bb, err := os.ReadFile(bbPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoBusybox, bbPath)
	}
	if err != nil {
		return nil, fmt.Errorf("testimage: read busybox: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: epoch, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	link := func(name, target string) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: epoch, Format: tar.FormatPAX})
	}
	steps := []func() error{
		func() error { return dir("bin", 0o755) },
		func() error { return file("bin/busybox", 0o755, bb) },
	}
	for _, a := range applets {
		steps = append(steps, func() error { return link("bin/"+a, "busybox") })
	}
	for _, d := range []string{"dev", "etc", "proc", "root", "sys", "usr", "usr/bin", "usr/sbin", "usr/local",
		"usr/local/apache2", "usr/local/apache2/htdocs", "var", "var/www"} {
		steps = append(steps, func() error { return dir(d, 0o755) })
	}
	steps = append(steps,
		func() error { return dir("tmp", 0o1777) },
		func() error {
			return file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nwww-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
		},
		func() error {
			return file("etc/group", 0o644, []byte("root:x:0:\ndaemon:x:1:\nwww-data:x:33:\nnogroup:x:65534:\n"))
		},
		func() error { return file("usr/local/apache2/htdocs/index.html", 0o644, []byte(IndexHTML)) },
		tw.Close,
	)
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, fmt.Errorf("testimage: build layer: %w", err)
		}
	}
	return buf.Bytes(), nil
}

// OCI media types and annotations written by Write.
const (
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"
	// annotationImageName is containerd's full image name annotation;
	// annotationRefName OCI's (the tag, by convention).
	annotationImageName = "io.containerd.image.name"
	annotationRefName   = "org.opencontainers.image.ref.name"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type imageConfig struct {
	Created      string `json:"created"`
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		Entrypoint   []string            `json:"Entrypoint,omitempty"`
		Cmd          []string            `json:"Cmd,omitempty"`
		Env          []string            `json:"Env,omitempty"`
		WorkingDir   string              `json:"WorkingDir,omitempty"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []struct {
		Created   string `json:"created"`
		CreatedBy string `json:"created_by"`
	} `json:"history"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// tagOf returns the tag of a reference ("latest" of
// docker.io/library/httpd:latest), or "" when it has none.
func tagOf(ref string) string {
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[i+1:]
	}
	return ""
}

// Write writes an OCI image layout archive (tar) holding imgs to w. Each
// image is named by its Ref in the index's annotations, so containerd's
// import (and `kelson images import`) creates it under that name.
func Write(w io.Writer, opts Options, imgs ...Image) error {
	if len(imgs) == 0 {
		return errors.New("testimage: no image to write")
	}
	arch := opts.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	layer, err := Layer(opts)
	if err != nil {
		return err
	}
	layerDigest := digestOf(layer)
	blobs := map[string][]byte{layerDigest: layer}
	idx := index{SchemaVersion: 2, MediaType: mediaTypeIndex}
	for _, img := range imgs {
		if img.Ref == "" {
			return errors.New("testimage: an image has no Ref")
		}
		var cfg imageConfig
		cfg.Created = epoch.Format(time.RFC3339)
		cfg.Architecture, cfg.OS = arch, "linux"
		cfg.Config.Entrypoint, cfg.Config.Cmd = img.Entrypoint, img.Cmd
		cfg.Config.Env, cfg.Config.WorkingDir = img.Env, img.WorkingDir
		if len(img.ExposedPorts) > 0 {
			cfg.Config.ExposedPorts = map[string]struct{}{}
			for _, p := range img.ExposedPorts {
				cfg.Config.ExposedPorts[p] = struct{}{}
			}
		}
		cfg.RootFS.Type = "layers"
		cfg.RootFS.DiffIDs = []string{layerDigest} // uncompressed: diff ID = digest
		cfg.History = append(cfg.History, struct {
			Created   string `json:"created"`
			CreatedBy string `json:"created_by"`
		}{cfg.Created, "kelson testimage: busybox-static and its applets"})
		cfgJSON, err := json.Marshal(cfg)
		if err != nil {
			return fmt.Errorf("testimage: %w", err)
		}
		cfgDesc := descriptor{MediaType: mediaTypeConfig, Digest: digestOf(cfgJSON), Size: int64(len(cfgJSON))}
		blobs[cfgDesc.Digest] = cfgJSON
		m := manifest{SchemaVersion: 2, MediaType: mediaTypeManifest, Config: cfgDesc,
			Layers: []descriptor{{MediaType: mediaTypeLayer, Digest: layerDigest, Size: int64(len(layer))}}}
		mJSON, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("testimage: %w", err)
		}
		blobs[digestOf(mJSON)] = mJSON
		ann := map[string]string{annotationImageName: img.Ref}
		if tag := tagOf(img.Ref); tag != "" {
			ann[annotationRefName] = tag
		}
		idx.Manifests = append(idx.Manifests, descriptor{
			MediaType: mediaTypeManifest, Digest: digestOf(mJSON), Size: int64(len(mJSON)),
			Annotations: ann, Platform: &platform{Architecture: arch, OS: "linux"},
		})
	}
	idxJSON, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("testimage: %w", err)
	}
	tw := tar.NewWriter(w)
	put := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "blobs/", Mode: 0o755, ModTime: epoch}); err != nil {
		return fmt.Errorf("testimage: write archive: %w", err)
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "blobs/sha256/", Mode: 0o755, ModTime: epoch}); err != nil {
		return fmt.Errorf("testimage: write archive: %w", err)
	}
	if err := put("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return fmt.Errorf("testimage: write archive: %w", err)
	}
	for _, d := range sortedKeys(blobs) {
		if err := put("blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), blobs[d]); err != nil {
			return fmt.Errorf("testimage: write archive: %w", err)
		}
	}
	if err := put("index.json", idxJSON); err != nil {
		return fmt.Errorf("testimage: write archive: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("testimage: write archive: %w", err)
	}
	return nil
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Importer is what Import needs of a runtime: the containerd runtime's
// ImportImage has this shape.
type Importer interface {
	ImportImage(ctx context.Context, archive io.Reader) (refs []string, err error)
}

// Import writes imgs (default: HTTPD and Busybox) as one archive and
// imports it into rt; it returns the imported references.
func Import(ctx context.Context, rt Importer, opts Options, imgs ...Image) ([]string, error) {
	if len(imgs) == 0 {
		imgs = []Image{HTTPD(), Busybox()}
	}
	var buf bytes.Buffer
	if err := Write(&buf, opts, imgs...); err != nil {
		return nil, err
	}
	return rt.ImportImage(ctx, &buf)
}

// WriteFile writes the archive of imgs (default: HTTPD and Busybox) to
// path, e.g. for `kelson images import`.
func WriteFile(path string, opts Options, imgs ...Image) error {
	if len(imgs) == 0 {
		imgs = []Image{HTTPD(), Busybox()}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("testimage: %w", err)
	}
	if err := Write(f, opts, imgs...); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
