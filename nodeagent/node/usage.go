package node

import (
	"slices"
	"strings"
	"time"

	usagev1alpha1 "github.com/kelson-dev/kelson/api/metrics/v1alpha1"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Usage reports: every UsageInterval the agent samples /proc/stat,
// /proc/meminfo and its containers' cumulative stats (Config.PodUsage),
// and writes a NodeUsage (metrics.kelson.dev/v1alpha1, named after the
// node, owned by it) from this sample and the one before: CPU is the rate
// between the two, memory the current working set. usageReport is the
// pure part.
//
// Example: node n1 sampled at 10:00:00 and 10:00:15, /proc/stat busy
// ticks +300 of +1500 total on 2 CPUs; meminfo MemTotal 8Gi MemAvailable
// 6Gi; container default/web/httpd (instance c1) at 1.0e9 then 1.75e9 CPU
// ns, working set 20Mi. The report (timestamp 10:00:15, window 15s):
//
//	usage: {cpu: 400m, memory: 2Gi}
//	pods: [{namespace: default, name: web, containers: [{name: httpd, usage: {cpu: 50m, memory: 20Mi}}]}]

// PodUsage is one pod's running containers and their cumulative stats,
// as the runtime reports them.
type PodUsage struct {
	Namespace, Name string
	UID             types.UID
	Containers      []ContainerUsage
}

// ContainerUsage is one running container instance's stats.
type ContainerUsage struct {
	// Name is the container's name in the pod spec.
	Name string
	// ID is the instance (a restart makes a new one, whose CPU counter
	// starts again at zero).
	ID    string
	Stats runtime.Stats
}

// containerKey names a container instance across samples.
type containerKey struct {
	pod       types.UID
	name, id  string
	namespace string // with the pod's name when the UID is empty
	podName   string
}

// usageSample is one sampling of the node and its containers.
type usageSample struct {
	At         time.Time
	CPU        cpuTimes
	CPUKnown   bool
	MemUsed    int64 // MemTotal - MemAvailable
	MemKnown   bool
	Containers map[containerKey]runtime.Stats
}

// newUsageSample builds a sample from what was read at now.
func newUsageSample(now time.Time, cpu *cpuTimes, memUsed *int64, pods []PodUsage) *usageSample {
	s := &usageSample{At: now, Containers: map[containerKey]runtime.Stats{}}
	if cpu != nil {
		s.CPU, s.CPUKnown = *cpu, true
	}
	if memUsed != nil {
		s.MemUsed, s.MemKnown = *memUsed, true
	}
	for _, p := range pods {
		for _, c := range p.Containers {
			st := c.Stats
			if st.Timestamp.IsZero() {
				st.Timestamp = now
			}
			s.Containers[keyOf(p, c)] = st
		}
	}
	return s
}

func keyOf(p PodUsage, c ContainerUsage) containerKey {
	return containerKey{pod: p.UID, name: c.Name, id: c.ID, namespace: p.Namespace, podName: p.Name}
}

// containerMilliCPU is the CPU rate of an instance between two stats, in
// millicores; ok false without a rate (no time passed, counter went back).
func containerMilliCPU(prev, cur runtime.Stats) (int64, bool) {
	dt := cur.Timestamp.Sub(prev.Timestamp)
	if dt <= 0 || cur.CPUUsageNanos < prev.CPUUsageNanos {
		return 0, false
	}
	return int64(float64(cur.CPUUsageNanos-prev.CPUUsageNanos) / float64(dt.Nanoseconds()) * 1000), true
}

// usageReport is node's report from the samples prev and cur and the pods
// of cur: the node's CPU rate (if both samples have /proc/stat) and memory
// in use; each pod (namespace/name order, each once, at most
// usagev1alpha1.MaxPods) with its containers that were running at both
// samples (same instance): CPU rate and memory working set. A pod none of
// whose containers has a rate yet is left out until the next report. It
// returns nil when there is nothing to report (no node usage known).
func usageReport(node *corev1.Node, prev, cur *usageSample, pods []PodUsage) *usagev1alpha1.NodeUsage {
	if prev == nil || cur == nil || !cur.At.After(prev.At) {
		return nil
	}
	u := &usagev1alpha1.NodeUsage{
		TypeMeta: metav1.TypeMeta{APIVersion: usagev1alpha1.SchemeGroupVersion.String(), Kind: "NodeUsage"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            node.Name,
			OwnerReferences: nodeOwner(node),
		},
		Timestamp: metav1.NewTime(cur.At.Truncate(time.Second)),
		Window:    metav1.Duration{Duration: cur.At.Sub(prev.At).Round(time.Millisecond)},
		Usage:     corev1.ResourceList{},
	}
	if prev.CPUKnown && cur.CPUKnown {
		if m, ok := nodeMilliCPU(prev.CPU, cur.CPU); ok {
			u.Usage[corev1.ResourceCPU] = *resource.NewMilliQuantity(m, resource.DecimalSI)
		}
	}
	if cur.MemKnown {
		u.Usage[corev1.ResourceMemory] = *resource.NewQuantity(max(cur.MemUsed, 0), resource.BinarySI)
	}
	if len(u.Usage) == 0 {
		return nil
	}
	pods = slices.Clone(pods)
	slices.SortStableFunc(pods, func(a, b PodUsage) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	reported := map[[2]string]bool{}
	for _, p := range pods {
		if reported[[2]string{p.Namespace, p.Name}] {
			continue // a second instance of the pod (one being replaced): the first with usage is reported
		}
		pu := usagev1alpha1.PodUsage{Namespace: p.Namespace, Name: p.Name}
		for _, c := range p.Containers {
			if slices.ContainsFunc(pu.Containers, func(x usagev1alpha1.ContainerUsage) bool { return x.Name == c.Name }) {
				continue
			}
			k := keyOf(p, c)
			before, ok1 := prev.Containers[k]
			now, ok2 := cur.Containers[k]
			if !ok1 || !ok2 {
				continue
			}
			m, ok := containerMilliCPU(before, now)
			if !ok {
				continue
			}
			pu.Containers = append(pu.Containers, usagev1alpha1.ContainerUsage{Name: c.Name, Usage: corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewMilliQuantity(m, resource.DecimalSI),
				corev1.ResourceMemory: *resource.NewQuantity(int64(min(now.MemoryWorkingSet, uint64(1)<<62)), resource.BinarySI),
			}})
		}
		if len(pu.Containers) == 0 {
			continue
		}
		if len(u.Pods) == usagev1alpha1.MaxPods {
			break
		}
		u.Pods = append(u.Pods, pu)
		reported[[2]string{p.Namespace, p.Name}] = true
	}
	return u
}
