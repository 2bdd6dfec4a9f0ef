package pods

import (
	"context"
	"net/netip"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// What the pod worker needs besides the Runtime and the podnet.Network;
// nodeagent/volumes and nodeagent/podenv implement these, unit tests fake
// them.

// Volumes prepares a pod's volumes on the node.
type Volumes interface {
	// Setup makes every volume of the pod ready — directories made,
	// configMap, secret and downwardAPI contents written (rewritten when
	// they changed, on every call) — and returns each container's mounts
	// (init containers included), keyed by container name.
	Setup(ctx context.Context, pod *corev1.Pod) (map[string][]runtime.Mount, error)
	// Teardown unmounts and removes what Setup made for the pod (never
	// the contents of hostPath or persistent volumes). An unknown UID is
	// a no-op.
	Teardown(ctx context.Context, uid types.UID) error
}

// Env resolves what a container sees of its pod and the cluster.
type Env interface {
	// Env is the container's environment, KEY=VALUE in Kubernetes' order:
	// service link variables (when enableServiceLinks), then envFrom, then
	// env (with $(VAR) expansion, fieldRef, resourceFieldRef,
	// configMapKeyRef, secretKeyRef).
	Env(ctx context.Context, pod *corev1.Pod, c *corev1.Container) ([]string, error)
	// Files writes the pod's /etc/hosts and /etc/resolv.conf (cluster DNS
	// per dnsPolicy) and returns their mounts, the same for every
	// container of the pod.
	Files(ctx context.Context, pod *corev1.Pod, podIP netip.Addr) ([]runtime.Mount, error)
}
