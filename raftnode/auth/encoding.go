package auth

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/kelson-dev/kelson/kvstore"
	"go.etcd.io/etcd/api/v3/authpb"
	"google.golang.org/protobuf/proto"
)

// Persistence: the state is kept in the store's auxiliary records
// (kvstore.ApplyAux), under the prefix "auth/", with etcd's own wire types
// for users and roles:
//
//	auth/enabled        1 byte: 1 enabled, 0 disabled
//	auth/revision       8 bytes big endian
//	auth/user/<name>    authpb.User (password: the bcrypt hash)
//	auth/role/<name>    authpb.Role
//
// Only what a change touched is written, with the applied raft index, in
// one batch. The records travel with the store: raft snapshots sent to
// followers, `etcdctl snapshot save` and `kelson snapshot restore`.
const (
	// Prefix is where auth records live among the auxiliary records.
	Prefix      = "auth/"
	keyEnabled  = Prefix + "enabled"
	keyRevision = Prefix + "revision"
	prefixUser  = Prefix + "user/"
	prefixRole  = Prefix + "role/"
)

// writes returns the records an edit changed.
func (e *edit) writes() []kvstore.AuxWrite {
	var w []kvstore.AuxWrite
	if e.metaChanged || e.enabled != e.base.Enabled || e.rev != e.base.Revision {
		en := byte(0)
		if e.enabled {
			en = 1
		}
		w = append(w,
			kvstore.AuxWrite{Key: []byte(keyEnabled), Value: []byte{en}},
			kvstore.AuxWrite{Key: []byte(keyRevision), Value: binary.BigEndian.AppendUint64(nil, e.rev)})
	}
	for _, name := range sortedKeys(e.touchedUsers) {
		k := []byte(prefixUser + name)
		u := e.users[name]
		if u == nil {
			w = append(w, kvstore.AuxWrite{Key: k, Delete: true})
			continue
		}
		w = append(w, kvstore.AuxWrite{Key: k, Value: encodeUser(u)})
	}
	for _, name := range sortedKeys(e.touchedRoles) {
		k := []byte(prefixRole + name)
		r := e.roles[name]
		if r == nil {
			w = append(w, kvstore.AuxWrite{Key: k, Delete: true})
			continue
		}
		w = append(w, kvstore.AuxWrite{Key: k, Value: encodeRole(r)})
	}
	return w
}

func encodeUser(u *User) []byte {
	m := &authpb.User{Name: []byte(u.Name), Password: u.Password, Roles: u.Roles}
	if u.NoPassword {
		m.Options = &authpb.UserAddOptions{NoPassword: true}
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m) // plain message: cannot fail
	return b
}

func encodeRole(r *Role) []byte {
	m := &authpb.Role{Name: []byte(r.Name)}
	for _, p := range r.Perms {
		m.KeyPermission = append(m.KeyPermission, &authpb.Permission{PermType: p.Type, Key: p.Key, RangeEnd: p.RangeEnd})
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	return b
}

// Source is where Load reads the records: *kvstore.Store.
type Source interface {
	AuxScan(prefix []byte, fn func(key, value []byte) error) error
}

// LoadState rebuilds the state from the records in src. A store without
// records gives NewState().
func LoadState(src Source) (*State, error) {
	enabled, rev := false, uint64(1)
	users, roles := map[string]*User{}, map[string]*Role{}
	err := src.AuxScan([]byte(Prefix), func(key, value []byte) error {
		k := string(key)
		switch {
		case k == keyEnabled:
			if len(value) != 1 {
				return fmt.Errorf("%w: auth record %q has %d bytes", kvstore.ErrCorrupt, k, len(value))
			}
			enabled = value[0] == 1
		case k == keyRevision:
			if len(value) != 8 {
				return fmt.Errorf("%w: auth record %q has %d bytes", kvstore.ErrCorrupt, k, len(value))
			}
			rev = binary.BigEndian.Uint64(value)
		case strings.HasPrefix(k, prefixUser):
			m := &authpb.User{}
			if err := proto.Unmarshal(value, m); err != nil {
				return fmt.Errorf("%w: auth record %q: %v", kvstore.ErrCorrupt, k, err)
			}
			u := &User{Name: string(m.Name), Password: m.Password, Roles: m.Roles, NoPassword: m.Options.GetNoPassword()}
			users[u.Name] = u
		case strings.HasPrefix(k, prefixRole):
			m := &authpb.Role{}
			if err := proto.Unmarshal(value, m); err != nil {
				return fmt.Errorf("%w: auth record %q: %v", kvstore.ErrCorrupt, k, err)
			}
			r := &Role{Name: string(m.Name)}
			for _, p := range m.KeyPermission {
				r.Perms = append(r.Perms, Perm{Type: p.PermType, Key: p.Key, RangeEnd: p.RangeEnd})
			}
			roles[r.Name] = r
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("auth: load state: %w", err)
	}
	return newState(enabled, rev, users, roles), nil
}
