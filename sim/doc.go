// Package sim simulates nodes: it registers them with a Kubernetes API,
// keeps their Leases and Ready conditions fresh, and makes the pods bound
// to them go Running and Ready — or exit, fail, restart — as kubelet
// reports them, without running a container. Controllers and schedulers
// (Kelson's or kube-scheduler) can then be tested and benchmarked at
// scale (5,000 nodes and 10,000 pods in one process). It speaks only the
// API, through client-go. `kelson sim` is its command.
//
// # Model
//
//	Config ──New──► Sim ──Run(ctx)──┬─ node side: one delaying queue of (node, register|lease|status)
//	                                 │   items, HeartbeatWorkers goroutines; register creates or adopts
//	                                 │   the node and its Lease, then renews the Lease every
//	                                 │   LeaseRenewInterval and checks the status every
//	                                 │   NodeStatusUpdateFrequency (written when changed, or every
//	                                 │   NodeStatusReportFrequency)
//	                                 ├─ pod side: one informer over every bound pod (spec.nodeName!=),
//	                                 │   a queue of pod keys, Workers goroutines:
//	                                 │   pod ─► ipam (an IP from the node's pod CIDR)
//	                                 │       ─► decide(pod, behavior, now) = plan{status, remove, wake}
//	                                 │       ─► UpdateStatus / Delete(grace 0, UID precondition)
//	                                 │       ─► queue again at plan.wake
//	                                 └─ usage side (ReportUsage): a delaying queue of nodes, up to 16
//	                                     goroutines; every UsageInterval per node:
//	                                     usageReport(node, its pods from the informer, now) = NodeUsage
//	                                         ─► UsageClient.Report (metrics.kelson.dev/v1alpha1)
//
// decide is pure: what a pod's containers do is a function of its spec,
// its annotations (behavior), the status the simulator wrote before and
// the time. Each state records when it began in the pod's status (the
// container's startedAt, the last termination's finishedAt), so a restarted
// simulator carries on from the API's copy and nothing is persisted.
//
// Nodes: NamePrefix-0 ... NamePrefix-(Nodes-1), labelled
// kubernetes.io/hostname, kubernetes.io/os=linux, kubernetes.io/arch,
// node.kubernetes.io/instance-type=sim and sim.kelson.dev/simulated=true
// (plus Config.Labels), tainted with Config.Taints, with capacity =
// allocatable = CPU, Memory, EphemeralStorage, Pods (and ExtraResources),
// conditions MemoryPressure/DiskPressure/PIDPressure=False and Ready=True
// (KubeletReady), an InternalIP in 127.240.0.0/12 (loopback: nothing is
// ever served there, and a dial stays on the machine) and a Lease in
// kube-node-lease held by the node, owned by it. A node that exists is
// adopted (labels and taints added, others kept); a node deleted while the
// simulator runs is registered again. When Run returns the nodes stop
// renewing and go NotReady by the node lifecycle controller's hand, unless
// DeleteNodesOnExit.
//
// Pods on a simulated node: once the node has a pod CIDR (spec.podCIDRs,
// set by the node IPAM controller, or by the simulator with
// AssignPodCIDRs) the pod gets one IP per CIDR (hostNetwork pods get the
// node's), hostIP, startTime, init containers Completed, containers
// running (containerID sim://..., imageID), conditions
// PodReadyToStartContainers, Initialized, ContainersReady, Ready (honouring
// readinessGates) and PodScheduled True, phase Running. The annotations
// (AnnotationRunSeconds and the others, prefix sim.kelson.dev/) script
// exits, exit codes, start and readiness delays, and stop times; the
// restartPolicy decides what follows an exit (Succeeded, Failed, or a
// restart with CrashLoopBackOff back-off); spec.activeDeadlineSeconds
// fails the pod with DeadlineExceeded; a readinessProbe's
// initialDelaySeconds delays Ready. A deleted pod (deletionTimestamp set)
// stops (in AnnotationTerminationSeconds, at most its grace period), gets
// its final status (phase Failed, containers killed with exit code 137,
// unless it had finished) and is deleted with grace 0 and its UID as a
// precondition, as kubelet does; one that still has finalizers is asked
// once, and again when they are gone.
//
// Usage (ReportUsage): every UsageInterval (default 15s, the nodes'
// reports spread over it) each registered node writes its NodeUsage
// (metrics.kelson.dev/v1alpha1, named after the node, owned by it), from
// which the API server serves metrics.k8s.io, so `kubectl top` and
// HorizontalPodAutoscalers work on simulated nodes. It lists the Running
// pods' running containers (and sidecars); each uses what
// AnnotationCPUUsage and AnnotationMemoryUsage say ("200m", or per
// container "app=200m,sidecar=10m"), else half its request of the
// resource, else 10m cpu and 32Mi memory. The node uses the pods' sum
// plus 100m and 256Mi. An edited annotation shows at the node's next
// report. A stopped simulator's reports go stale (the API ignores them
// after 2 minutes), as a stopped node agent's do.
//
// # Invariants
//
//   - Two live pods never hold the same IP: the allocator is per node and
//     hands out an IP once until the pod finishes or is deleted; before it
//     hands out any, a starting simulator claims the IPs its nodes'
//     running pods show.
//   - decide is idempotent: applied to the status it wrote (times in whole
//     seconds, as the API keeps them), at the same time, it changes
//     nothing. So the simulator writes a pod only when its state changes.
//   - No goroutine per node or pod: Workers + HeartbeatWorkers (+ at most
//     16 usage reporters) goroutines and the queues' timers, whatever the
//     fleet's size.
//   - usageReport is pure: a node's report is a function of the node, its
//     pods and the time; node usage = the listed containers' sum +
//     overhead (pods past MaxPods are counted but not listed).
//   - Writes are bounded: at most Workers pod writes and HeartbeatWorkers
//     node writes at once; with 5,000 nodes the Leases cost 500 writes a
//     second, spread at random over the renew interval.
//
// # Example
//
// A controller test that needs pods to run:
//
//	c := testcluster.Start(t)
//	s, _ := sim.New(sim.Config{Client: c.Client, Nodes: 3, AssignPodCIDRs: true,
//		RestartBackoff: time.Second, MaxRestartBackoff: 2 * time.Second})
//	go s.Run(ctx)
//	<-s.Registered()
//	// pods bound to sim-node-0..2 now go Running; a Job's pods with
//	// annotation sim.kelson.dev/run-seconds: "1" Succeed after a second.
//
// With usage reports, for an autoscaler test:
//
//	usage, _ := v1alpha1.NewForConfig(c.Config) // api/metrics/v1alpha1
//	s, _ := sim.New(sim.Config{Client: c.Client, AssignPodCIDRs: true,
//		ReportUsage: true, UsageClient: usage, UsageInterval: time.Second})
//	// a pod on sim-node-0 requesting cpu 100m with annotation
//	// sim.kelson.dev/cpu-usage: 200m shows 200m in `kubectl top pod`
//	// within a second: 200% of its request.
package sim
