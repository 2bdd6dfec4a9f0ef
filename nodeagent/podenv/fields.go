package podenv

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Expand replaces $(VAR) references in s as Kubernetes documents for
// command, args, env values and subPathExpr: $(VAR) becomes the value
// lookup finds; a reference lookup does not know stays as written; $$
// is an escaped $ (so $$(VAR) yields the literal $(VAR)); a $ followed
// by anything else, or an unterminated $(, is kept as is.
func Expand(s string, lookup func(name string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// MapLookup is a lookup for Expand over maps searched in order.
func MapLookup(maps ...map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		for _, m := range maps {
			if v, ok := m[name]; ok {
				return v, true
			}
		}
		return "", false
	}
}

// FieldValue is the value of a downward API fieldPath of pod, as env
// variables (valueFrom.fieldRef) and downwardAPI volume files see it:
// metadata.name, metadata.namespace, metadata.uid, metadata.labels and
// metadata.annotations (the whole map as sorted key="value" lines),
// metadata.labels['k'] and metadata.annotations['k'] (empty when
// absent), spec.nodeName, spec.serviceAccountName, status.hostIP,
// status.hostIPs, status.podIP and status.podIPs (comma separated). The
// caller fills status with the pod's and the node's addresses when the
// API object does not have them yet.
func FieldValue(pod *corev1.Pod, fieldPath string) (string, error) {
	if key, ok := subscript(fieldPath, "metadata.labels"); ok {
		return pod.Labels[key], nil
	}
	if key, ok := subscript(fieldPath, "metadata.annotations"); ok {
		return pod.Annotations[key], nil
	}
	switch fieldPath {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return FormatMap(pod.Labels), nil
	case "metadata.annotations":
		return FormatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	case "status.hostIPs":
		ips := make([]string, 0, len(pod.Status.HostIPs))
		for _, ip := range pod.Status.HostIPs {
			ips = append(ips, ip.IP)
		}
		if len(ips) == 0 && pod.Status.HostIP != "" {
			ips = append(ips, pod.Status.HostIP)
		}
		return strings.Join(ips, ","), nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	case "status.podIPs":
		ips := make([]string, 0, len(pod.Status.PodIPs))
		for _, ip := range pod.Status.PodIPs {
			ips = append(ips, ip.IP)
		}
		if len(ips) == 0 && pod.Status.PodIP != "" {
			ips = append(ips, pod.Status.PodIP)
		}
		return strings.Join(ips, ","), nil
	}
	return "", fmt.Errorf("podenv: unsupported fieldPath %q (supported: metadata.name, metadata.namespace, metadata.uid, metadata.labels['KEY'], metadata.annotations['KEY'], spec.nodeName, spec.serviceAccountName, status.hostIP(s), status.podIP(s))", fieldPath)
}

// subscript parses PREFIX['key'] (or PREFIX["key"]).
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"[")
	if !ok || len(rest) < 3 || rest[len(rest)-1] != ']' {
		return "", false
	}
	q := rest[:len(rest)-1]
	if (q[0] == '\'' || q[0] == '"') && q[len(q)-1] == q[0] && len(q) >= 2 {
		return q[1 : len(q)-1], true
	}
	return "", false
}

// FormatMap renders labels or annotations as a downwardAPI file does:
// one key="value" line per key (value quoted with Go escapes), sorted
// by key, no trailing newline.
func FormatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(m[k]))
	}
	return b.String()
}

// ResourceValue is the value of a resourceFieldRef for the container
// named containerName of pod: limits.X or requests.X (cpu, memory,
// ephemeral-storage, hugepages-*) divided by the divisor (default 1) and
// rounded up, as Kubernetes documents (a 250m CPU limit reads "1" with
// the default divisor, "250" with divisor 1m). A limit the container does
// not set reads as the node's allocatable amount; a missing request is 0.
func ResourceValue(pod *corev1.Pod, containerName string, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	c := findContainer(pod, containerName)
	if c == nil {
		return "", fmt.Errorf("podenv: resourceFieldRef %s: no container %q in pod %s/%s", ref.Resource, containerName, pod.Namespace, pod.Name)
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("podenv: unsupported resourceFieldRef resource %q (use limits.cpu, limits.memory, limits.ephemeral-storage, requests.* or hugepages-*)", ref.Resource)
	}
	rn := corev1.ResourceName(name)
	switch {
	case rn == corev1.ResourceCPU, rn == corev1.ResourceMemory, rn == corev1.ResourceEphemeralStorage,
		strings.HasPrefix(name, corev1.ResourceHugePagesPrefix):
	default:
		return "", fmt.Errorf("podenv: unsupported resourceFieldRef resource %q", ref.Resource)
	}
	var q resource.Quantity
	if kind == "limits" {
		if v, ok := c.Resources.Limits[rn]; ok {
			q = v
		} else if v, ok := allocatable[rn]; ok {
			q = v
		}
	} else if v, ok := c.Resources.Requests[rn]; ok {
		q = v
	}
	div := ref.Divisor
	if div.IsZero() {
		div = resource.MustParse("1")
	}
	if rn == corev1.ResourceCPU {
		return strconv.FormatInt(ceilDiv(q.MilliValue(), div.MilliValue()), 10), nil
	}
	return strconv.FormatInt(ceilDiv(q.Value(), div.Value()), 10), nil
}

func ceilDiv(a, b int64) int64 {
	if b <= 0 {
		return a
	}
	if a <= 0 {
		return 0
	}
	return (a-1)/b + 1
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	for i := range pod.Spec.EphemeralContainers {
		if pod.Spec.EphemeralContainers[i].Name == name {
			c := corev1.Container(pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
			return &c
		}
	}
	return nil
}
