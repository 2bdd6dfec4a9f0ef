package v3rpc

import (
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestLease(t *testing.T) {
	ts := startServer(t, Options{})
	ctx, cli := testCtx(t), ts.cli

	g, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	checkHeader(t, "grant", g.ResponseHeader, 0)
	if g.ID == 0 || g.TTL != 60 {
		t.Fatalf("grant: %+v", g)
	}
	if _, err := cli.Put(ctx, "l/a", "1", clientv3.WithLease(g.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "l/b", "2", clientv3.WithLease(g.ID)); err != nil {
		t.Fatal(err)
	}
	ttl, err := cli.TimeToLive(ctx, g.ID, clientv3.WithAttachedKeys())
	if err != nil {
		t.Fatal(err)
	}
	if ttl.GrantedTTL != 60 || ttl.TTL <= 0 || ttl.TTL > 60 || len(ttl.Keys) != 2 || string(ttl.Keys[0]) != "l/a" {
		t.Fatalf("time to live: %+v", ttl)
	}
	ka, err := cli.KeepAliveOnce(ctx, g.ID)
	if err != nil || ka.TTL != 60 || ka.ID != g.ID {
		t.Fatalf("keep alive once: %+v %v", ka, err)
	}
	checkHeader(t, "keepalive", ka.ResponseHeader, 0)
	// A short lease for the keep-alive stream: clientv3 renews every TTL/3.
	short, err := cli.Grant(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	kch, err := cli.KeepAlive(ctx, short.ID)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case r := <-kch:
			if r == nil || r.TTL != 3 || r.ID != short.ID {
				t.Fatalf("keep alive: %+v", r)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no keep-alive response")
		}
	}
	ls, err := cli.Leases(ctx)
	if err != nil || len(ls.Leases) != 2 || ls.Leases[0].ID != g.ID {
		t.Fatalf("leases: %+v %v", ls, err)
	}

	rv, err := cli.Revoke(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkHeader(t, "revoke", rv.Header, 4) // both keys deleted in one revision
	if r, err := cli.Get(ctx, "l/", clientv3.WithPrefix()); err != nil || len(r.Kvs) != 0 {
		t.Fatalf("keys after revoke: %v %v", r, err)
	}
	// The keep-alive stream learns the lease is gone: TTL 0 closes the channel.
	if _, err := cli.Revoke(ctx, short.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-kch:
		case <-deadline:
			t.Fatal("keep-alive channel not closed after revoke")
		}
	}
	// An unknown lease: TTL -1 for time-to-live, not found for the rest.
	if ttl, err := cli.TimeToLive(ctx, g.ID); err != nil || ttl.TTL != -1 {
		t.Fatalf("time to live after revoke: %+v %v", ttl, err)
	}
	if _, err := cli.KeepAliveOnce(ctx, g.ID); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Fatalf("keep alive once after revoke: %v", err)
	}
	if _, err := cli.Revoke(ctx, g.ID); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Fatalf("revoke twice: %v", err)
	}
	if _, err := cli.Grant(ctx, MaxLeaseTTL+1); !errors.Is(err, rpctypes.ErrLeaseTTLTooLarge) {
		t.Fatalf("huge TTL: %v", err)
	}
	// A chosen ID, then the same again.
	if g, err := cli.Lease.Grant(ctx, 10); err != nil || g.ID == 0 {
		t.Fatalf("second grant: %+v %v", g, err)
	}
}
