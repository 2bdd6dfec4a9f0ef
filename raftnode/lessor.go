package raftnode

import (
	"context"
	"errors"
	authpkg "github.com/kelson-dev/kelson/raftnode/auth"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/kvstore"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// lessor decides lease expiry on the leader. The store holds the leases
// (replicated, deterministic); the lessor holds only deadlines, by the
// leader's clock, and proposes a revoke when one passes. Deadlines start,
// when a member becomes leader, from each lease's checkpointed remaining TTL
// (or its full TTL) — so an election neither resets a lease nor loses it —
// and move forward on every keep-alive. Remaining TTLs are checkpointed
// through raft every checkpointInterval.
type lessor struct {
	n                  *Node
	checkpointInterval time.Duration
	stopc              chan struct{}
	done               chan struct{}

	mu       sync.Mutex
	leader   bool
	deadline map[int64]time.Time // guarded by mu; valid only while leader
	epoch    uint64              // guarded by mu; bumped on every leadership change

	// caughtUpEpoch is the leadership epoch in which this member has
	// applied everything committed at its election, so the checkpoints it
	// starts deadlines from are the latest. Owned by the loop goroutine.
	caughtUpEpoch uint64
}

const (
	lessorTick = 250 * time.Millisecond
	// maxLeaseTTL is etcd's limit on a granted TTL, in seconds.
	maxLeaseTTL = 9_000_000_000
)

func newLessor(n *Node, checkpointInterval time.Duration) *lessor {
	l := &lessor{n: n, checkpointInterval: checkpointInterval, stopc: make(chan struct{}), done: make(chan struct{}),
		deadline: map[int64]time.Time{}}
	go l.loop()
	return l
}

func (l *lessor) setLeader(lead bool) {
	l.mu.Lock()
	if lead != l.leader {
		l.epoch++
	}
	l.leader = lead
	l.deadline = map[int64]time.Time{}
	l.mu.Unlock()
}

func (l *lessor) stop() {
	select {
	case <-l.stopc:
	default:
		close(l.stopc)
	}
	<-l.done
}

// sync adds deadlines for leases it does not know, drops revoked ones and
// returns the expired ones and, when due, the checkpoints to propose. The
// loop calls it on the leader only; leadership is checked again under mu
// once the leases are read (followers keep no deadlines).
func (l *lessor) sync(now time.Time, wantCheckpoint bool) (expired []int64, cps []*pb.LeaseCheckpoint) {
	leases := l.n.store.Load().Leases()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.leader {
		return nil, nil
	}
	seen := make(map[int64]bool, len(leases))
	for _, le := range leases {
		seen[le.ID] = true
		d, ok := l.deadline[le.ID]
		if !ok {
			ttl := le.TTL
			if le.RemainingTTL > 0 {
				ttl = le.RemainingTTL
			}
			d = now.Add(time.Duration(ttl) * time.Second)
			l.deadline[le.ID] = d
		}
		if !d.After(now) {
			expired = append(expired, le.ID)
		} else if wantCheckpoint {
			rem := int64(d.Sub(now).Seconds() + 0.999)
			if rem < le.TTL {
				cps = append(cps, &pb.LeaseCheckpoint{ID: le.ID, Remaining_TTL: rem})
			}
		}
	}
	for id := range l.deadline {
		if !seen[id] {
			delete(l.deadline, id)
		}
	}
	return expired, cps
}

func (l *lessor) loop() {
	defer close(l.done)
	t := time.NewTicker(lessorTick)
	defer t.Stop()
	lastCheckpoint := time.Now()
	for {
		select {
		case <-l.stopc:
			return
		case <-t.C:
			l.mu.Lock()
			lead, epoch := l.leader, l.epoch
			l.mu.Unlock()
			if !lead {
				continue
			}
			if l.caughtUpEpoch != epoch {
				ctx, cancel := context.WithTimeout(context.Background(), l.n.requestTimeout)
				err := l.n.appliedCommitted(ctx)
				cancel()
				if err != nil {
					continue
				}
				l.caughtUpEpoch = epoch
			}
			// The ticker's value is when the tick fired, possibly long ago
			// on a busy machine; deadlines are dated from now.
			now := time.Now()
			due := now.Sub(lastCheckpoint) >= l.checkpointInterval
			expired, cps := l.sync(now, due)
			if due {
				lastCheckpoint = now
			}
			for _, id := range expired {
				l.revoke(id)
			}
			if len(cps) > 0 {
				l.propose(&pb.InternalRaftRequest{LeaseCheckpoint: &pb.LeaseCheckpointRequest{Checkpoints: cps}})
			}
		}
	}
}

func (l *lessor) revoke(id int64) {
	// Push the deadline so the next tick does not propose it again while
	// this revoke is in flight.
	l.mu.Lock()
	l.deadline[id] = time.Now().Add(l.n.requestTimeout)
	l.mu.Unlock()
	go func() {
		if l.propose(&pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: id}}) != nil {
			l.mu.Lock()
			if _, ok := l.deadline[id]; ok {
				l.deadline[id] = time.Now() // retry on the next tick
			}
			l.mu.Unlock()
		}
	}()
}

// propose replicates a lessor request; it returns an error only when a
// retry makes sense.
func (l *lessor) propose(req *pb.InternalRaftRequest) error {
	ctx, cancel := context.WithTimeout(context.Background(), l.n.requestTimeout)
	defer cancel()
	// The member's own decision (expiry, checkpoint): no user's permission applies.
	_, err := l.n.propose(authpkg.NewContext(ctx, authpkg.Internal), req)
	if err == nil || errors.Is(err, kvstore.ErrLeaseNotFound) || errors.Is(err, ErrStopped) {
		return nil
	}
	l.n.log.Debug("lease proposal failed; retried", "err", err)
	return err
}

// renew moves the lease's deadline to now + TTL (on the leader) and
// returns the TTL.
func (l *lessor) renew(id int64) (int64, error) {
	le, err := l.n.store.Load().Lease(id)
	if err != nil {
		return 0, err
	}
	l.mu.Lock()
	if !l.leader {
		l.mu.Unlock()
		return 0, ErrNotLeader
	}
	l.deadline[id] = time.Now().Add(time.Duration(le.TTL) * time.Second)
	l.mu.Unlock()
	if le.RemainingTTL > 0 {
		// A new leader must not start this lease from an old checkpoint:
		// the reset commits before the keep-alive is acknowledged (a leader
		// cut off from the others cannot acknowledge it).
		if err := l.propose(&pb.InternalRaftRequest{LeaseCheckpoint: &pb.LeaseCheckpointRequest{
			Checkpoints: []*pb.LeaseCheckpoint{{ID: id, Remaining_TTL: 0}}}}); err != nil {
			return 0, err
		}
	}
	return le.TTL, nil
}

// remaining returns the seconds left on the lease (on the leader).
func (l *lessor) remaining(id int64, ttl int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.leader {
		return 0, ErrNotLeader
	}
	d, ok := l.deadline[id]
	if !ok {
		return ttl, nil // granted a moment ago; not yet seen by sync
	}
	rem := int64(time.Until(d).Seconds() + 0.999)
	if rem < 0 {
		rem = 0
	}
	return rem, nil
}
