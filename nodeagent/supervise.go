package nodeagent

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/runtime/containerd"
)

// containerdChild keeps the agent's own containerd running: when it exits
// while the agent runs, it is started again (after 1 s, doubling to 30 s
// while starts fail). Containers outlive containerd (their shims), and the
// runtime's client reconnects to the same socket; meanwhile the Node
// reports Ready=False (the runtime does not answer).
type containerdChild struct {
	cfg containerd.DaemonConfig
	log *slog.Logger

	mu sync.Mutex
	d  *containerd.Daemon // the running process; owned under mu
}

func startContainerdChild(ctx context.Context, cfg containerd.DaemonConfig, log *slog.Logger) (*containerdChild, error) {
	d, err := containerd.StartDaemon(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &containerdChild{cfg: cfg, log: log, d: d}, nil
}

func (c *containerdChild) current() *containerd.Daemon {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.d
}

// Address is the socket, the same for every start.
func (c *containerdChild) Address() string { return c.current().Address() }

// Stop stops the current process.
func (c *containerdChild) Stop() { c.current().Stop() }

// run restarts containerd whenever it exits, until ctx ends.
func (c *containerdChild) run(ctx context.Context) {
	backoff := time.Second
	for {
		d := c.current()
		select {
		case <-ctx.Done():
			return
		case <-d.Done():
		}
		if ctx.Err() != nil {
			return
		}
		for {
			c.log.Error("containerd exited; starting it again", "in", backoff, "log", d.LogFile())
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			nd, err := containerd.StartDaemon(ctx, c.cfg)
			if err == nil {
				c.mu.Lock()
				c.d = nd
				c.mu.Unlock()
				c.log.Info("containerd started again", "address", nd.Address())
				backoff = time.Second
				break
			}
			c.log.Error("starting containerd failed", "err", err)
			backoff = min(2*backoff, 30*time.Second)
		}
	}
}
