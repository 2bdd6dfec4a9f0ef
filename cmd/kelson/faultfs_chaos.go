//go:build chaos

// This file exists only in binaries built with `-tags chaos` (the chaos
// suite, package chaos, builds one). The normal binary contains no fault
// injection.

package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/kelson-dev/kelson/raftnode"
)

// chaosDiskEnv names the environment variable that turns on the faulty
// disk: a comma-separated list of settings, e.g.
//
//	KELSON_CHAOS_DISK="latency=2ms,sync-latency=20ms,err-prob=0.0005"
//
//	latency=D       added to every file write (Write, WriteAt)
//	sync-latency=D  added to every Sync, SyncData, SyncTo
//	err-prob=P      probability that a write, sync, create, rename or
//	                remove fails with an injected I/O error
//	seed=N          seed of the error choices (default: from the clock)
//	ctl=PATH        a file re-read every 200ms whose content (same syntax,
//	                without ctl and seed) replaces the settings, so a test
//	                can slow down or heal a running member's disk
//
// A member whose disk fails is expected to stop (the raft loop stops on a
// failed log write; a write Pebble cannot recover from — WAL or MANIFEST —
// ends the process with one error line and exit status 1).
const chaosDiskEnv = "KELSON_CHAOS_DISK"

// The chaos build runs `kelson store` with Config.FS set to a faultFS when
// KELSON_CHAOS_DISK is set. There is no hook for this in the command tree
// (the normal binary must not carry one), so init runs the command line
// itself, exactly as main does, with a store runner that sets the FS.
func init() {
	spec, ok := os.LookupEnv(chaosDiskEnv)
	if !ok || spec == "" {
		return
	}
	fs, err := newFaultFS(vfs.Default, spec)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kelson: %s: %v\n", chaosDiskEnv, err)
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "kelson: chaos build: faulty disk %q\n", spec)
	r := defaultRunners()
	run := r.store
	r.store = func(ctx context.Context, cfg raftnode.Config) error {
		cfg.FS = fs
		return run(ctx, cfg)
	}
	ctx, stop := signalContext(context.Background(), os.Stderr, os.Exit)
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr, r)
	stop()
	fmt.Fprintf(os.Stderr, "kelson: chaos build: injected %d disk errors\n", fs.injected.Load())
	os.Exit(code)
}

// diskFaults are the current settings of a faultFS.
type diskFaults struct {
	latency     time.Duration
	syncLatency time.Duration
	errProb     float64
}

// faultFS wraps a vfs.FS: writes and syncs are slowed down and, with
// probability errProb, fail.
type faultFS struct {
	vfs.FS
	cur      atomic.Pointer[diskFaults]
	injected atomic.Int64

	mu  sync.Mutex // guards rng
	rng *rand.Rand
}

func newFaultFS(inner vfs.FS, spec string) (*faultFS, error) {
	f, seed, ctl, err := parseDiskSpec(spec, true)
	if err != nil {
		return nil, err
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	fs := &faultFS{FS: inner, rng: rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))}
	fs.cur.Store(&f)
	if ctl != "" {
		go fs.watchCtl(ctl)
	}
	return fs, nil
}

// parseDiskSpec parses "key=value,..." (see chaosDiskEnv).
func parseDiskSpec(spec string, top bool) (f diskFaults, seed uint64, ctl string, err error) {
	for _, part := range strings.Split(strings.TrimSpace(spec), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return f, 0, "", fmt.Errorf("%q: want key=value", part)
		}
		switch k {
		case "latency", "sync-latency":
			d, perr := time.ParseDuration(v)
			if perr != nil || d < 0 {
				return f, 0, "", fmt.Errorf("%s=%q: want a duration like 2ms", k, v)
			}
			if k == "latency" {
				f.latency = d
			} else {
				f.syncLatency = d
			}
		case "err-prob":
			p, perr := strconv.ParseFloat(v, 64)
			if perr != nil || p < 0 || p > 1 {
				return f, 0, "", fmt.Errorf("err-prob=%q: want a probability in [0,1]", v)
			}
			f.errProb = p
		case "seed":
			if !top {
				return f, 0, "", fmt.Errorf("seed is not allowed in the ctl file")
			}
			if seed, err = strconv.ParseUint(v, 0, 64); err != nil {
				return f, 0, "", fmt.Errorf("seed=%q: %v", v, err)
			}
		case "ctl":
			if !top {
				return f, 0, "", fmt.Errorf("ctl is not allowed in the ctl file")
			}
			ctl = v
		default:
			return f, 0, "", fmt.Errorf("unknown setting %q (want latency, sync-latency, err-prob, seed, ctl)", k)
		}
	}
	return f, seed, ctl, nil
}

// watchCtl re-reads the control file; a missing or unparsable file keeps
// the current settings.
func (fs *faultFS) watchCtl(path string) {
	var last string
	for {
		if b, err := os.ReadFile(path); err == nil && string(b) != last {
			last = string(b)
			if f, _, _, err := parseDiskSpec(last, false); err == nil {
				fs.cur.Store(&f)
				fmt.Fprintf(os.Stderr, "kelson: chaos build: disk settings now %q\n", strings.TrimSpace(last))
			} else {
				fmt.Fprintf(os.Stderr, "kelson: chaos build: ignoring %s: %v\n", path, err)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// errInjected is the error of an injected disk failure.
var errInjected = errors.New("kelson chaos: injected disk I/O error")

// maybeFail returns an error with the configured probability.
func (fs *faultFS) maybeFail(op, name string) error {
	p := fs.cur.Load().errProb
	if p <= 0 {
		return nil
	}
	fs.mu.Lock()
	hit := fs.rng.Float64() < p
	fs.mu.Unlock()
	if !hit {
		return nil
	}
	n := fs.injected.Add(1)
	fmt.Fprintf(os.Stderr, "kelson: chaos build: injected disk error #%d: %s %s\n", n, op, name)
	return &os.PathError{Op: op, Path: name, Err: errInjected}
}

func sleep(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}

func (fs *faultFS) wrap(f vfs.File, name string, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &faultFile{File: f, fs: fs, name: name}, nil
}

func (fs *faultFS) Create(name string) (vfs.File, error) {
	if err := fs.maybeFail("create", name); err != nil {
		return nil, err
	}
	f, err := fs.FS.Create(name)
	return fs.wrap(f, name, err)
}

func (fs *faultFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.Open(name, opts...)
	return fs.wrap(f, name, err)
}

func (fs *faultFS) OpenReadWrite(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, opts...)
	return fs.wrap(f, name, err)
}

func (fs *faultFS) OpenDir(name string) (vfs.File, error) {
	f, err := fs.FS.OpenDir(name)
	return fs.wrap(f, name, err)
}

func (fs *faultFS) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	if err := fs.maybeFail("reuse", newname); err != nil {
		return nil, err
	}
	f, err := fs.FS.ReuseForWrite(oldname, newname)
	return fs.wrap(f, newname, err)
}

func (fs *faultFS) Rename(oldname, newname string) error {
	if err := fs.maybeFail("rename", oldname); err != nil {
		return err
	}
	return fs.FS.Rename(oldname, newname)
}

func (fs *faultFS) Remove(name string) error {
	if err := fs.maybeFail("remove", name); err != nil {
		return err
	}
	return fs.FS.Remove(name)
}

// faultFile slows down and fails writes and syncs of one file.
type faultFile struct {
	vfs.File
	fs   *faultFS
	name string
}

func (f *faultFile) Write(p []byte) (int, error) {
	sleep(f.fs.cur.Load().latency)
	if err := f.fs.maybeFail("write", f.name); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	sleep(f.fs.cur.Load().latency)
	if err := f.fs.maybeFail("write", f.name); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) Sync() error {
	sleep(f.fs.cur.Load().syncLatency)
	if err := f.fs.maybeFail("sync", f.name); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) SyncData() error {
	sleep(f.fs.cur.Load().syncLatency)
	if err := f.fs.maybeFail("sync", f.name); err != nil {
		return err
	}
	return f.File.SyncData()
}

func (f *faultFile) SyncTo(length int64) (bool, error) {
	sleep(f.fs.cur.Load().syncLatency)
	if err := f.fs.maybeFail("sync", f.name); err != nil {
		return false, err
	}
	return f.File.SyncTo(length)
}

// Fd hides the descriptor: Pebble would otherwise sync through it directly
// (fdatasync, sync_file_range) and bypass the injected faults.
func (f *faultFile) Fd() uintptr { return vfs.InvalidFd }
