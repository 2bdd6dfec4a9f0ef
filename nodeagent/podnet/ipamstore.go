package podnet

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// ipamStore is the IPAM's state on disk: one file per allocated address,
// named by the address and holding the owner's UID. A file is created
// whole or not at all (written to a temporary name, synced, then linked
// to its final name: link fails if the name exists, so two claimers of
// one address cannot both win, even in two processes) and removed when
// the pod is torn down.
type ipamStore struct {
	dir string
}

const tmpPrefix = ".tmp-"

// load reads every allocation. Temporary files left by a crash are
// removed; files that do not parse are reported and ignored.
func (s ipamStore) load() (map[netip.Addr]types.UID, []error, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("podnet: reading IPAM dir: %w", err)
	}
	used := make(map[netip.Addr]types.UID, len(ents))
	var bad []error
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			_ = os.Remove(filepath.Join(s.dir, name))
			continue
		}
		a, err := netip.ParseAddr(name)
		if err != nil || !a.Is4() {
			bad = append(bad, fmt.Errorf("podnet: IPAM file %s: not named by an IPv4 address (ignored)", filepath.Join(s.dir, name)))
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, nil, fmt.Errorf("podnet: reading IPAM file: %w", err)
		}
		uid := types.UID(strings.TrimSpace(string(b)))
		if ValidUID(uid) != nil {
			bad = append(bad, fmt.Errorf("podnet: IPAM file %s: bad owner %q (the address stays reserved; remove the file to free it)", filepath.Join(s.dir, name), uid))
		}
		used[a] = uid
	}
	return used, bad, nil
}

// errTaken: the address's file exists (another claimer won).
var errTaken = errors.New("podnet: address taken")

// claim records a for uid; errTaken if a is already recorded.
func (s ipamStore) claim(a netip.Addr, uid types.UID) error {
	tmp, err := os.CreateTemp(s.dir, tmpPrefix)
	if err != nil {
		return fmt.Errorf("podnet: IPAM: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(string(uid) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("podnet: IPAM: writing %s: %w", tmp.Name(), err)
	}
	if err := os.Link(tmp.Name(), filepath.Join(s.dir, a.String())); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return errTaken
		}
		return fmt.Errorf("podnet: IPAM: %w", err)
	}
	return syncDir(s.dir)
}

// release removes every allocation of uid.
func (s ipamStore) release(uid types.UID) error {
	used, _, err := s.load()
	if err != nil {
		return err
	}
	n := 0
	for a, owner := range used {
		if owner != uid {
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, a.String())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("podnet: IPAM: freeing %v: %w", a, err)
		}
		n++
	}
	if n == 0 {
		return nil
	}
	return syncDir(s.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("podnet: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("podnet: syncing %s: %w", dir, err)
	}
	return nil
}
