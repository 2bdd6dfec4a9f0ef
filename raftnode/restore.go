package raftnode

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kelson-dev/kelson/kvstore"
	"github.com/kelson-dev/kelson/raftnode/raftlog"
	"github.com/kelson-dev/kelson/raftnode/v3rpc"
	"go.etcd.io/raft/v3/raftpb"
)

// Restoring a backup (`kelson snapshot restore`, etcdutl's `snapshot
// restore`): a file saved by `etcdctl snapshot save` becomes the data dir of
// one member of a NEW cluster, described by the same flags a bootstrap takes
// (--name, --initial-cluster, --initial-cluster-token,
// --initial-advertise-peer-urls, --data-dir). Each member restores the same
// file into its own data dir; started with `kelson store`, the members form
// the new cluster and serve the snapshot's data at the snapshot's revision.
//
// The data dir is written so that its first boot is a restart (boot sees a
// member ID), not a bootstrap:
//
//	store/   the snapshot's store, its applied index set to I
//	raft/    an empty log behind a raft snapshot at index I, term 1, whose
//	         ConfState has every --initial-cluster member as a voter and
//	         whose data is the new membership; hard state term 1, commit I;
//	         meta member_id (this member) and membership (all members)
//
// where I is the number of members, as etcd does. Every member computes the
// same IDs, cluster ID, I and ConfState from the same flags, so their logs
// agree at I and raft elects a leader at term 2 as after any restart. The
// store skips nothing the new log commits: its applied index is I, not the
// old cluster's (kvstore.RestoreAtIndex). Member IDs and the cluster ID
// derive from the peer URLs and the token, as in a bootstrap.
//
// The log holds none of the restored data, so a member added to the
// restored cluster later catches up through a snapshot of the leader's
// store (as etcd's do). That needs the snapshot the leader sends to include
// the new member in its ConfState: see TestRestoredClusterAddsAMember.
//
// While the data dir is being written it holds the marker file RESTORING
// (storedir.go), removed last: a member refuses to start from a data dir
// with the marker, so a restore cut short by a crash is never booted. A
// restore that fails removes what it wrote. The data dir itself may exist
// if empty (a mount point, say): the restore writes inside it.

// RestoreOptions tunes RestoreSnapshot.
type RestoreOptions struct {
	// SkipHashCheck accepts a file without the sha256 trailer that
	// `etcdctl snapshot save` appends (a bare kvstore snapshot stream)
	// [--skip-hash-check]. The stream's own CRC is checked regardless.
	// Default false: the trailer must be there and match.
	SkipHashCheck bool
}

// RestoreResult says what RestoreSnapshot wrote.
type RestoreResult struct {
	MemberID  uint64
	ClusterID uint64
	// Snapshot describes the file's store (revision, records, ...).
	Snapshot kvstore.SnapshotInfo
	// Index is the raft index the new log starts after.
	Index uint64
}

// RestoreSnapshot writes a data dir for cfg.Name, a member of the new
// cluster cfg.InitialCluster, from the snapshot file at path. Only the
// bootstrap fields of cfg matter (Name, DataDir, InitialCluster,
// InitialClusterToken, InitialAdvertisePeerURLs, Logger, FS); defaults are
// those of Start. It refuses an existing non-empty data dir and flags that
// could not bootstrap (ErrBadConfig), and a corrupt, truncated or foreign
// file (kvstore.ErrBadSnapshot).
func RestoreSnapshot(cfg Config, path string, opts RestoreOptions) (RestoreResult, error) {
	var res RestoreResult
	if err := cfg.validate(); err != nil {
		return res, err
	}
	ms, ids, err := initialMembership(cfg)
	if err != nil {
		return res, err
	}
	res.MemberID = memberID(cfg.InitialAdvertisePeerURLs, cfg.InitialClusterToken)
	res.ClusterID = ms.ClusterID
	res.Index = uint64(len(ids))
	if _, ok := ms.Members[res.MemberID]; !ok { // validate checked it; keep the invariant local
		return res, fmt.Errorf("%w: --initial-cluster has no member with peer URLs %v", ErrBadConfig, cfg.InitialAdvertisePeerURLs)
	}
	switch entries, err := os.ReadDir(cfg.DataDir); {
	case err == nil && len(entries) > 0:
		return res, fmt.Errorf("%w: data dir %s exists and is not empty: restore into a new directory, or remove it first", ErrBadConfig, cfg.DataDir)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return res, fmt.Errorf("raftnode: restore: data dir: %w", err)
	}

	body, err := openSnapshotFile(path, opts.SkipHashCheck)
	if err != nil {
		return res, err
	}
	defer body.Close()

	created, err := beginRestore(cfg.DataDir)
	if err != nil {
		return res, err
	}
	done := false
	defer func() {
		if !done {
			abandonRestore(cfg.DataDir, created)
		}
	}()

	storeOpts := kvstore.Options{Logger: cfg.Logger, FS: cfg.FS}
	res.Snapshot, err = kvstore.RestoreAtIndex(filepath.Join(cfg.DataDir, defaultStoreDir), body, res.Index, storeOpts)
	if err != nil {
		return res, fmt.Errorf("raftnode: restore %s: %w", path, err)
	}
	if err := writeRestoredLog(filepath.Join(cfg.DataDir, raftDirName), cfg, ms, ids, res); err != nil {
		return res, fmt.Errorf("raftnode: restore: raft log: %w", err)
	}
	if err := finishRestore(cfg.DataDir); err != nil {
		return res, err
	}
	done = true
	cfg.Logger.Info("restored snapshot", "file", path, "data_dir", cfg.DataDir, "name", cfg.Name,
		"id", fmt.Sprintf("%x", res.MemberID), "cluster", fmt.Sprintf("%x", res.ClusterID),
		"revision", res.Snapshot.Revision, "members", len(ids))
	return res, nil
}

// writeRestoredLog writes the raft log of a restored member (see the
// comment at the top of this file).
func writeRestoredLog(dir string, cfg Config, ms *membership, ids []uint64, res RestoreResult) error {
	rlog, err := raftlog.Open(dir, raftlog.Options{Logger: cfg.Logger, FS: cfg.FS})
	if err != nil {
		return err
	}
	snap := &raftpb.Snapshot{
		Data: ms.encode(),
		Metadata: &raftpb.SnapshotMetadata{
			Index:     new(res.Index),
			Term:      new(uint64(1)),
			ConfState: &raftpb.ConfState{Voters: append([]uint64(nil), ids...)},
		},
	}
	hs := &raftpb.HardState{Term: new(uint64(1)), Vote: new(uint64(0)), Commit: new(res.Index)}
	err = rlog.Save(hs, nil, snap)
	if err == nil {
		err = rlog.SetMeta(metaMembership, ms.encode())
	}
	if err == nil {
		// Last: a member ID is what makes boot restart rather than bootstrap.
		err = rlog.SetMeta(metaMemberID, []byte(fmt.Sprintf("%x", res.MemberID)))
	}
	if cerr := rlog.Close(); err == nil {
		err = cerr
	}
	return err
}

// SnapshotFileStatus verifies a snapshot file (as RestoreSnapshot does) and
// describes its store, without writing anything.
func SnapshotFileStatus(path string, opts RestoreOptions) (kvstore.SnapshotInfo, error) {
	body, err := openSnapshotFile(path, opts.SkipHashCheck)
	if err != nil {
		return kvstore.SnapshotInfo{}, err
	}
	defer body.Close()
	info, err := kvstore.ScanSnapshot(body)
	if err != nil {
		return info, fmt.Errorf("raftnode: snapshot %s: %w", path, err)
	}
	return info, nil
}

// openSnapshotFile opens a file saved by `etcdctl snapshot save` (v3rpc's
// Maintenance.Snapshot stream: the store's stream, zero padding to a
// multiple of 512 bytes, the sha256 of both) and returns its body, the part
// before the sha256. Unless skipHash, the sha256 is verified first, in a
// pass over the file, so that nothing is restored from a damaged file.
func openSnapshotFile(path string, skipHash bool) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot file: %v", ErrBadConfig, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("raftnode: snapshot file: %w", err)
	}
	if st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%w: snapshot file %s is a directory", ErrBadConfig, path)
	}
	if skipHash {
		return f, nil
	}
	size := st.Size()
	const hashLen = v3rpc.SnapshotHashBytes
	if size <= hashLen {
		f.Close()
		return nil, fmt.Errorf("%w: %s is %d bytes, too short for a snapshot (empty or truncated)", kvstore.ErrBadSnapshot, path, size)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size-hashLen)); err != nil {
		f.Close()
		return nil, fmt.Errorf("raftnode: read snapshot file: %w", err)
	}
	want := make([]byte, hashLen)
	if _, err := f.ReadAt(want, size-hashLen); err != nil {
		f.Close()
		return nil, fmt.Errorf("raftnode: read snapshot file: %w", err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		f.Close()
		hint := "the file is corrupt"
		if size%512 != hashLen {
			hint = "the file is truncated or corrupt: etcdctl snapshot save writes a multiple of 512 bytes plus 32"
		}
		return nil, fmt.Errorf("%w: %s: sha256 mismatch (%s); take a new snapshot, or pass --skip-hash-check for a file saved without the sha256 trailer",
			kvstore.ErrBadSnapshot, path, hint)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, 0, size-hashLen), f}, nil
}

// initialMembership is the membership --initial-cluster and
// --initial-cluster-token describe, with its member IDs in --initial-cluster
// order: what a bootstrap (and a snapshot restore) starts the cluster with.
func initialMembership(cfg Config) (*membership, []uint64, error) {
	names, urls, err := parseInitialCluster(cfg.InitialCluster)
	if err != nil {
		return nil, nil, err
	}
	ms := &membership{Token: cfg.InitialClusterToken, Members: map[uint64]*Member{}, Removed: map[uint64]bool{}}
	var ids []uint64
	for _, name := range names {
		id := memberID(urls[name], cfg.InitialClusterToken)
		if _, dup := ms.Members[id]; dup {
			return nil, nil, fmt.Errorf("%w: --initial-cluster lists the same peer URLs twice", ErrBadConfig)
		}
		ms.Members[id] = &Member{ID: id, Name: name, PeerURLs: urls[name]}
		ids = append(ids, id)
	}
	ms.ClusterID = clusterID(ids, cfg.InitialClusterToken)
	return ms, ids, nil
}
