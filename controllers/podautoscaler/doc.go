// Package podautoscaler runs HorizontalPodAutoscalers (autoscaling/v2),
// as kube-controller-manager's "horizontalpodautoscaling" controller
// does, for Resource metrics (cpu, memory: Utilization of the requests or
// AverageValue per pod).
//
// Model. Every SyncPeriod (15 s) an autoscaler is evaluated:
//
//	target's scale subresource (found through discovery) → current replicas, pod selector
//	pods (informer) + Metrics.PodUsage → Replicas (pure): ratio of the ready pods'
//	    usage to the target, applied to the pods; pods without metrics or not ready
//	    are counted as Kubernetes does (their request when scaling down, nothing when
//	    scaling up), and a result within the tolerance (10%) changes nothing
//	largest over the metrics → Normalize (pure): stabilization windows (scale down to
//	    the highest recommendation of the last 5 minutes), rate policies (by default
//	    up by max(4 pods, 100%) per 15 s, down by 100% per 15 s), min/max replicas
//	→ PUT the scale; Events SuccessfulRescale "New size: N; reason: ...",
//	    FailedGetScale, FailedGetResourceMetric, FailedComputeMetricsReplicas,
//	    FailedRescale; status: current/desired replicas, currentMetrics,
//	    lastScaleTime, conditions AbleToScale, ScalingActive, ScalingLimited
//
// The recommendations and rescales the windows and policies look at are
// kept in memory for as long as this process leads; a new leader starts
// with the current count as its only recommendation, so it does not scale
// down before a full window.
//
// Metrics come from the Metrics interface. The default, APIMetrics, reads
// metrics.k8s.io/v1beta1 PodMetrics, which Kelson's API server serves from
// the usage reports nodes write (kelson sim --report-usage; the node agent
// later); pods without a report give FailedGetResourceMetric, as in
// Kubernetes without metrics-server. Pods,
// Object, External and ContainerResource metrics are not supported (an
// Event says so; the autoscaler then never scales down).
//
// Simplification: a pod is "not ready" when its Ready condition is not
// True; Kubernetes also treats a pod as not ready during a CPU
// initialization period after it starts (5 minutes) when its metrics
// predate its readiness. The metrics here carry no timestamps.
package podautoscaler
