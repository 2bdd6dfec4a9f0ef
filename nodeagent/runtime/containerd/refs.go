package containerd

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// ErrBadImage is returned (wrapped) for an image reference that cannot be
// parsed.
var ErrBadImage = errors.New("containerd: bad image reference")

// imageName is a parsed, normalised reference.
type imageName struct {
	Repo   string // docker.io/library/httpd
	Tag    string // latest ("" with a digest only)
	Digest string // sha256:... or ""
}

// String is the normalised reference: repo:tag, repo@digest or
// repo:tag@digest.
func (n imageName) String() string {
	s := n.Repo
	if n.Tag != "" {
		s += ":" + n.Tag
	}
	if n.Digest != "" {
		s += "@" + n.Digest
	}
	return s
}

// NormalizeImage turns an image as written in a pod spec into the full
// reference containerd stores, as Docker and kubelet do:
//
//	httpd                  -> docker.io/library/httpd:latest
//	busybox:1.36           -> docker.io/library/busybox:1.36
//	me/app                 -> docker.io/me/app:latest
//	quay.io/x/y@sha256:..  -> quay.io/x/y@sha256:..
//	localhost:5000/app     -> localhost:5000/app:latest
func NormalizeImage(image string) (string, error) {
	n, err := parseImage(image)
	if err != nil {
		return "", err
	}
	return n.String(), nil
}

func parseImage(image string) (imageName, error) {
	var n imageName
	s := strings.TrimSpace(image)
	if s == "" {
		return n, fmt.Errorf("%w: empty image", ErrBadImage)
	}
	if i := strings.Index(s, "@"); i >= 0 {
		n.Digest = s[i+1:]
		s = s[:i]
		algo, hexPart, ok := strings.Cut(n.Digest, ":")
		if !ok || algo != "sha256" || len(hexPart) != 64 || strings.Trim(hexPart, "0123456789abcdef") != "" {
			return n, fmt.Errorf("%w: %q: a digest is sha256: and 64 lowercase hex digits", ErrBadImage, image)
		}
	}
	if slash, colon := strings.LastIndex(s, "/"), strings.LastIndex(s, ":"); colon > slash {
		n.Tag = s[colon+1:]
		s = s[:colon]
		if !validTag(n.Tag) {
			return n, fmt.Errorf("%w: %q: bad tag %q", ErrBadImage, image, n.Tag)
		}
	}
	domain, rest, hasSlash := strings.Cut(s, "/")
	if !hasSlash || !(strings.ContainsAny(domain, ".:") || domain == "localhost" || strings.ToLower(domain) != domain) {
		domain, rest = "docker.io", s
	}
	if domain == "index.docker.io" {
		domain = "docker.io"
	}
	if domain == "docker.io" && !strings.Contains(rest, "/") {
		rest = "library/" + rest
	}
	for _, comp := range strings.Split(rest, "/") {
		if !validPathComponent(comp) {
			return n, fmt.Errorf("%w: %q: bad repository component %q (lowercase letters, digits and . _ - only)", ErrBadImage, image, comp)
		}
	}
	n.Repo = domain + "/" + rest
	if n.Tag == "" && n.Digest == "" {
		n.Tag = "latest"
	}
	return n, nil
}

func validTag(t string) bool {
	if t == "" || len(t) > 128 {
		return false
	}
	for i, c := range t {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || (i > 0 && (c == '.' || c == '-'))
		if !ok {
			return false
		}
	}
	return true
}

func validPathComponent(c string) bool {
	if c == "" {
		return false
	}
	for i, r := range c {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		sep := r == '.' || r == '_' || r == '-'
		if !alnum && !(sep && i > 0 && i < len(c)-1) {
			return false
		}
	}
	return true
}

// digestRef is the image's digest reference as containerStatuses report
// imageID: docker.io/library/httpd@sha256:...
func digestRef(normalized, digest string) string {
	n, err := parseImage(normalized)
	if err != nil {
		return normalized
	}
	return n.Repo + "@" + digest
}

// importName names an image of an OCI archive that carries only
// org.opencontainers.image.ref.name: a full reference is normalised; a
// bare tag ("latest") cannot name an image and is skipped ("").
func importName(refName string) string {
	if !strings.ContainsAny(refName, "/:@") {
		return ""
	}
	n, err := NormalizeImage(refName)
	if err != nil {
		return ""
	}
	return n
}

// ContainerID is the deterministic ID of one container instance: the same
// pod UID, container name and attempt always give the same ID, so a
// retried create finds the instance it made.
func ContainerID(podUID types.UID, name string, attempt int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%s/%d", podUID, name, attempt)))
	return "k" + hex.EncodeToString(sum[:16])
}
