package raftnode

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kelson-dev/kelson/kvstore"
	"github.com/kelson-dev/kelson/raftnode/autocompact"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// runAutoCompaction is the loop around autocompact's decisions: every
// interval it asks the Compactor, and when told (on the leader only)
// compacts through raft and reports the outcome. It ends with the node.
func (n *Node) runAutoCompaction(p autocompact.Policy) {
	log := n.log.With("component", "autocompact", "mode", p.Mode.String())
	c := autocompact.New(p, time.Now(), n.Rev())
	t := time.NewTicker(c.Interval())
	defer t.Stop()
	for {
		var now time.Time
		select {
		case <-n.done:
			return
		case now = <-t.C:
		}
		if n.stopped() != nil {
			return
		}
		rev := c.Tick(now, n.Rev(), n.isLead.Load())
		if rev == 0 {
			continue
		}
		log.Info("starting auto compaction", "revision", rev, "retention", autoCompactionString(p))
		ctx, cancel := context.WithTimeout(context.Background(), n.requestTimeout)
		start := time.Now()
		_, err := n.Compact(ctx, &pb.CompactionRequest{Revision: rev})
		cancel()
		ok := err == nil || errors.Is(err, kvstore.ErrCompacted)
		c.Done(time.Now(), rev, ok)
		if !ok {
			log.Warn("auto compaction failed; retrying at the next interval", "revision", rev, "retry_in", c.Interval(), "err", err)
			continue
		}
		n.inst.autoCompactions.Add(1)
		log.Info("completed auto compaction", "revision", rev, "took", time.Since(start))
	}
}

// autoCompactionString describes a policy for logs.
func autoCompactionString(p autocompact.Policy) string {
	switch p.Mode {
	case autocompact.Periodic:
		return fmt.Sprintf("periodic %v", p.Period)
	case autocompact.Revision:
		return fmt.Sprintf("revision %d", p.Revisions)
	}
	return "off"
}
