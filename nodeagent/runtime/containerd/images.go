package containerd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	ctrd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
)

// ErrBadArchive is returned (wrapped) by ImportImage for input that is not
// an OCI or docker image archive.
var ErrBadArchive = errors.New("containerd: not an OCI or docker image archive")

// EnsureImage implements runtime.Runtime: the image is normalised
// (httpd -> docker.io/library/httpd:latest), pulled per policy (an empty
// policy is IfNotPresent) and unpacked into the snapshotter.
func (r *Runtime) EnsureImage(ctx context.Context, image string, policy corev1.PullPolicy) (string, error) {
	ctx = r.nsctx(ctx)
	ref, err := NormalizeImage(image)
	if err != nil {
		return "", err
	}
	l := r.lock("image:" + ref)
	l.Lock()
	defer l.Unlock()
	img, err := r.client.GetImage(ctx, ref)
	present := err == nil
	if err != nil && !errdefs.IsNotFound(err) {
		return "", fmt.Errorf("containerd: look up image %s: %w", ref, err)
	}
	switch {
	case policy == corev1.PullNever && !present:
		return "", fmt.Errorf("containerd: image %s is not present and its pull policy is Never (import it: kelson images import FILE.tar): %w", ref, runtime.ErrNotFound)
	case policy == corev1.PullAlways || !present:
		pulled, err := r.client.Pull(ctx, ref, ctrd.WithPullUnpack, ctrd.WithPullSnapshotter(r.snapshotter))
		if err != nil && present && !errdefs.IsNotFound(err) && ctx.Err() == nil {
			// Always, but the registry cannot be reached: run the image
			// at hand. Unlike kubelet, so that an imported image of a
			// machine without a registry runs a pod spec's `image: httpd`
			// (whose :latest tag defaults the policy to Always).
			r.log.Warn("pull failed; running the image present", "image", ref, "err", err)
			break
		}
		img = pulled
		if err != nil {
			if errdefs.IsNotFound(err) {
				return "", fmt.Errorf("containerd: pull %s: %v: %w", ref, err, runtime.ErrNotFound)
			}
			return "", fmt.Errorf("containerd: pull %s: %w (no registry? import the image: kelson images import FILE.tar)", ref, err)
		}
	}
	if err := r.unpack(ctx, img); err != nil {
		return "", err
	}
	return digestRef(ref, img.Target().Digest.String()), nil
}

func (r *Runtime) unpack(ctx context.Context, img ctrd.Image) error {
	ok, err := img.IsUnpacked(ctx, r.snapshotter)
	if err == nil && ok {
		return nil
	}
	if err := img.Unpack(ctx, r.snapshotter); err != nil {
		return fmt.Errorf("containerd: unpack %s into %s: %w", img.Name(), r.snapshotter, err)
	}
	return nil
}

// ImportImage imports an OCI image layout or `docker save` archive (tar)
// into the runtime's namespace, unpacks its images for this platform and
// returns their references. An OCI archive names its images through the
// io.containerd.image.name annotation, or a full reference in
// org.opencontainers.image.ref.name; a bare tag there names nothing.
func (r *Runtime) ImportImage(ctx context.Context, archive io.Reader) ([]string, error) {
	ctx = r.nsctx(ctx)
	br := bufio.NewReaderSize(archive, 1024)
	head, _ := br.Peek(512)
	if !looksLikeTar(head) {
		return nil, fmt.Errorf("%w: no tar header at its start (compressed? gunzip it first)", ErrBadArchive)
	}
	imgs, err := r.client.Import(ctx, br, ctrd.WithImageRefTranslator(importName))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadArchive, err)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("%w: it names no image (an OCI archive needs io.containerd.image.name or a full reference in org.opencontainers.image.ref.name)", ErrBadArchive)
	}
	var refs []string
	for _, im := range imgs {
		if err := r.unpack(ctx, ctrd.NewImage(r.client, im)); err != nil {
			return refs, err
		}
		refs = append(refs, im.Name)
	}
	return refs, nil
}

// looksLikeTar checks the ustar magic of a tar's first header (POSIX and
// GNU tar both write it at offset 257).
func looksLikeTar(b []byte) bool {
	return len(b) >= 263 && string(b[257:262]) == "ustar"
}
