package kinds

// Pods: defaults (PodSpec plus the pod-only ones), validation, status on
// create (phase Pending, QoS class), the kubectl table, and the
// selectable fields.

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func podKind() *Kind {
	k := base(coreGV, "Pod", "pods", "pod", true, obj[corev1.Pod](), obj[corev1.PodList]())
	k.ShortNames, k.Categories, k.HasStatus = []string{"po"}, []string{"all"}, true
	k.Default = func(o runtime.Object) { defaultPod(o.(*corev1.Pod)) }
	k.Validate = func(o runtime.Object) field.ErrorList {
		return validatePodSpec(&o.(*corev1.Pod).Spec, field.NewPath("spec"))
	}
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		return validatePodSpecUpdate(&o.(*corev1.Pod).Spec, &old.(*corev1.Pod).Spec, field.NewPath("spec"))
	}
	k.PrepareForCreate = func(o runtime.Object) { preparePod(o.(*corev1.Pod)) }
	k.Columns = podColumns
	k.Cells = func(o runtime.Object) []interface{} { return podCells(o.(*corev1.Pod), time.Now()) }
	k.Fields = func(o runtime.Object) fields.Set { return podFields(o.(*corev1.Pod)) }
	return k
}

// defaultPod applies the PodSpec defaults and the pod-only ones.
func defaultPod(p *corev1.Pod) {
	defaultPodSpec(&p.Spec)
	defaultPodOnly(&p.Spec)
}

// preparePod resets the status of a new pod: phase Pending and the QoS
// class its resources give.
// A pod with scheduling gates also starts with a PodScheduled=False
// condition saying why.
func preparePod(p *corev1.Pod) {
	p.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: podQOS(&p.Spec)}
	addDefaultTolerations(&p.Spec)
	if len(p.Spec.SchedulingGates) > 0 {
		p.Status.Conditions = []corev1.PodCondition{{
			Type:    corev1.PodScheduled,
			Status:  corev1.ConditionFalse,
			Reason:  corev1.PodReasonSchedulingGated,
			Message: "Scheduling is blocked due to non-empty scheduling gates",
		}}
	}
}

// defaultTolerationSeconds is how long a new pod stays on a node that is
// not ready or unreachable before it is evicted, unless it says
// otherwise (kube-apiserver's DefaultTolerationSeconds admission).
const defaultTolerationSeconds = 300

// addDefaultTolerations gives a new pod a NoExecute toleration of the
// node.kubernetes.io/not-ready and .../unreachable taints for
// defaultTolerationSeconds, each unless one of its tolerations already
// covers that taint.
func addDefaultTolerations(s *corev1.PodSpec) {
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		covered := false
		for _, t := range s.Tolerations {
			keyOK := t.Key == key || (t.Key == "" && t.Operator == corev1.TolerationOpExists)
			covered = covered || (keyOK && (t.Effect == "" || t.Effect == corev1.TaintEffectNoExecute))
		}
		if !covered {
			secs := int64(defaultTolerationSeconds)
			s.Tolerations = append(s.Tolerations, corev1.Toleration{
				Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs,
			})
		}
	}
}

// podQOS computes a pod's quality-of-service class from the cpu and
// memory requests and limits of its containers (or its pod-level
// resources, when set): Guaranteed when every container limits both and
// requests equal limits, BestEffort when nothing is requested or limited,
// Burstable otherwise.
func podQOS(s *corev1.PodSpec) corev1.PodQOSClass {
	qosNames := []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	add := func(sum corev1.ResourceList, l corev1.ResourceList) int {
		found := 0
		for _, n := range qosNames {
			q, ok := l[n]
			if !ok || q.IsZero() {
				continue
			}
			found++
			acc := quantityOrZero(sum, n)
			acc.Add(q)
			sum[n] = acc
		}
		return found
	}
	if s.Resources != nil && (len(s.Resources.Requests) != 0 || len(s.Resources.Limits) != 0) {
		add(requests, s.Resources.Requests)
		if add(limits, s.Resources.Limits) != len(qosNames) {
			guaranteed = false
		}
	} else {
		for _, cs := range [][]corev1.Container{s.InitContainers, s.Containers} {
			for i := range cs {
				add(requests, cs[i].Resources.Requests)
				if add(limits, cs[i].Resources.Limits) != len(qosNames) {
					guaranteed = false
				}
			}
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for n, r := range requests {
			if l, ok := limits[n]; !ok || l.Cmp(r) != 0 {
				guaranteed = false
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// validatePortNumOrName validates a port given as a number or a name.
func validatePortNumOrName(port intstr.IntOrString, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch port.Type {
	case intstr.Int:
		for _, msg := range validation.IsValidPortNum(port.IntValue()) {
			errs = append(errs, field.Invalid(fld, port.IntValue(), msg))
		}
	case intstr.String:
		for _, msg := range validation.IsValidPortName(port.StrVal) {
			errs = append(errs, field.Invalid(fld, port.StrVal, msg))
		}
	default:
		errs = append(errs, field.InternalError(fld, fmt.Errorf("unknown type: %v", port.Type)))
	}
	return errs
}

var podColumns = []metav1.TableColumnDefinition{
	colName,
	col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic.", false),
	col("Status", "string", "The aggregate status of the containers in this pod.", false),
	col("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.", false),
	colAge,
	col("IP", "string", "IP address allocated to the pod. Routable at least within the cluster.", true),
	col("Node", "string", "NodeName is a request to schedule this pod onto a specific node.", true),
	col("Nominated Node", "string", "nominatedNodeName is set when this pod preempts other pods on the node.", true),
	col("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness.", true),
}

// podCells renders a pod's row at now, as kube-apiserver's printer: the
// STATUS is the most telling reason (an init step, a waiting or
// terminated container's reason, Terminating...), RESTARTS counts the
// containers' and sidecars' restarts and says how long ago the last was.
func podCells(p *corev1.Pod, now time.Time) []interface{} {
	total, ready := len(p.Spec.Containers), 0
	reason := string(p.Status.Phase)
	if p.Status.Reason != "" {
		reason = p.Status.Reason
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			reason = corev1.PodReasonSchedulingGated
		}
	}
	sidecars := map[string]bool{}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
			total++
		}
	}
	var restarts, sidecarRestarts int
	var lastRestart, lastSidecarRestart time.Time
	later := func(t *time.Time, cs corev1.ContainerStatus) {
		if term := cs.LastTerminationState.Terminated; term != nil && term.FinishedAt.After(*t) {
			*t = term.FinishedAt.Time
		}
	}
	initializing := false
	for i, cs := range p.Status.InitContainerStatuses {
		restarts += int(cs.RestartCount)
		later(&lastRestart, cs)
		if sidecars[cs.Name] {
			sidecarRestarts += int(cs.RestartCount)
			later(&lastSidecarRestart, cs)
		}
		term, wait := cs.State.Terminated, cs.State.Waiting
		switch {
		case term != nil && term.ExitCode == 0:
			continue
		case sidecars[cs.Name] && cs.Started != nil && *cs.Started:
			if cs.Ready {
				ready++
			}
			continue
		case term != nil && term.Reason != "":
			reason = "Init:" + term.Reason
		case term != nil && term.Signal != 0:
			reason = fmt.Sprintf("Init:Signal:%d", term.Signal)
		case term != nil:
			reason = fmt.Sprintf("Init:ExitCode:%d", term.ExitCode)
		case wait != nil && wait.Reason != "" && wait.Reason != "PodInitializing":
			reason = "Init:" + wait.Reason
		default:
			reason = fmt.Sprintf("Init:%d/%d", i, len(p.Spec.InitContainers))
		}
		initializing = true
		break
	}
	if !initializing || podConditionTrue(p, corev1.PodInitialized) {
		restarts, lastRestart = sidecarRestarts, lastSidecarRestart
		hasRunning := false
		for i := len(p.Status.ContainerStatuses) - 1; i >= 0; i-- {
			cs := p.Status.ContainerStatuses[i]
			restarts += int(cs.RestartCount)
			later(&lastRestart, cs)
			term, wait := cs.State.Terminated, cs.State.Waiting
			switch {
			case wait != nil && wait.Reason != "":
				reason = wait.Reason
			case term != nil && term.Reason != "":
				reason = term.Reason
			case term != nil && term.Signal != 0:
				reason = fmt.Sprintf("Signal:%d", term.Signal)
			case term != nil:
				reason = fmt.Sprintf("ExitCode:%d", term.ExitCode)
			case cs.Ready && cs.State.Running != nil:
				hasRunning = true
				ready++
			}
		}
		if reason == "Completed" && hasRunning {
			reason = "NotReady"
			if podConditionTrue(p, corev1.PodReady) {
				reason = "Running"
			}
		}
	}
	if p.DeletionTimestamp != nil {
		if p.Status.Reason == "NodeLost" {
			reason = "Unknown"
		} else if p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
			reason = "Terminating"
		}
	}
	restartCell := strconv.Itoa(restarts)
	if restarts != 0 && !lastRestart.IsZero() {
		restartCell = fmt.Sprintf("%d (%s ago)", restarts, humanAge(now.Sub(lastRestart)))
	}
	podIP := ""
	if len(p.Status.PodIPs) > 0 {
		podIP = p.Status.PodIPs[0].IP
	} else {
		podIP = p.Status.PodIP
	}
	gates := "<none>"
	if n := len(p.Spec.ReadinessGates); n > 0 {
		trueGates := 0
		for _, g := range p.Spec.ReadinessGates {
			if podConditionTrue(p, g.ConditionType) {
				trueGates++
			}
		}
		gates = fmt.Sprintf("%d/%d", trueGates, n)
	}
	return []interface{}{
		p.Name, fmt.Sprintf("%d/%d", ready, total), reason, restartCell, ageAt(p.CreationTimestamp, now),
		orNone(podIP), orNone(p.Spec.NodeName), orNone(p.Status.NominatedNodeName), gates,
	}
}

func podConditionTrue(p *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podFields are the selectable fields of a pod.
func podFields(p *corev1.Pod) fields.Set {
	return fields.Set{
		"spec.nodeName":            p.Spec.NodeName,
		"spec.restartPolicy":       string(p.Spec.RestartPolicy),
		"spec.schedulerName":       p.Spec.SchedulerName,
		"spec.serviceAccountName":  p.Spec.ServiceAccountName,
		"spec.hostNetwork":         strconv.FormatBool(p.Spec.HostNetwork),
		"status.phase":             string(p.Status.Phase),
		"status.podIP":             p.Status.PodIP,
		"status.nominatedNodeName": p.Status.NominatedNodeName,
	}
}
