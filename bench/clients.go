package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// conns is the set of clients of one run: one clientv3.Client per
// connection. Close releases them all.
type conns struct {
	clients   []*clientv3.Client
	endpoints []string // the endpoints actually used (the leader's alone with TargetLeader)
}

// dial resolves the endpoints (the leader's with TargetLeader), checks each
// answers a status request, and opens c.Conns clients.
func dial(ctx context.Context, c Common) (*conns, error) {
	eps := c.Endpoints
	if c.TargetLeader {
		ep, err := findLeader(ctx, c)
		if err != nil {
			return nil, err
		}
		eps = []string{ep}
	} else {
		for _, ep := range eps {
			if _, err := status(ctx, c, ep); err != nil {
				return nil, err
			}
		}
	}
	cs := &conns{endpoints: eps}
	for i := 0; i < c.Conns; i++ {
		cli, err := newClient(c, eps[i%len(eps)])
		if err != nil {
			cs.Close()
			return nil, err
		}
		cs.clients = append(cs.clients, cli)
	}
	return cs, nil
}

func newClient(c Common, endpoint string) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: c.DialTimeout,
		TLS:         c.TLS,
		Username:    c.User,
		Password:    c.Password,
		Logger:      zap.NewNop(),
		// Objects of the k8s mix and big --val-size values exceed gRPC's
		// 4 MiB receive default in a list; allow what a member may send.
		MaxCallRecvMsgSize: 64 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, endpoint, err)
	}
	return cli, nil
}

// status asks endpoint for its status with a fresh client.
func status(ctx context.Context, c Common, endpoint string) (*clientv3.StatusResponse, error) {
	cli, err := newClient(c, endpoint)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	sctx, cancel := context.WithTimeout(ctx, c.DialTimeout)
	defer cancel()
	st, err := cli.Status(sctx, endpoint)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %s did not answer a status request within %v (is a member running there? check --endpoints): %v",
			ErrUnreachable, endpoint, c.DialTimeout, err)
	}
	return st, nil
}

// findLeader returns the endpoint whose member is the leader.
func findLeader(ctx context.Context, c Common) (string, error) {
	var errs []error
	for _, ep := range c.Endpoints {
		st, err := status(ctx, c, ep)
		if err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			errs = append(errs, err)
			continue
		}
		if st.Header != nil && st.Leader != 0 && st.Header.MemberId == st.Leader {
			return ep, nil
		}
	}
	if len(errs) == len(c.Endpoints) {
		return "", errors.Join(errs...)
	}
	return "", fmt.Errorf("%w among %s: list the leader's client address in --endpoints, or drop --target-leader",
		ErrNoLeader, strings.Join(c.Endpoints, ","))
}

// client returns the client of worker i.
func (cs *conns) client(i int) *clientv3.Client { return cs.clients[i%len(cs.clients)] }

// Close closes every client.
func (cs *conns) Close() {
	for _, c := range cs.clients {
		c.Close()
	}
}
