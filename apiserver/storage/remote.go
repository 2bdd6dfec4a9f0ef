package storage

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Remote is a Store over etcd v3 endpoints reached through a client. It
// owns the client: Close closes it.
type Remote struct {
	client *clientv3.Client
	kv     pb.KVClient
}

var _ Store = (*Remote)(nil)

// NewRemote connects to the endpoints (host:port or URLs). The client
// balances requests over them and fails over when one goes away. For
// https:// endpoints cfg.TLS is the client's TLS configuration
// (RemoteTLS.Config).
func NewRemote(cfg clientv3.Config) (*Remote, error) {
	c, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("storage: connect to %v: %w", cfg.Endpoints, err)
	}
	return &Remote{client: c, kv: pb.NewKVClient(c.ActiveConnection())}, nil
}

// RemoteTLS are the files of a TLS connection to the store, as
// kube-apiserver's flags name them: CAFile verifies the members' serving
// certificates (--etcd-cafile; empty: the system roots), CertFile and
// KeyFile are the client certificate the members ask for
// (--etcd-certfile, --etcd-keyfile; both or neither).
type RemoteTLS struct {
	CAFile, CertFile, KeyFile string
}

// ErrRemoteTLS marks TLS files of the store that cannot be used; the
// message names the flag and the file.
var ErrRemoteTLS = errors.New("storage: bad TLS files for the store")

// Config reads the files into a client configuration (TLS 1.2 or later):
// an error, wrapping ErrRemoteTLS, names the flag of a missing, unreadable
// or malformed file, or a key that does not match its certificate.
func (t RemoteTLS) Config() (*tls.Config, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrRemoteTLS, fmt.Sprintf(format, args...))
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, bad("--etcd-certfile and --etcd-keyfile go together (got certfile %q, keyfile %q)", t.CertFile, t.KeyFile)
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, bad("--etcd-cafile: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, bad("--etcd-cafile %s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		for _, f := range []struct{ flag, path string }{{"--etcd-certfile", t.CertFile}, {"--etcd-keyfile", t.KeyFile}} {
			if _, err := os.Stat(f.path); err != nil {
				return nil, bad("%s: %v", f.flag, err)
			}
		}
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, bad("--etcd-certfile %s with --etcd-keyfile %s: %v", t.CertFile, t.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

func (r *Remote) Range(ctx context.Context, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	resp, err := r.kv.Range(ctx, req)
	if err != nil && rpctypes.Error(err) == rpctypes.ErrCompacted {
		return nil, fmt.Errorf("%w: %v", ErrCompacted, err)
	}
	return resp, err
}

func (r *Remote) Txn(ctx context.Context, req *pb.TxnRequest) (*pb.TxnResponse, error) {
	return r.kv.Txn(ctx, req)
}

func (r *Remote) Compact(ctx context.Context, rev int64) error {
	_, err := r.kv.Compact(ctx, &pb.CompactionRequest{Revision: rev})
	return err
}

func (r *Remote) Close() error { return r.client.Close() }

// Watch runs through the client's shared watch stream; RequestProgress
// asks that stream, so other watches on it may get a progress response too
// (harmless: progress is only ever a lower bound).
func (r *Remote) Watch(ctx context.Context, key, end []byte, rev int64) Watch {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	opts := []clientv3.OpOption{clientv3.WithRev(rev), clientv3.WithProgressNotify()}
	if len(end) > 0 {
		opts = append(opts, clientv3.WithRange(string(end)))
	}
	w := &remoteWatch{client: r.client, ctx: wctx, cancel: cancel, out: make(chan WatchResponse, 16)}
	go w.pump(r.client.Watch(wctx, string(key), opts...))
	return w
}

type remoteWatch struct {
	client *clientv3.Client
	ctx    context.Context
	cancel context.CancelFunc
	out    chan WatchResponse
	once   sync.Once
}

func (w *remoteWatch) Chan() <-chan WatchResponse { return w.out }
func (w *remoteWatch) Close()                     { w.once.Do(w.cancel) }

func (w *remoteWatch) RequestProgress() {
	go w.client.RequestProgress(w.ctx) //nolint:errcheck // a lost request is retried by the caller
}

func (w *remoteWatch) pump(in clientv3.WatchChan) {
	defer close(w.out)
	defer w.cancel()
	for r := range in {
		out := WatchResponse{Events: r.Events, Revision: r.Header.Revision}
		switch err := r.Err(); {
		case r.CompactRevision > 0:
			out = WatchResponse{Err: ErrCompacted, CompactRevision: r.CompactRevision}
		case errors.Is(err, rpctypes.ErrCompacted):
			out = WatchResponse{Err: ErrCompacted}
		case err != nil:
			out = WatchResponse{Err: fmt.Errorf("%w: %v", ErrWatchEnded, err)}
		case r.Created && len(r.Events) == 0:
			continue
		}
		select {
		case w.out <- out:
		case <-w.ctx.Done():
			return
		}
		if out.Err != nil {
			return
		}
	}
	if w.ctx.Err() == nil {
		select {
		case w.out <- WatchResponse{Err: fmt.Errorf("%w: the client's watch channel closed", ErrWatchEnded)}:
		case <-w.ctx.Done():
		}
	}
}

// ProgressConsistent asks every endpoint its version. etcd before 3.4.31,
// and 3.5 before 3.5.13, may send a progress report ahead of events not
// yet sent (etcd issues 15220 and 17780), so kube-apiserver serves
// consistent reads from the store on them; so does Kelson's. Kelson's
// store reports 3.6.0.
func (r *Remote) ProgressConsistent(ctx context.Context) bool {
	for _, ep := range r.client.Endpoints() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := r.client.Status(sctx, ep)
		cancel()
		if err != nil || !progressFixed(st.Version) {
			return false
		}
	}
	return true
}

// progressFixed reports whether etcd version v ("3.4.23") has exact
// progress reports.
func progressFixed(v string) bool {
	var major, minor, patch int
	if _, err := fmt.Sscanf(v, "%d.%d.%d", &major, &minor, &patch); err != nil {
		return false
	}
	switch {
	case major != 3:
		return major > 3
	case minor == 4:
		return patch >= 31
	case minor == 5:
		return patch >= 13
	}
	return minor > 5
}
