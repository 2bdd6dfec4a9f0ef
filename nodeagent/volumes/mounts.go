package volumes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/kelson-dev/kelson/nodeagent/podenv"
	corev1 "k8s.io/api/core/v1"
)

// volumeInfo is a volume once set up: where it is on the node, whether
// it is always mounted read-only (configMap, secret, downwardAPI,
// projected, a claim with readOnly) and whether its content is written
// by the agent (subPaths inside it are never created).
type volumeInfo struct {
	Path     string
	ReadOnly bool
	Managed  bool
}

// mountReq is one volumeMount of a container, resolved against the
// pod's volumes but before its subPath is looked up on disk.
type mountReq struct {
	Volume        string
	Root          string
	SubPath       string
	ContainerPath string
	ReadOnly      bool
	Managed       bool
}

// containerMounts resolves c's volumeMounts: the volume each names, its
// subPath (or subPathExpr expanded with env, $(VAR) as in env values)
// checked to be relative and free of "..", and read-only when the mount
// or the volume says so.
func containerMounts(c *corev1.Container, vols map[string]volumeInfo, env map[string]string) ([]mountReq, error) {
	out := make([]mountReq, 0, len(c.VolumeMounts))
	for _, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			return nil, fmt.Errorf("container %s: volumeMount %q names no volume of the pod", c.Name, m.Name)
		}
		sub := m.SubPath
		if m.SubPathExpr != "" {
			if sub != "" {
				return nil, fmt.Errorf("container %s: volumeMount %q: subPath and subPathExpr are mutually exclusive", c.Name, m.Name)
			}
			sub = podenv.Expand(m.SubPathExpr, podenv.MapLookup(env))
		}
		if err := validateSubPath(sub); err != nil {
			return nil, fmt.Errorf("container %s: volumeMount %q: %w", c.Name, m.Name, err)
		}
		if !path.IsAbs(m.MountPath) {
			return nil, fmt.Errorf("container %s: volumeMount %q: mountPath %q must be absolute", c.Name, m.Name, m.MountPath)
		}
		out = append(out, mountReq{
			Volume: m.Name, Root: v.Path, SubPath: path.Clean("/" + sub)[1:], ContainerPath: m.MountPath,
			ReadOnly: m.ReadOnly || v.ReadOnly, Managed: v.Managed,
		})
	}
	return out, nil
}

func validateSubPath(sub string) error {
	if sub == "" {
		return nil
	}
	if path.IsAbs(sub) {
		return fmt.Errorf("subPath %q must be a relative path", sub)
	}
	for _, el := range strings.Split(sub, "/") {
		if el == ".." {
			return fmt.Errorf("subPath %q must not contain '..'", sub)
		}
	}
	return nil
}

// simpleEnv is the part of c's environment a subPathExpr can use without
// the API: literal values ($(VAR) expanded against earlier ones) and
// fieldRef values. Config.ContainerEnv, when set, gives the full one.
func simpleEnv(pod *corev1.Pod, c *corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = podenv.Expand(e.Value, podenv.MapLookup(env))
		case e.ValueFrom.FieldRef != nil:
			if v, err := podenv.FieldValue(pod, e.ValueFrom.FieldRef.FieldPath); err == nil {
				env[e.Name] = v
			}
		}
	}
	return env
}

// envMap turns KEY=VALUE lines into a map (later wins).
func envMap(lines []string) map[string]string {
	m := make(map[string]string, len(lines))
	for _, l := range lines {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return m
}

// resolveSubPath is the real path of sub inside root: symlinks met on
// the way are followed only while they stay inside root (a container may
// have planted a link to "/" in its emptyDir); missing directories are
// made with root's permissions when create, else an error. The result
// has no symlinks left, so the runtime binds what was checked.
//
// Weak spot: a container running while another starts could swap a
// checked directory for a symlink before the runtime binds it; kubelet
// closes that window by binding through /proc/self/fd.
func resolveSubPath(root, sub string, create bool) (string, error) {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("volume path %s: %w", root, err)
	}
	if sub == "" {
		return real, nil
	}
	cur := real
	parts := strings.Split(sub, "/")
	for i, el := range parts {
		if el == "" || el == "." {
			continue
		}
		next := filepath.Join(cur, el)
		fi, err := os.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if !create {
				return "", fmt.Errorf("subPath %q does not exist in the volume", sub)
			}
			rfi, err := os.Stat(real)
			if err != nil {
				return "", err
			}
			rest := filepath.Join(append([]string{cur}, parts[i:]...)...)
			if err := os.MkdirAll(rest, rfi.Mode().Perm()); err != nil {
				return "", fmt.Errorf("make subPath %q: %w", sub, err)
			}
			return resolveSubPath(root, sub, false)
		case err != nil:
			return "", fmt.Errorf("subPath %q: %w", sub, err)
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := filepath.EvalSymlinks(next)
			if err != nil {
				return "", fmt.Errorf("subPath %q: %w", sub, err)
			}
			if !within(real, target) {
				return "", fmt.Errorf("subPath %q leads out of its volume (through a symlink to %s): refused", sub, target)
			}
			cur = target
		default:
			cur = next
		}
	}
	return cur, nil
}

func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}
