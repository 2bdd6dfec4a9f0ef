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
