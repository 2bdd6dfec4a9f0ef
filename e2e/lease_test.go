package e2e

import (
	"context"
	"errors"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// TestLeaseKnownToLeaderRightAfterGrant: a lease granted through a
// follower is at once kept alive and looked up through the leader, as
// clientv3's concurrency.Session (etcdctl lock and elect) does with its
// first keep-alive. The grant was acknowledged, so the leader must know the
// lease: a keep-alive answered "not found" makes clientv3 close the
// session's keep-alive channel, and etcdctl elect/lock then fail with
// "session expired" while the lease lives on.
func TestLeaseKnownToLeaderRightAfterGrant(t *testing.T) {
	c := newCluster(t, clusterOptions{size: 3})
	leader := c.Leader()
	follower := c.Others(leader)[0]
	const rounds = 100
	keepAliveMissed, timeToLiveMissed := 0, 0
	for i := 0; i < rounds; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
		g, err := follower.Client().Grant(ctx, 60)
		if err != nil {
			cancel()
			t.Fatalf("grant %d through follower %s: %v", i, follower.Name, err)
		}
		if i%2 == 0 {
			_, err = leader.Client().KeepAliveOnce(ctx, g.ID)
			if errors.Is(err, rpctypes.ErrLeaseNotFound) {
				keepAliveMissed++
				err = nil
			}
		} else {
			var ttl int64
			r, terr := leader.Client().TimeToLive(ctx, g.ID)
			if err = terr; err == nil {
				ttl = r.TTL
			}
			if err == nil && ttl <= 0 {
				timeToLiveMissed++
			}
		}
		cancel()
		if err != nil {
			t.Fatalf("round %d through leader %s: %v", i, leader.Name, err)
		}
	}
	if keepAliveMissed > 0 {
		t.Errorf("%d of %d keep-alives through leader %s found no lease just granted through follower %s",
			keepAliveMissed, rounds/2, leader.Name, follower.Name)
	}
	if timeToLiveMissed > 0 {
		t.Errorf("%d of %d time-to-live calls through leader %s said 'expired' of a lease just granted through follower %s",
			timeToLiveMissed, rounds/2, leader.Name, follower.Name)
	}
}
