package nodeagent

import (
	"context"
	"errors"
	"slices"

	"github.com/kelson-dev/kelson/nodeagent/node"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
)

// podUsage reads the running containers' stats from the runtime, grouped
// by pod, for the node's usage reports (metrics.k8s.io). A container that
// exits between the list and its stats is skipped.
func podUsage(ctx context.Context, rt runtime.Runtime) ([]node.PodUsage, error) {
	list, err := rt.ListContainers(ctx)
	if err != nil {
		return nil, err
	}
	byPod := map[string]*node.PodUsage{}
	var order []string
	for _, c := range list {
		if c.State != runtime.StateRunning || c.Init {
			continue
		}
		st, err := rt.Stats(ctx, c.ID)
		if errors.Is(err, runtime.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		k := string(c.PodUID)
		p := byPod[k]
		if p == nil {
			p = &node.PodUsage{Namespace: c.PodNamespace, Name: c.PodName, UID: c.PodUID}
			byPod[k] = p
			order = append(order, k)
		}
		p.Containers = append(p.Containers, node.ContainerUsage{Name: c.Name, ID: c.ID, Stats: st})
	}
	slices.Sort(order)
	out := make([]node.PodUsage, 0, len(order))
	for _, k := range order {
		out = append(out, *byPod[k])
	}
	return out, nil
}
