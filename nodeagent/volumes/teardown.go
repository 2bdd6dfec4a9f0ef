package volumes

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kelson-dev/kelson/internal/mountinfo"
	"golang.org/x/sys/unix"
)

// unmountAll unmounts every mount at or below dir (lazily when busy) and
// checks none is left.
func unmountAll(dir string) error {
	points, err := mountinfo.Points()
	if err != nil {
		return err
	}
	for _, p := range mountinfo.Under(points, dir) {
		if err := unix.Unmount(p, 0); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			if err2 := unix.Unmount(p, unix.MNT_DETACH); err2 != nil {
				return fmt.Errorf("unmount %s: %w", p, err)
			}
		}
	}
	if points, err = mountinfo.Points(); err != nil {
		return err
	}
	if left := mountinfo.Under(points, dir); len(left) > 0 {
		return fmt.Errorf("%s still has mounts (%s): not removing it, so that no volume's content is deleted", dir, strings.Join(left, ", "))
	}
	return nil
}

// removeTree deletes dir and everything below it without ever following
// a symlink (links are removed, not their targets) and without crossing
// into another filesystem: a directory on a different device is a mount
// point that unmountAll missed, and the removal stops there with an
// error. Directories are opened relative to their parent's descriptor
// with O_NOFOLLOW, so a link swapped in during the walk is not followed.
func removeTree(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	err = removeChildren(fd, st.Dev, dir)
	unix.Close(fd)
	if err != nil {
		return err
	}
	if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// removeChildren empties the directory open as fd (closing nothing: the
// caller owns fd).
func removeChildren(fd int, dev uint64, where string) error {
	dup, err := unix.Dup(fd)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(dup), where)
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("list %s: %w", where, err)
	}
	for _, name := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("stat %s/%s: %w", where, name, err)
		}
		p := where + "/" + name
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := unix.Unlinkat(fd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("remove %s: %w", p, err)
			}
			continue
		}
		if st.Dev != dev {
			return fmt.Errorf("%s is a mount point: not removing it", p)
		}
		cfd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		var cst unix.Stat_t
		if err := unix.Fstat(cfd, &cst); err != nil || cst.Dev != dev {
			unix.Close(cfd)
			return fmt.Errorf("%s changed or is a mount point: not removing it", p)
		}
		err = removeChildren(cfd, dev, p)
		unix.Close(cfd)
		if err != nil {
			return err
		}
		if err := unix.Unlinkat(fd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	return nil
}

// isMountPoint says whether dir is on another device than its parent
// (true for the tmpfs mounts this package makes).
func isMountPoint(dir string) (bool, error) {
	var a, b unix.Stat_t
	if err := unix.Lstat(dir, &a); err != nil {
		return false, err
	}
	if err := unix.Lstat(filepath.Dir(dir), &b); err != nil {
		return false, err
	}
	return a.Dev != b.Dev, nil
}

// mountTmpfs mounts a tmpfs at dir (made when missing) unless one is
// there already, its root with permissions perm; size 0 leaves the
// kernel's default (half the RAM).
func mountTmpfs(dir string, size int64, perm os.FileMode) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if mp, err := isMountPoint(dir); err != nil || mp {
		return err
	}
	opts := "mode=" + strconv.FormatUint(uint64(perm.Perm()), 8)
	if size > 0 {
		opts += ",size=" + strconv.FormatInt(size, 10)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount tmpfs at %s (needs root / CAP_SYS_ADMIN): %w", dir, err)
	}
	return nil
}
