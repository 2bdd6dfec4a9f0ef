// Package node is the node agent's Node: registration, status and
// conditions, capacity, the node Lease and usage reports — what kubelet's
// node status manager and lease controller do, with the conventions
// `kelson sim` shares (package sim).
//
// # Model
//
// New(Config) checks the config and detects the node IPs (SelectNodeIPs:
// the interface of the default route, else the first global unicast
// address) unless --node-ip gave them. Run then:
//
//   - registers the Node (Register): created with labels
//     kubernetes.io/hostname (the node name), kubernetes.io/os and
//     kubernetes.io/arch plus --node-label, the --node-taint taints and
//     its status; or, if it exists, adopted (our labels and taints merged
//     in, spec.podCIDR and everything else kept). Retries back off from
//     1 s to 30 s. Its Lease kube-node-lease/<node> (holder the node,
//     40 s, owned by the Node) is created or taken over.
//   - renews the Lease every 10 s (LeaseRenewInterval).
//   - every 10 s (StatusUpdateFrequency) computes the status and posts it
//     when it differs from the Node's, or every 5 min
//     (StatusReportFrequency) when nothing changed. A watch on the Node
//     triggers a check at once when its Ready condition is not True: the
//     nodelifecycle controller's Unknown is replaced by True at once. A
//     deleted Node is registered again.
//   - every 15 s (UsageInterval) writes the NodeUsage
//     (metrics.kelson.dev/v1alpha1) from two samples of /proc/stat,
//     /proc/meminfo and Config.PodUsage, the source of metrics.k8s.io.
//
// WaitForPodCIDR watches the Node until the server's nodeipam controller
// gives it a pod CIDR.
//
// The status is a pure function of the host's facts and signals
// (mergeStatus over wantStatusOf, pressureConditions): capacity cpu =
// NumCPU bounded by the cgroup v1 CFS quota, memory = MemTotal bounded by
// the cgroup v1 memory limit, ephemeral-storage = statfs(DataDir) size,
// pods = MaxPods, hugepages-2Mi 0; allocatable = capacity - Reserved -
// the memory and disk eviction thresholds; addresses InternalIP(s) then
// Hostname; nodeInfo from /etc/machine-id, /proc/sys/kernel/random/boot_id,
// /proc/sys/kernel/osrelease (uname -r), /etc/os-release PRETTY_NAME;
// daemonEndpoints.kubeletEndpoint.port = DaemonPort. The images list is
// not reported.
//
// # Invariants
//
//   - Only the agent's conditions (MemoryPressure, DiskPressure,
//     PIDPressure, Ready) are written; others on the Node are kept. A
//     condition's lastTransitionTime moves only when its status changes;
//     lastHeartbeatTime moves at each post.
//   - Status writes are UpdateStatus over the newest copy known (the
//     watch's or our last write's), re-read and retried on a conflict.
//   - Nothing read from the host makes a call fail except capacity that
//     cannot be read (meminfo, statfs of DataDir): a pressure signal that
//     cannot be read leaves its condition False (logged once).
//
// # Example
//
//	n, err := node.New(node.Config{
//		Client: cs, UsageClient: usageClient, DataDir: "/var/lib/kelson",
//		RuntimeVersion: "containerd://1.6.20", PodUsage: podUsageFromRuntime,
//	})
//	if err != nil { return err }
//	go n.Run(ctx)
//	cidr, err := n.WaitForPodCIDR(ctx) // 10.42.3.0/24
package node
