package kinds

// Namespaces and Nodes.

import (
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// labelNamespaceName is the label every namespace carries with its name.
const labelNamespaceName = "kubernetes.io/metadata.name"

func namespaceKind() *Kind {
	k := base(coreGV, "Namespace", "namespaces", "namespace", false, obj[corev1.Namespace](), obj[corev1.NamespaceList]())
	k.ShortNames, k.HasStatus = []string{"ns"}, true
	k.Default = func(o runtime.Object) {
		ns := o.(*corev1.Namespace)
		if ns.Name != "" {
			if ns.Labels == nil {
				ns.Labels = map[string]string{}
			}
			ns.Labels[labelNamespaceName] = ns.Name
		}
		setDefaultString(&ns.Status.Phase, corev1.NamespaceActive)
	}
	k.PrepareForCreate = func(o runtime.Object) {
		ns := o.(*corev1.Namespace)
		ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
		if ns.Name != "" { // a generated name is known only now
			if ns.Labels == nil {
				ns.Labels = map[string]string{}
			}
			ns.Labels[labelNamespaceName] = ns.Name
		}
		if !contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
			ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
		}
	}
	k.PrepareForUpdate = func(o, old runtime.Object) {
		o.(*corev1.Namespace).Spec.Finalizers = old.(*corev1.Namespace).Spec.Finalizers
	}
	k.Validate = func(o runtime.Object) field.ErrorList {
		var errs field.ErrorList
		for i, f := range o.(*corev1.Namespace).Spec.Finalizers {
			p := field.NewPath("spec", "finalizers").Index(i)
			if f == corev1.FinalizerKubernetes {
				continue
			}
			if len(strings.Split(string(f), "/")) != 2 || len(validation.IsQualifiedName(string(f))) != 0 {
				errs = append(errs, field.Invalid(p, f, "name is neither a standard finalizer name nor is it fully qualified"))
			}
		}
		return errs
	}
	k.ValidateName = nameIsDNSLabel
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Status", "string", "The status of the namespace", false),
		colAge,
	}
	k.Cells = func(o runtime.Object) []interface{} {
		ns := o.(*corev1.Namespace)
		return []interface{}{ns.Name, string(ns.Status.Phase), age(ns.CreationTimestamp)}
	}
	k.Fields = func(o runtime.Object) fields.Set {
		return fields.Set{"status.phase": string(o.(*corev1.Namespace).Status.Phase)}
	}
	return k
}

func nodeKind() *Kind {
	k := base(coreGV, "Node", "nodes", "node", false, obj[corev1.Node](), obj[corev1.NodeList]())
	k.ShortNames, k.HasStatus, k.StoragePrefix = []string{"no"}, true, "minions"
	k.Default = func(o runtime.Object) {
		n := o.(*corev1.Node)
		if n.Status.Allocatable == nil && len(n.Status.Capacity) > 0 {
			n.Status.Allocatable = n.Status.Capacity.DeepCopy()
		}
	}
	k.Validate = func(o runtime.Object) field.ErrorList { return validateNode(o.(*corev1.Node)) }
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		n, p := o.(*corev1.Node), old.(*corev1.Node)
		var errs field.ErrorList
		if len(p.Spec.PodCIDRs) > 0 && !equalStrings(n.Spec.PodCIDRs, p.Spec.PodCIDRs) {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
		}
		if p.Spec.ProviderID != "" && n.Spec.ProviderID != p.Spec.ProviderID {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "providerID"), "node updates may not change providerID except from \"\" to valid"))
		}
		return errs
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Status", "string", "The status of the node", false),
		col("Roles", "string", "The roles of the node", false),
		colAge,
		col("Version", "string", "Kubelet Version reported by the node.", false),
		col("Internal-IP", "string", "List of addresses reachable to the node.", true),
		col("External-IP", "string", "List of addresses reachable to the node.", true),
		col("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", true),
		col("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", true),
		col("Container-Runtime", "string", "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).", true),
	}
	k.Cells = func(o runtime.Object) []interface{} { return nodeCells(o.(*corev1.Node), time.Now()) }
	k.Fields = func(o runtime.Object) fields.Set {
		return fields.Set{"spec.unschedulable": strconv.FormatBool(o.(*corev1.Node).Spec.Unschedulable)}
	}
	return k
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// validateNode checks pod CIDRs and taints. As kube-apiserver does, taint
// errors are reported under metadata.taints.
func validateNode(n *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	cidrs := field.NewPath("spec", "podCIDRs")
	for i, cidr := range n.Spec.PodCIDRs {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			errs = append(errs, field.Invalid(cidrs.Index(i), n.Spec.PodCIDRs, "must be valid CIDR"))
		}
	}
	if len(n.Spec.PodCIDRs) > 2 {
		errs = append(errs, field.Invalid(cidrs, n.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
	}
	seen := map[string]bool{}
	for i, t := range n.Spec.Taints {
		p := field.NewPath("metadata", "taints").Index(i)
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, p.Child("key"))...)
		if msgs := validation.IsValidLabelValue(t.Value); len(msgs) != 0 {
			errs = append(errs, field.Invalid(p.Child("value"), t.Value, strings.Join(msgs, ";")))
		}
		if t.Effect == "" {
			errs = append(errs, field.Required(p.Child("effect"), ""))
		} else if !contains(taintEffects, t.Effect) {
			errs = append(errs, field.NotSupported(p.Child("effect"), t.Effect, taintEffects))
		}
		key := t.Key + "/" + string(t.Effect)
		if seen[key] {
			dup := field.Duplicate(p, t)
			dup.Detail = "taints must be unique by key and effect pair"
			errs = append(errs, dup)
		}
		seen[key] = true
	}
	return errs
}

func nodeCells(n *corev1.Node, now time.Time) []interface{} {
	var status []string
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				status = append(status, "Ready")
			} else {
				status = append(status, "NotReady")
			}
		}
	}
	if len(status) == 0 {
		status = append(status, "Unknown")
	}
	if n.Spec.Unschedulable {
		status = append(status, "SchedulingDisabled")
	}
	roleSet := map[string]bool{}
	for k, v := range n.Labels {
		if role, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok && role != "" {
			roleSet[role] = true
		} else if k == "kubernetes.io/role" && v != "" {
			roleSet[v] = true
		}
	}
	roles := make([]string, 0, len(roleSet))
	for r := range roleSet {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	info := n.Status.NodeInfo
	unknown := func(s string) string {
		if s == "" {
			return "<unknown>"
		}
		return s
	}
	return []interface{}{
		n.Name, strings.Join(status, ","), joinOr(roles, ","), ageAt(n.CreationTimestamp, now), info.KubeletVersion,
		nodeAddress(n, corev1.NodeInternalIP), nodeAddress(n, corev1.NodeExternalIP),
		unknown(info.OSImage), unknown(info.KernelVersion), unknown(info.ContainerRuntimeVersion),
	}
}

func nodeAddress(n *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}
