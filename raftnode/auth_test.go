package raftnode

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authpkg "github.com/kelson-dev/kelson/raftnode/auth"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// userClient is a client that authenticates as user.
func userClient(t testing.TB, user, pw string, eps ...string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Username: user, Password: pw, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("client as %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// isErr compares a client error with an etcd error by code and message.
func isErr(err, want error) bool {
	return err != nil && rpctypes.ErrorDesc(err) == rpctypes.ErrorDesc(want)
}

func mustErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !isErr(err, want) {
		t.Fatalf("%s: err %v, want %v", what, err, want)
	}
}

func mustOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// setUpAuth makes root (root role), alice (role app: readwrite prefix
// /app/, read /ro) and bob (role reader: read prefix /app/), then enables
// auth.
func setUpAuth(t *testing.T, ctx context.Context, cli *clientv3.Client) {
	t.Helper()
	steps := []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := cli.RoleAdd(ctx, "root"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.UserAdd(ctx, "alice", "alicepw"); return err },
		func() error { _, err := cli.UserAdd(ctx, "bob", "bobpw"); return err },
		func() error { _, err := cli.RoleAdd(ctx, "app"); return err },
		func() error { _, err := cli.RoleAdd(ctx, "reader"); return err },
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "app", "/app/", clientv3.GetPrefixRangeEnd("/app/"), clientv3.PermissionType(authpb.READWRITE))
			return err
		},
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "app", "/ro", "", clientv3.PermissionType(authpb.READ))
			return err
		},
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "reader", "/app/", clientv3.GetPrefixRangeEnd("/app/"), clientv3.PermissionType(authpb.READ))
			return err
		},
		func() error { _, err := cli.UserGrantRole(ctx, "alice", "app"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "bob", "reader"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	}
	for i, s := range steps {
		if err := s(); err != nil {
			t.Fatalf("auth set-up step %d: %v", i, err)
		}
	}
}

func authTestConfig(i int, c *Config) { c.Auth.BcryptCost = 4 }

// TestAuthChecksEveryService drives one member with clientv3 as nobody,
// alice, bob and root, through every service, and checks etcd's answers.
func TestAuthChecksEveryService(t *testing.T) {
	tc := newTestCluster(t, 1, authTestConfig)
	tc.leader()
	ep := tc.endpoints()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	open := quietClient(t, ep)
	_, err := open.AuthEnable(ctx)
	mustErr(t, "enable without root", err, rpctypes.ErrRootUserNotExist)
	_, err = open.UserAdd(ctx, "root", "rootpw")
	mustOK(t, "user add root", err)
	_, err = open.AuthEnable(ctx)
	mustErr(t, "enable without root role", err, rpctypes.ErrRootRoleNotExist)
	_, err = open.UserDelete(ctx, "root")
	mustOK(t, "user delete root", err)
	setUpAuth(t, ctx, open)

	if _, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, Username: "alice", Password: "nope", Logger: zap.NewNop(), DialTimeout: 5 * time.Second}); !isErr(err, rpctypes.ErrAuthFailed) {
		t.Fatalf("wrong password: %v", err)
	}
	root := userClient(t, "root", "rootpw", ep)
	alice := userClient(t, "alice", "alicepw", ep)
	bob := userClient(t, "bob", "bobpw", ep)

	t.Run("nobody", func(t *testing.T) {
		_, err := open.Get(ctx, "/app/x")
		mustErr(t, "get", err, rpctypes.ErrUserEmpty)
		_, err = open.Put(ctx, "/app/x", "v")
		mustErr(t, "put", err, rpctypes.ErrUserEmpty)
		_, err = open.Grant(ctx, 60)
		mustErr(t, "lease grant", err, rpctypes.ErrUserEmpty)
		_, err = open.Status(ctx, ep)
		mustErr(t, "status", err, rpctypes.ErrUserEmpty)
		_, err = open.MemberList(ctx)
		mustErr(t, "member list", err, rpctypes.ErrUserEmpty)
		_, err = open.Compact(ctx, 1)
		mustErr(t, "compact", err, rpctypes.ErrUserEmpty)
		_, err = open.UserList(ctx)
		mustErr(t, "user list", err, rpctypes.ErrUserEmpty)
		st, err := open.AuthStatus(ctx)
		mustOK(t, "auth status", err)
		if !st.Enabled || st.AuthRevision == 0 {
			t.Fatalf("auth status %+v", st)
		}
		wch := open.Watch(ctx, "/app/", clientv3.WithPrefix())
		if r := <-wch; !r.Canceled || !strings.Contains(r.Err().Error(), "user name is empty") {
			t.Fatalf("watch as nobody: %+v %v", r, r.Err())
		}
	})

	t.Run("alice", func(t *testing.T) {
		_, err := alice.Put(ctx, "/app/a", "1")
		mustOK(t, "put in prefix", err)
		r, err := alice.Get(ctx, "/app/", clientv3.WithPrefix())
		mustOK(t, "get prefix", err)
		if len(r.Kvs) != 1 {
			t.Fatalf("get /app/ prefix: %v", r.Kvs)
		}
		_, err = alice.Put(ctx, "/other", "1")
		mustErr(t, "put outside", err, rpctypes.ErrPermissionDenied)
		_, err = alice.Get(ctx, "/", clientv3.WithPrefix())
		mustErr(t, "get wider prefix", err, rpctypes.ErrPermissionDenied)
		_, err = alice.Get(ctx, "/ro")
		mustOK(t, "get read-only key", err)
		_, err = alice.Put(ctx, "/ro", "x")
		mustErr(t, "put read-only key", err, rpctypes.ErrPermissionDenied)
		_, err = alice.Delete(ctx, "/app/", clientv3.WithPrefix(), clientv3.WithPrevKV())
		mustOK(t, "delete prefix", err)
		_, err = alice.Delete(ctx, "/", clientv3.WithPrefix())
		mustErr(t, "delete wider prefix", err, rpctypes.ErrPermissionDenied)

		// Txn: every key counts, compares and both branches.
		_, err = alice.Txn(ctx).If(clientv3.Compare(clientv3.Version("/app/t"), "=", 0)).
			Then(clientv3.OpPut("/app/t", "1")).Else(clientv3.OpGet("/app/t")).Commit()
		mustOK(t, "txn inside", err)
		_, err = alice.Txn(ctx).If(clientv3.Compare(clientv3.Version("/secret"), "=", 0)).Then(clientv3.OpPut("/app/t", "2")).Commit()
		mustErr(t, "txn compare outside", err, rpctypes.ErrPermissionDenied)
		_, err = alice.Txn(ctx).Then(clientv3.OpPut("/app/t", "2")).Else(clientv3.OpPut("/secret", "x")).Commit()
		mustErr(t, "txn other branch outside", err, rpctypes.ErrPermissionDenied)
		_, err = alice.Txn(ctx).Then(clientv3.OpGet("/secret")).Commit()
		mustErr(t, "read-only txn outside", err, rpctypes.ErrPermissionDenied)

		// Watch: checked on create.
		wctx, wcancel := context.WithCancel(ctx)
		defer wcancel()
		wch := alice.Watch(wctx, "/app/", clientv3.WithPrefix())
		denied := alice.Watch(wctx, "/secret")
		if r := <-denied; !r.Canceled || !strings.Contains(r.Err().Error(), "permission denied") {
			t.Fatalf("watch outside: %+v %v", r, r.Err())
		}
		_, err = alice.Put(ctx, "/app/w", "1")
		mustOK(t, "put for watch", err)
		if r := <-wch; len(r.Events) != 1 || string(r.Events[0].Kv.Key) != "/app/w" {
			t.Fatalf("watch inside: %+v %v", r, r.Err())
		}

		// Leases.
		l, err := alice.Grant(ctx, 60)
		mustOK(t, "lease grant", err)
		_, err = alice.Put(ctx, "/app/l", "1", clientv3.WithLease(l.ID))
		mustOK(t, "put with lease", err)
		ttl, err := alice.TimeToLive(ctx, l.ID, clientv3.WithAttachedKeys())
		mustOK(t, "time to live with keys", err)
		if len(ttl.Keys) != 1 {
			t.Fatalf("lease keys %q", ttl.Keys)
		}
		_, err = alice.KeepAliveOnce(ctx, l.ID)
		mustOK(t, "keep alive", err)
		_, err = alice.Leases(ctx)
		mustOK(t, "leases", err)
		_, err = alice.Revoke(ctx, l.ID)
		mustOK(t, "revoke", err)

		// Admin only.
		_, err = alice.Defragment(ctx, ep)
		mustErr(t, "defragment", err, rpctypes.ErrPermissionDenied)
		_, err = alice.HashKV(ctx, ep, 0)
		mustErr(t, "hashkv", err, rpctypes.ErrPermissionDenied)
		_, err = pb.NewMaintenanceClient(alice.ActiveConnection()).Hash(ctx, &pb.HashRequest{})
		mustErr(t, "hash", err, rpctypes.ErrPermissionDenied)
		rc, err := alice.Snapshot(ctx)
		if err == nil {
			_, err = io.ReadAll(rc)
		}
		mustErr(t, "snapshot", err, rpctypes.ErrPermissionDenied)
		_, err = alice.MoveLeader(ctx, 1)
		mustErr(t, "move leader", err, rpctypes.ErrPermissionDenied)
		_, err = pb.NewMaintenanceClient(alice.ActiveConnection()).Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, Alarm: pb.AlarmType_NOSPACE})
		mustErr(t, "alarm disarm", err, rpctypes.ErrPermissionDenied)
		_, err = alice.AlarmList(ctx)
		mustOK(t, "alarm list", err)
		_, err = alice.MemberAdd(ctx, []string{"http://127.0.0.1:1"})
		mustErr(t, "member add", err, rpctypes.ErrPermissionDenied)
		_, err = alice.MemberRemove(ctx, 1)
		mustErr(t, "member remove", err, rpctypes.ErrPermissionDenied)
		_, err = alice.MemberList(ctx)
		mustOK(t, "member list", err)
		_, err = alice.Status(ctx, ep)
		mustOK(t, "status", err)
		_, err = alice.UserAdd(ctx, "mallory", "x")
		mustErr(t, "user add", err, rpctypes.ErrPermissionDenied)
		_, err = alice.UserList(ctx)
		mustErr(t, "user list", err, rpctypes.ErrPermissionDenied)
		_, err = alice.AuthDisable(ctx)
		mustErr(t, "auth disable", err, rpctypes.ErrPermissionDenied)
		u, err := alice.UserGet(ctx, "alice")
		mustOK(t, "user get self", err)
		if fmt.Sprint(u.Roles) != "[app]" {
			t.Fatalf("alice's roles %v", u.Roles)
		}
		_, err = alice.UserGet(ctx, "bob")
		mustErr(t, "user get other", err, rpctypes.ErrPermissionDenied)
		_, err = alice.RoleGet(ctx, "app")
		mustOK(t, "role get own", err)
		_, err = alice.RoleGet(ctx, "reader")
		mustErr(t, "role get other", err, rpctypes.ErrPermissionDenied)
	})

	t.Run("bob and leases", func(t *testing.T) {
		_, err := bob.Get(ctx, "/app/t")
		mustOK(t, "get", err)
		_, err = bob.Put(ctx, "/app/t", "x")
		mustErr(t, "put read-only", err, rpctypes.ErrPermissionDenied)
		// A lease holding a key bob may not write: bob may not use it.
		l, err := root.Grant(ctx, 60)
		mustOK(t, "root grant", err)
		_, err = root.Put(ctx, "/secret", "s", clientv3.WithLease(l.ID))
		mustOK(t, "root put with lease", err)
		_, err = bob.TimeToLive(ctx, l.ID, clientv3.WithAttachedKeys())
		mustErr(t, "time to live keys", err, rpctypes.ErrPermissionDenied)
		_, err = bob.TimeToLive(ctx, l.ID)
		mustOK(t, "time to live without keys", err)
		_, err = bob.KeepAliveOnce(ctx, l.ID)
		mustErr(t, "keep alive", err, rpctypes.ErrPermissionDenied)
		_, err = bob.Revoke(ctx, l.ID)
		mustErr(t, "revoke", err, rpctypes.ErrPermissionDenied)
		_, err = bob.Leases(ctx)
		mustErr(t, "leases", err, rpctypes.ErrPermissionDenied)
		_, err = alice.Put(ctx, "/app/z", "x", clientv3.WithLease(l.ID))
		mustErr(t, "attach to a foreign lease", err, rpctypes.ErrPermissionDenied)
		_, err = root.Revoke(ctx, l.ID)
		mustOK(t, "root revoke", err)
	})

	t.Run("root", func(t *testing.T) {
		_, err := root.Put(ctx, "/anything", "x")
		mustOK(t, "put", err)
		_, err = root.Defragment(ctx, ep)
		mustOK(t, "defragment", err)
		_, err = root.HashKV(ctx, ep, 0)
		mustOK(t, "hashkv", err)
		rc, err := root.Snapshot(ctx)
		mustOK(t, "snapshot", err)
		n, err := io.Copy(io.Discard, rc)
		mustOK(t, "snapshot read", err)
		if n == 0 {
			t.Fatal("empty snapshot")
		}
		users, err := root.UserList(ctx)
		mustOK(t, "user list", err)
		if fmt.Sprint(users.Users) != "[alice bob root]" {
			t.Fatalf("users %v", users.Users)
		}
		rg, err := root.RoleGet(ctx, "root")
		mustOK(t, "role get root", err)
		if len(rg.Perm) != 1 || rg.Perm[0].PermType != authpb.READWRITE {
			t.Fatalf("root role perms %v", rg.Perm)
		}
		_, err = root.UserDelete(ctx, "root")
		mustErr(t, "delete root", err, rpctypes.ErrInvalidAuthMgmt)
		_, err = root.UserRevokeRole(ctx, "root", "root")
		mustErr(t, "revoke root's root", err, rpctypes.ErrInvalidAuthMgmt)
		_, err = root.UserGet(ctx, "nobody")
		mustErr(t, "user get missing", err, rpctypes.ErrUserNotFound)
		_, err = root.UserAdd(ctx, "alice", "x")
		mustErr(t, "user add twice", err, rpctypes.ErrUserAlreadyExist)
		_, err = root.RoleGet(ctx, "nope")
		mustErr(t, "role get missing", err, rpctypes.ErrRoleNotFound)
		_, err = root.RoleRevokePermission(ctx, "app", "/nope", "")
		mustErr(t, "revoke missing perm", err, rpctypes.ErrPermissionNotGranted)
		_, err = root.UserRevokeRole(ctx, "alice", "reader")
		mustErr(t, "revoke role not granted", err, rpctypes.ErrRoleNotGranted)
	})

	t.Run("changes take effect at once", func(t *testing.T) {
		_, err := root.RoleRevokePermission(ctx, "app", "/app/", clientv3.GetPrefixRangeEnd("/app/"))
		mustOK(t, "revoke permission", err)
		_, err = alice.Put(ctx, "/app/a", "1")
		mustErr(t, "put after revoke", err, rpctypes.ErrPermissionDenied)
		_, err = root.UserChangePassword(ctx, "bob", "newpw")
		mustOK(t, "change password", err)
		if _, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, Username: "bob", Password: "bobpw", Logger: zap.NewNop(), DialTimeout: 5 * time.Second}); !isErr(err, rpctypes.ErrAuthFailed) {
			t.Fatalf("old password after change: %v", err)
		}
		userClient(t, "bob", "newpw", ep)
		_, err = root.AuthDisable(ctx)
		mustOK(t, "auth disable", err)
		_, err = open.Put(ctx, "/free", "x")
		mustOK(t, "put with auth off", err)
	})
}

// rawAuth dials a member with a bare gRPC connection so that tests see the
// errors clientv3 would handle by itself (re-authenticating).
func rawAuth(t *testing.T, ep string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(strings.TrimPrefix(ep, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func tokenFor(t *testing.T, ctx context.Context, conn *grpc.ClientConn, user, pw string) string {
	t.Helper()
	r, err := pb.NewAuthClient(conn).Authenticate(ctx, &pb.AuthenticateRequest{Name: user, Password: pw})
	if err != nil {
		t.Fatalf("authenticate %s: %v", user, err)
	}
	return r.Token
}

func withToken(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, rpctypes.TokenFieldNameGRPC, tok)
}

// TestAuthTokens: a simple token dies after --auth-token-ttl unused; a JWT
// names the auth revision it was issued at, and is refused with
// ErrAuthOldRevision once users or roles change.
func TestAuthTokens(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t.Run("simple TTL", func(t *testing.T) {
		tc := newTestCluster(t, 1, func(i int, c *Config) { c.Auth.BcryptCost = 4; c.Auth.TokenTTL = 2 * time.Second })
		tc.leader()
		ep := tc.endpoints()[0]
		setUpAuth(t, ctx, quietClient(t, ep))
		conn := rawAuth(t, ep)
		kv := pb.NewKVClient(conn)
		tok := tokenFor(t, ctx, conn, "alice", "alicepw")
		if _, err := kv.Range(withToken(ctx, tok), &pb.RangeRequest{Key: []byte("/app/x")}); err != nil {
			t.Fatalf("fresh token: %v", err)
		}
		if _, err := kv.Range(withToken(ctx, "bogus.1"), &pb.RangeRequest{Key: []byte("/app/x")}); !isErr(err, rpctypes.ErrGRPCInvalidAuthToken) {
			t.Fatalf("bogus token: %v", err)
		}
		time.Sleep(4 * time.Second) // twice the TTL, unused
		if _, err := kv.Range(withToken(ctx, tok), &pb.RangeRequest{Key: []byte("/app/x")}); !isErr(err, rpctypes.ErrGRPCInvalidAuthToken) {
			t.Fatalf("expired token: %v", err)
		}
		// clientv3 gets a new token by itself and goes on.
		cli := userClient(t, "alice", "alicepw", ep)
		_, err := cli.Get(ctx, "/app/x")
		mustOK(t, "client get", err)
		time.Sleep(4 * time.Second)
		_, err = cli.Get(ctx, "/app/x")
		mustOK(t, "client get after expiry (re-authenticates)", err)
	})
	t.Run("jwt old revision", func(t *testing.T) {
		dir := t.TempDir()
		priv, pub := writeTestKeys(t, dir)
		tc := newTestCluster(t, 1, func(i int, c *Config) {
			c.Auth.BcryptCost = 4
			c.Auth.Token = "jwt,sign-method=ES256,priv-key=" + priv + ",pub-key=" + pub
		})
		tc.leader()
		ep := tc.endpoints()[0]
		setUpAuth(t, ctx, quietClient(t, ep))
		conn := rawAuth(t, ep)
		kv := pb.NewKVClient(conn)
		tok := tokenFor(t, ctx, conn, "alice", "alicepw")
		if strings.Count(tok, ".") != 2 {
			t.Fatalf("not a JWT: %q", tok)
		}
		if _, err := kv.Put(withToken(ctx, tok), &pb.PutRequest{Key: []byte("/app/j"), Value: []byte("1")}); err != nil {
			t.Fatalf("put with JWT: %v", err)
		}
		root := userClient(t, "root", "rootpw", ep)
		_, err := root.RoleAdd(ctx, "another")
		mustOK(t, "role add", err)
		if _, err := kv.Range(withToken(ctx, tok), &pb.RangeRequest{Key: []byte("/app/j")}); !isErr(err, rpctypes.ErrGRPCAuthOldRevision) {
			t.Fatalf("JWT after an auth change: %v", err)
		}
		if _, err := kv.Put(withToken(ctx, tok), &pb.PutRequest{Key: []byte("/app/j"), Value: []byte("2")}); !isErr(err, rpctypes.ErrGRPCAuthOldRevision) {
			t.Fatalf("put with old JWT: %v", err)
		}
		// clientv3 re-authenticates on ErrAuthOldRevision.
		cli := userClient(t, "alice", "alicepw", ep)
		_, err = root.RoleAdd(ctx, "yet-another")
		mustOK(t, "role add", err)
		_, err = cli.Put(ctx, "/app/j", "3")
		mustOK(t, "client put after an auth change", err)
	})
}

// TestAuthClusterReplicatesAndSurvivesRestarts: auth enabled through one
// member holds on all three, across a restart of every member, and a
// follower that catches up through a snapshot gets the auth state too.
func TestAuthClusterReplicatesAndSurvivesRestarts(t *testing.T) {
	tc := newTestCluster(t, 3, func(i int, c *Config) {
		c.Auth.BcryptCost = 4
		c.SnapshotCount = 50
		c.catchUpEntries = 10
	})
	tc.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	eps := tc.endpoints()
	setUpAuth(t, ctx, quietClient(t, eps[0]))

	check := func(what string, i int) {
		t.Helper()
		_, err := quietClient(t, eps[i]).Get(ctx, "/app/x", clientv3.WithSerializable())
		mustErr(t, what+": nobody", err, rpctypes.ErrUserEmpty)
		alice := userClient(t, "alice", "alicepw", eps[i])
		_, err = alice.Get(ctx, "/app/x", clientv3.WithSerializable())
		mustOK(t, what+": alice reads her prefix", err)
		_, err = alice.Get(ctx, "/secret", clientv3.WithSerializable())
		mustErr(t, what+": alice outside", err, rpctypes.ErrPermissionDenied)
	}
	for i := range eps {
		eventually(t, 20*time.Second, "auth on every member", func() error {
			st, err := userClient(t, "root", "rootpw", eps[i]).AuthStatus(ctx)
			if err != nil {
				return err
			}
			if !st.Enabled {
				return errors.New("not enabled")
			}
			return nil
		})
		check(fmt.Sprintf("member %d", i), i)
	}

	tc.stopAll()
	for i := range eps {
		tc.start(i)
	}
	tc.leader()
	for i := range eps {
		check(fmt.Sprintf("member %d after restart", i), i)
	}

	// A follower that misses a user's creation and many writes catches up
	// through a snapshot of the store, auth records included.
	lead := tc.leader()
	f := (lead + 1) % 3
	tc.stop(f)
	root := userClient(t, "root", "rootpw", eps[lead])
	_, err := root.UserAdd(ctx, "carol", "carolpw")
	mustOK(t, "user add carol", err)
	_, err = root.UserGrantRole(ctx, "carol", "app")
	mustOK(t, "grant carol", err)
	for i := 0; i < 200; i++ {
		_, err := root.Put(ctx, fmt.Sprintf("/app/k%03d", i%50), "v")
		mustOK(t, "put", err)
	}
	tc.start(f)
	snapshotted := tc.servers[f].Node
	eventually(t, 30*time.Second, "follower catches up", func() error {
		if snapshotted.auth.State().User("carol") == nil {
			return errors.New("carol not there yet")
		}
		return nil
	})
	carol := userClient(t, "carol", "carolpw", eps[f])
	_, err = carol.Get(ctx, "/app/k001", clientv3.WithSerializable())
	mustOK(t, "carol on the caught-up follower", err)
}

// TestAuthStoreRecordsNotInHistory: the auth records live beside the key
// space: not visible to a range over everything, not in HashKV.
func TestAuthStoreRecordsNotInHistory(t *testing.T) {
	tc := newTestCluster(t, 1, authTestConfig)
	tc.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli := quietClient(t, tc.endpoints()[0])
	h0, err := cli.HashKV(ctx, tc.endpoints()[0], 0)
	mustOK(t, "hashkv", err)
	_, err = cli.UserAdd(ctx, "u", "p")
	mustOK(t, "user add", err)
	r, err := cli.Get(ctx, "\x00", clientv3.WithFromKey())
	mustOK(t, "get all", err)
	if len(r.Kvs) != 0 {
		t.Fatalf("auth records visible as keys: %v", r.Kvs)
	}
	h1, err := cli.HashKV(ctx, tc.endpoints()[0], 0)
	mustOK(t, "hashkv", err)
	if h0.Hash != h1.Hash {
		t.Fatal("a user add changed HashKV")
	}
	if got := tc.servers[0].Node.auth.State().User("u"); got == nil || len(got.Password) == 0 || string(got.Password) == "p" {
		t.Fatalf("user u: %+v (the password must be a bcrypt hash)", got)
	}
	_ = authpkg.RootRole
}

// writeTestKeys writes an ECDSA P-256 key pair (PEM) for JWT tokens.
func writeTestKeys(t *testing.T, dir string) (priv, pub string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pd, _ := x509.MarshalPKCS8PrivateKey(k)
	ud, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	priv, pub = filepath.Join(dir, "jwt.key"), filepath.Join(dir, "jwt.pub")
	if err := os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pd}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ud}), 0o644); err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

// TestAuthSurvivesSnapshotRestore: users, roles and "auth enabled" travel
// in `etcdctl snapshot save` files and come back with RestoreSnapshot
// (`kelson snapshot restore`).
func TestAuthSurvivesSnapshotRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	src := newTestCluster(t, 1, authTestConfig)
	src.leader()
	setUpAuth(t, ctx, quietClient(t, src.endpoints()[0]))
	root := userClient(t, "root", "rootpw", src.endpoints()[0])
	_, err := root.Put(ctx, "/app/kept", "v")
	mustOK(t, "put", err)
	rc, err := root.Snapshot(ctx)
	mustOK(t, "snapshot", err)
	path := filepath.Join(t.TempDir(), "snap.db")
	f, err := os.Create(path)
	mustOK(t, "create", err)
	_, err = io.Copy(f, rc)
	mustOK(t, "save", err)
	mustOK(t, "close", f.Close())
	src.stopAll()

	tc := newTestCluster(t, 1, func(i int, c *Config) {
		c.Auth.BcryptCost = 4
		c.InitialClusterToken = "restored"
		if _, err := RestoreSnapshot(*c, path, RestoreOptions{}); err != nil {
			t.Fatalf("restore: %v", err)
		}
	})
	tc.leader()
	ep := tc.endpoints()[0]
	_, err = quietClient(t, ep).Get(ctx, "/app/kept")
	mustErr(t, "anonymous after restore", err, rpctypes.ErrUserEmpty)
	alice := userClient(t, "alice", "alicepw", ep)
	r, err := alice.Get(ctx, "/app/kept")
	mustOK(t, "alice after restore", err)
	if len(r.Kvs) != 1 {
		t.Fatalf("kept key: %v", r.Kvs)
	}
	_, err = alice.Put(ctx, "/secret", "x")
	mustErr(t, "alice outside after restore", err, rpctypes.ErrPermissionDenied)
}
