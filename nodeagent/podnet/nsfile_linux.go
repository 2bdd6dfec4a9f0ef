package podnet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Thread discipline. The network namespace is a property of an OS thread,
// and a goroutine may move between threads at any point unless it locked
// its thread; a goroutine started from a locked thread does NOT inherit
// that thread's namespace. Net therefore does its netlink work through
// netlink.Handles bound to a namespace (the node's, captured once in New;
// a pod's, opened per call), which work from any goroutine. The only
// things that need a thread inside a namespace are creating a namespace
// (unshare) and writing a per-namespace sysctl under /proc/sys/net; both
// run in a fresh goroutine that locks its thread, does the work, and exits
// WITHOUT unlocking: the Go runtime then ends that thread, so a thread
// left in a foreign namespace can never run other goroutines.

// onFreshThread runs f on a thread that is thrown away afterwards.
func onFreshThread(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread dies with the goroutine.
		done <- f()
	}()
	return <-done
}

// inNetNS runs f on a fresh thread inside ns.
func inNetNS(ns netns.NsHandle, f func() error) error {
	return onFreshThread(func() error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("podnet: entering the node's network namespace: %w", err)
		}
		return f()
	})
}

// isNetNSFile says whether path is a mounted network namespace (an nsfs
// bind mount), i.e. a pod namespace that survives without a process.
func isNetNSFile(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("podnet: statfs %s: %w", path, err)
	}
	return st.Type == unix.NSFS_MAGIC, nil
}

// makeNetNSFile creates a new network namespace and bind-mounts it on
// path (created if missing). The new namespace has only a down lo.
func makeNetNSFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o444)
	if err != nil {
		return fmt.Errorf("podnet: creating %s: %w", path, err)
	}
	f.Close()
	err = onFreshThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("podnet: unshare(CLONE_NEWNET): %w (the agent needs CAP_SYS_ADMIN)", err)
		}
		src := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("podnet: bind-mounting the new network namespace on %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}

// removeNetNSFile unmounts path (lazily: a process inside keeps the
// namespace alive until it exits) and removes it. Missing is fine.
func removeNetNSFile(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("podnet: unmounting %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("podnet: removing %s: %w", path, err)
	}
	return nil
}
