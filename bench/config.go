package bench

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Errors. Each is wrapped with details; test with errors.Is.
var (
	// ErrBadConfig: a Config field is out of range or inconsistent.
	ErrBadConfig = errors.New("bench: bad config")
	// ErrUnreachable: no endpoint answered before the dial timeout.
	ErrUnreachable = errors.New("bench: endpoint unreachable")
	// ErrNoLeader: TargetLeader was set and no endpoint reported a leader.
	ErrNoLeader = errors.New("bench: no leader found")
)

// Common holds the settings every workload shares: where to connect and how
// hard to push. The zero value means the defaults documented per field.
type Common struct {
	// Endpoints are the members' client addresses, host:port or URLs
	// [--endpoints]. Default ["127.0.0.1:2379"].
	Endpoints []string `json:"endpoints"`
	// Conns is the number of gRPC connections (one clientv3.Client each)
	// [--conns]. Connection i dials Endpoints[i % len(Endpoints)] only, so
	// connections spread evenly over the members. Default 1.
	Conns int `json:"conns"`
	// Clients is the number of goroutines issuing requests concurrently,
	// client j on connection j % Conns [--clients]. Each waits for its
	// answer before its next request (a closed loop). Default 1.
	Clients int `json:"clients"`
	// Rate caps requests per second over all clients; 0 means as fast as
	// the clients go [--rate]. Default 0.
	Rate float64 `json:"rate"`
	// TargetLeader sends every request to the current leader only
	// [--target-leader]. Default false.
	TargetLeader bool `json:"target_leader"`
	// DialTimeout bounds connecting and the first status check per
	// endpoint [--dial-timeout]. Default 5s.
	DialTimeout time.Duration `json:"dial_timeout"`
	// TLS, if set, is the client TLS configuration for https:// members
	// [--cacert --cert --key --insecure-skip-tls-verify]. Default nil:
	// plain text.
	TLS *tls.Config `json:"-"`
	// User and Password authenticate every connection, when the store has
	// etcd's auth enabled [--user name:password, as etcd's benchmark].
	// Default: none. The password is never reported.
	User     string `json:"user,omitempty"`
	Password string `json:"-"`
	// Seed seeds the key, value and operation choices; 0 picks one from
	// the clock. The seed used is in Result.Config. Default 0.
	Seed uint64 `json:"seed"`
	// Progress, when set, is told of the run's progress a few times a
	// second from one goroutine. Default nil: no progress reports.
	Progress Progress `json:"-"`
}

func (c Common) withDefaults(defClients int) Common {
	if len(c.Endpoints) == 0 {
		c.Endpoints = []string{"127.0.0.1:2379"}
	}
	if c.Conns == 0 {
		c.Conns = 1
	}
	if c.Clients == 0 {
		c.Clients = defClients
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	return c
}

func (c Common) validate() error {
	for _, e := range c.Endpoints {
		if strings.TrimSpace(e) == "" {
			return fmt.Errorf("%w: empty endpoint in %q", ErrBadConfig, c.Endpoints)
		}
	}
	switch {
	case c.Conns < 1:
		return fmt.Errorf("%w: conns %d: want at least 1", ErrBadConfig, c.Conns)
	case c.Clients < 1:
		return fmt.Errorf("%w: clients %d: want at least 1", ErrBadConfig, c.Clients)
	case c.Rate < 0:
		return fmt.Errorf("%w: rate %g: want requests per second, or 0 for no limit", ErrBadConfig, c.Rate)
	case c.DialTimeout < 0:
		return fmt.Errorf("%w: dial timeout %v is negative", ErrBadConfig, c.DialTimeout)
	}
	return nil
}

// Keys describes the key space of the KV workloads, as etcd's benchmark
// tool does. Key number i is its decimal digits, left-padded with '0' to
// KeySize bytes ("00000042"), so keys are readable in etcdctl and a `put`
// run followed by a `range` run reads back what was written.
type Keys struct {
	// KeySize in bytes [--key-size]. Default 8.
	KeySize int `json:"key_size"`
	// KeySpaceSize is the number of distinct keys [--key-space-size].
	// Must fit in KeySize decimal digits. Default 1.
	KeySpaceSize int64 `json:"key_space_size"`
	// SequentialKeys picks key i mod KeySpaceSize for request i instead
	// of a random key [--sequential-keys]. Default false.
	SequentialKeys bool `json:"sequential_keys"`
}

func (k Keys) withDefaults() Keys {
	if k.KeySize == 0 {
		k.KeySize = 8
	}
	if k.KeySpaceSize == 0 {
		k.KeySpaceSize = 1
	}
	return k
}

func (k Keys) validate() error {
	if k.KeySize < 1 {
		return fmt.Errorf("%w: key size %d: want at least 1 byte", ErrBadConfig, k.KeySize)
	}
	if k.KeySpaceSize < 1 {
		return fmt.Errorf("%w: key space size %d: want at least 1", ErrBadConfig, k.KeySpaceSize)
	}
	if d := len(strconv.FormatInt(k.KeySpaceSize-1, 10)); d > k.KeySize {
		return fmt.Errorf("%w: key space size %d needs %d-byte keys but key size is %d: raise the key size or lower the key space size",
			ErrBadConfig, k.KeySpaceSize, d, k.KeySize)
	}
	return nil
}

// key writes key number n into buf (len KeySize) and returns it.
func (k Keys) key(buf []byte, n int64) []byte {
	buf = buf[:k.KeySize]
	for i := range buf {
		buf[i] = '0'
	}
	for i := len(buf) - 1; i >= 0 && n > 0; i-- {
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return buf
}

// pick returns the key number for request i.
func (k Keys) pick(i int64, rng interface{ Int64N(int64) int64 }) int64 {
	if k.SequentialKeys {
		return i % k.KeySpaceSize
	}
	return rng.Int64N(k.KeySpaceSize)
}

// Consistency of reads: linearizable (etcd's "l", the default) or
// serializable ("s", served by the member asked, possibly stale).
type Consistency string

const (
	Linearizable Consistency = "l"
	Serializable Consistency = "s"
)

// ParseConsistency accepts "l", "s", "linearizable" and "serializable".
func ParseConsistency(s string) (Consistency, error) {
	switch strings.ToLower(s) {
	case "", "l", "linearizable":
		return Linearizable, nil
	case "s", "serializable":
		return Serializable, nil
	}
	return "", fmt.Errorf("%w: consistency %q: want l (linearizable) or s (serializable)", ErrBadConfig, s)
}

func (c Consistency) validate() error {
	_, err := ParseConsistency(string(c))
	return err
}

func (c Consistency) serializable() bool {
	c2, _ := ParseConsistency(string(c))
	return c2 == Serializable
}

func positive(name string, v int64) error {
	if v < 1 {
		return fmt.Errorf("%w: %s %d: want at least 1", ErrBadConfig, name, v)
	}
	return nil
}
