package volumes

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Names inside an atomically written volume directory.
const (
	dataLink    = "..data"
	dataLinkTmp = "..data_tmp"
	tsLayout    = "..2006_01_02_15_04_05."
)

// writeAtomic makes dir hold exactly payload the way kubelet updates
// configMap and secret volumes, so that a reader never sees a mix of old
// and new files:
//
//	dir/..2024_05_01_10_00_00.123/   the files (a fresh directory per change)
//	dir/..data -> ..2024_05_01_10_00_00.123
//	dir/key    -> ..data/key          one link per top-level path
//
// A change writes a new timestamped directory, points ..data_tmp at it
// and renames ..data_tmp over ..data (atomic), then adds the links of
// new top-level paths, removes those of vanished ones and removes the
// old directory. A payload equal to the current content changes nothing.
// gid, when >= 0, is the pod's fsGroup: files and directories get that
// group and group read access.
func writeAtomic(dir string, p Payload, gid int64) (changed bool, err error) {
	if err := ValidatePayload(p); err != nil {
		return false, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	old, _ := os.Readlink(filepath.Join(dir, dataLink))
	if old != "" && !strings.HasPrefix(old, "..") || strings.Contains(old, "/") {
		return false, fmt.Errorf("%s points at %q, not at a directory of its own", filepath.Join(dir, dataLink), old)
	}
	if old == "" || !sameContent(filepath.Join(dir, old), p) {
		changed = true
		ts, err := os.MkdirTemp(dir, time.Now().UTC().Format(tsLayout))
		if err != nil {
			return false, err
		}
		if err := writeFiles(ts, p, gid); err != nil {
			os.RemoveAll(ts)
			return false, err
		}
		tmp := filepath.Join(dir, dataLinkTmp)
		if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
		if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
			os.RemoveAll(ts)
			return false, err
		}
		if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
			os.RemoveAll(ts)
			return false, err
		}
		old = filepath.Base(ts)
	}
	// User-visible links: one per top-level name.
	top := map[string]bool{}
	for k := range p {
		t, _, _ := strings.Cut(k, "/")
		top[t] = true
	}
	for t := range top {
		link := filepath.Join(dir, t)
		target := path.Join(dataLink, t)
		if cur, err := os.Readlink(link); err == nil && cur == target {
			continue
		}
		if err := os.Remove(link); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return changed, err
		}
		if err := os.Symlink(target, link); err != nil {
			return changed, err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return changed, err
	}
	for _, e := range entries {
		n := e.Name()
		switch {
		case n == dataLink || n == old:
		case strings.HasPrefix(n, ".."):
			// older timestamped directories, a stale ..data_tmp
			if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
				return changed, err
			}
		case !top[n] && e.Type()&fs.ModeSymlink != 0:
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return changed, err
			}
		}
	}
	return changed, nil
}

func writeFiles(ts string, p Payload, gid int64) error {
	if err := os.Chmod(ts, 0o755); err != nil {
		return err
	}
	if gid >= 0 {
		if err := os.Lchown(ts, -1, int(gid)); err != nil {
			return err
		}
	}
	for k, f := range p {
		fp := filepath.Join(ts, filepath.FromSlash(k))
		for d := filepath.Dir(fp); d != ts; d = filepath.Dir(d) {
			if err := os.Mkdir(d, 0o755); err == nil && gid >= 0 {
				if err := os.Lchown(d, -1, int(gid)); err != nil {
					return err
				}
			}
		}
		if err := os.MkdirAll(filepath.Dir(fp), 0o755); err != nil {
			return err
		}
		m := f.Mode
		if gid >= 0 {
			m |= 0o040
		}
		if err := os.WriteFile(fp, f.Data, m); err != nil {
			return err
		}
		if err := os.Chmod(fp, m); err != nil { // not subject to the umask
			return err
		}
		if gid >= 0 {
			if err := os.Lchown(fp, -1, int(gid)); err != nil {
				return err
			}
		}
	}
	return nil
}

// sameContent says whether the directory ts holds exactly p (paths,
// bytes and permission bits).
func sameContent(ts string, p Payload) bool {
	n := 0
	same := true
	err := filepath.WalkDir(ts, func(fp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(ts, fp)
		if err != nil {
			return err
		}
		f, ok := p[filepath.ToSlash(rel)]
		if !ok || !d.Type().IsRegular() {
			same = false
			return fs.SkipAll
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(fp)
		if err != nil {
			return err
		}
		if !bytes.Equal(b, f.Data) || info.Mode().Perm()&^0o040 != f.Mode.Perm()&^0o040 {
			same = false
			return fs.SkipAll
		}
		n++
		return nil
	})
	return err == nil && same && n == len(p)
}
