package raftnode

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The live store's directory inside the data dir is named by the pointer
// file STORE ("store" when the file is absent). A snapshot from the leader is
// restored into a directory of its own and made live by switching the
// pointer atomically (write a temp file, fsync, rename, fsync the data dir),
// so a crash at any moment leaves either the old store or the new one, whole
// — never none. Directories the pointer does not name are leftovers of such
// a switch or of an unfinished transfer, removed at start.
const (
	storePointerFile = "STORE"
	defaultStoreDir  = "store"
	storeDirPrefix   = "store"
)

// currentStoreDir returns the name (relative to dataDir) of the live store.
func currentStoreDir(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, storePointerFile))
	if os.IsNotExist(err) {
		return defaultStoreDir, nil
	}
	if err != nil {
		return "", fmt.Errorf("raftnode: read %s: %w", storePointerFile, err)
	}
	name := string(bytes.TrimSpace(b))
	if name == "" || strings.ContainsAny(name, `/\`) || !strings.HasPrefix(name, storeDirPrefix) {
		return "", fmt.Errorf("raftnode: %s in %s names %q, not a store directory", storePointerFile, dataDir, name)
	}
	return name, nil
}

// switchStoreDir makes name the live store, durably.
func switchStoreDir(dataDir, name string) error {
	tmp := filepath.Join(dataDir, storePointerFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(name + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dataDir, storePointerFile)); err != nil {
		return err
	}
	return syncDir(dataDir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeStaleStores deletes store directories other than live.
func removeStaleStores(dataDir, live string) {
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), storeDirPrefix) && e.Name() != live {
			os.RemoveAll(filepath.Join(dataDir, e.Name()))
		}
	}
}

// restoreMarkerFile marks a data dir that `kelson snapshot restore` is
// writing (restore.go). It is created, synced, before anything else and
// removed after everything else is durable; newNode refuses a data dir that
// holds it.
const restoreMarkerFile = "RESTORING"

// checkRestoreFinished fails if dataDir holds an interrupted restore.
func checkRestoreFinished(dataDir string) error {
	_, err := os.Stat(filepath.Join(dataDir, restoreMarkerFile))
	if err == nil {
		return fmt.Errorf("%w: data dir %s holds an unfinished snapshot restore (it was interrupted): remove the directory and run kelson snapshot restore again",
			ErrBadConfig, dataDir)
	}
	if !os.IsNotExist(err) {
		return fmt.Errorf("raftnode: data dir %s: %w", dataDir, err)
	}
	return nil
}

// beginRestore creates dataDir if missing (reporting whether it did) and
// durably writes the restore marker into it.
func beginRestore(dataDir string) (created bool, err error) {
	if _, err := os.Stat(dataDir); os.IsNotExist(err) {
		created = true
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return false, fmt.Errorf("raftnode: restore: create data dir: %w", err)
	}
	fail := func(err error) (bool, error) {
		abandonRestore(dataDir, created)
		return false, fmt.Errorf("raftnode: restore: %w", err)
	}
	if created {
		if err := syncDir(filepath.Dir(filepath.Clean(dataDir))); err != nil {
			return fail(err)
		}
	}
	f, err := os.Create(filepath.Join(dataDir, restoreMarkerFile))
	if err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := syncDir(dataDir); err != nil {
		return fail(err)
	}
	return created, nil
}

// finishRestore removes the marker once the restored data dir is durable.
func finishRestore(dataDir string) error {
	if err := os.Remove(filepath.Join(dataDir, restoreMarkerFile)); err != nil {
		return fmt.Errorf("raftnode: restore: %w", err)
	}
	if err := syncDir(dataDir); err != nil {
		return fmt.Errorf("raftnode: restore: %w", err)
	}
	return nil
}

// abandonRestore removes what a failed restore wrote: the data dir if the
// restore created it, else its contents (it was empty before), marker last.
func abandonRestore(dataDir string, created bool) {
	if created {
		os.RemoveAll(dataDir)
		return
	}
	entries, _ := os.ReadDir(dataDir)
	for _, e := range entries {
		if e.Name() != restoreMarkerFile {
			os.RemoveAll(filepath.Join(dataDir, e.Name()))
		}
	}
	os.Remove(filepath.Join(dataDir, restoreMarkerFile))
}
