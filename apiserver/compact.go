package apiserver

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// runCompactor discards the store's history older than one interval, as
// kube-apiserver does every 5 minutes: at each tick it compacts to the
// revision it saw at the previous tick. Watches and paginated lists older
// than that get 410 Gone and start again. Several servers may each run
// one; compacting to a revision already compacted is harmless.
func (s *Server) runCompactor(ctx context.Context) {
	if s.cfg.CompactionInterval < 0 {
		return
	}
	var prev int64
	for {
		sleep(ctx, s.cfg.CompactionInterval)
		if ctx.Err() != nil {
			return
		}
		resp, err := s.cfg.Store.Range(ctx, &pb.RangeRequest{Key: []byte("compact_rev_key"), CountOnly: true})
		if err != nil {
			s.log.Warn("compactor: read the store's revision", "err", err)
			continue
		}
		if prev > 0 {
			if err := s.compact(ctx, prev); err != nil && ctx.Err() == nil {
				s.log.Debug("compactor: compact", "rev", prev, "err", err)
			} else if err == nil {
				s.log.Info("compacted the store's history", "rev", prev)
			}
		}
		prev = resp.Header.Revision
	}
}

// compact discards the store's history before rev, and this server's
// watch caches' history with it, so that a watch from before rev is 410
// Gone here (other servers trim theirs when their compactor runs).
func (s *Server) compact(ctx context.Context, rev int64) error {
	if err := s.cfg.Store.Compact(ctx, rev); err != nil {
		return err
	}
	for _, r := range s.resources().order {
		r.cache.Compacted(rev)
	}
	return nil
}
