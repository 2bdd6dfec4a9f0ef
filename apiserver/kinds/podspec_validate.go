package kinds

// Validation of PodSpec and PodTemplateSpec, shared by pods and every
// kind with a pod template. Paths and messages follow kube-apiserver's
// core validation; the important fields are covered, not every corner.

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	restartPolicies          = []corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure}
	dnsPolicies              = []corev1.DNSPolicy{corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet, corev1.DNSDefault, corev1.DNSNone}
	pullPolicies             = []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}
	terminationMsgPolicies   = []corev1.TerminationMessagePolicy{corev1.TerminationMessageFallbackToLogsOnError, corev1.TerminationMessageReadFile}
	portProtocols            = []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}
	tolerationOperators      = []corev1.TolerationOperator{corev1.TolerationOpEqual, corev1.TolerationOpExists}
	taintEffects             = []corev1.TaintEffect{corev1.TaintEffectNoExecute, corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule}
	overcommittableResources = sets.New[corev1.ResourceName](corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage)
)

// validatePodTemplate validates a template's labels and spec.
func validatePodTemplate(t *corev1.PodTemplateSpec, fld *field.Path) field.ErrorList {
	errs := metav1validation.ValidateLabels(t.Labels, fld.Child("metadata", "labels"))
	return append(errs, validatePodSpec(&t.Spec, fld.Child("spec"))...)
}

// validatePodSpec validates a pod spec at fld ("spec" or
// "spec.template.spec").
func validatePodSpec(s *corev1.PodSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	volumes, vErrs := validateVolumes(s.Volumes, fld.Child("volumes"))
	errs = append(errs, vErrs...)
	names := sets.New[string]()
	errs = append(errs, validateContainers(s.InitContainers, volumes, names, s.HostNetwork, fld.Child("initContainers"), false)...)
	errs = append(errs, validateContainers(s.Containers, volumes, names, s.HostNetwork, fld.Child("containers"), true)...)
	if s.RestartPolicy == "" {
		errs = append(errs, field.Required(fld.Child("restartPolicy"), ""))
	} else if !contains(restartPolicies, s.RestartPolicy) {
		errs = append(errs, field.NotSupported(fld.Child("restartPolicy"), s.RestartPolicy, restartPolicies))
	}
	if s.DNSPolicy == "" {
		errs = append(errs, field.Required(fld.Child("dnsPolicy"), ""))
	} else if !contains(dnsPolicies, s.DNSPolicy) {
		errs = append(errs, field.NotSupported(fld.Child("dnsPolicy"), s.DNSPolicy, dnsPolicies))
	} else if s.DNSPolicy == corev1.DNSNone && s.DNSConfig == nil {
		errs = append(errs, field.Required(fld.Child("dnsConfig"), fmt.Sprintf("must provide `dnsConfig` when `dnsPolicy` is %s", corev1.DNSNone)))
	}
	errs = append(errs, metav1validation.ValidateLabels(s.NodeSelector, fld.Child("nodeSelector"))...)
	if s.ServiceAccountName != "" {
		errs = append(errs, dns1123Subdomain(s.ServiceAccountName, fld.Child("serviceAccountName"))...)
	}
	if s.NodeName != "" {
		errs = append(errs, dns1123Subdomain(s.NodeName, fld.Child("nodeName"))...)
	}
	if s.Hostname != "" {
		errs = append(errs, dns1123Label(s.Hostname, fld.Child("hostname"))...)
	}
	if s.Subdomain != "" {
		errs = append(errs, dns1123Label(s.Subdomain, fld.Child("subdomain"))...)
	}
	if s.ActiveDeadlineSeconds != nil {
		if v := *s.ActiveDeadlineSeconds; v < 1 || v > math.MaxInt32 {
			errs = append(errs, field.Invalid(fld.Child("activeDeadlineSeconds"), v, validation.InclusiveRangeError(1, math.MaxInt32)))
		}
	}
	for i, t := range s.Tolerations {
		errs = append(errs, validateToleration(t, fld.Child("tolerations").Index(i))...)
	}
	return errs
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// validateContainers validates a list of containers; names collects the
// container names across init and regular containers.
func validateContainers(cs []corev1.Container, volumes sets.Set[string], names sets.Set[string], hostNetwork bool, fld *field.Path, required bool) field.ErrorList {
	var errs field.ErrorList
	if required && len(cs) == 0 {
		return field.ErrorList{field.Required(fld, "")}
	}
	for i := range cs {
		c := &cs[i]
		p := fld.Index(i)
		if c.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			errs = append(errs, dns1123Label(c.Name, p.Child("name"))...)
			if names.Has(c.Name) {
				errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
			}
			names.Insert(c.Name)
		}
		if c.Image == "" {
			errs = append(errs, field.Required(p.Child("image"), ""))
		} else if c.Image != strings.TrimSpace(c.Image) {
			errs = append(errs, field.Invalid(p.Child("image"), c.Image, "must not have leading or trailing whitespace"))
		}
		if c.ImagePullPolicy == "" {
			errs = append(errs, field.Required(p.Child("imagePullPolicy"), ""))
		} else if !contains(pullPolicies, c.ImagePullPolicy) {
			errs = append(errs, field.NotSupported(p.Child("imagePullPolicy"), c.ImagePullPolicy, pullPolicies))
		}
		if c.TerminationMessagePolicy == "" {
			errs = append(errs, field.Required(p.Child("terminationMessagePolicy"), "must be 'File' or 'FallbackToLogsOnError'"))
		} else if !contains(terminationMsgPolicies, c.TerminationMessagePolicy) {
			errs = append(errs, field.NotSupported(p.Child("terminationMessagePolicy"), c.TerminationMessagePolicy, terminationMsgPolicies))
		}
		errs = append(errs, validateContainerPorts(c.Ports, hostNetwork, p.Child("ports"))...)
		errs = append(errs, validateEnv(c.Env, p.Child("env"))...)
		errs = append(errs, validateVolumeMounts(c.VolumeMounts, volumes, p.Child("volumeMounts"))...)
		errs = append(errs, validateResources(&c.Resources, p.Child("resources"))...)
		errs = append(errs, validateProbe(c.LivenessProbe, true, p.Child("livenessProbe"))...)
		errs = append(errs, validateProbe(c.ReadinessProbe, false, p.Child("readinessProbe"))...)
		errs = append(errs, validateProbe(c.StartupProbe, true, p.Child("startupProbe"))...)
	}
	return errs
}

func validateContainerPorts(ports []corev1.ContainerPort, hostNetwork bool, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, port := range ports {
		p := fld.Index(i)
		if port.Name != "" {
			if msgs := validation.IsValidPortName(port.Name); len(msgs) != 0 {
				for _, msg := range msgs {
					errs = append(errs, field.Invalid(p.Child("name"), port.Name, msg))
				}
			} else if names.Has(port.Name) {
				errs = append(errs, field.Duplicate(p.Child("name"), port.Name))
			} else {
				names.Insert(port.Name)
			}
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(p.Child("containerPort"), ""))
		} else {
			for _, msg := range validation.IsValidPortNum(int(port.ContainerPort)) {
				errs = append(errs, field.Invalid(p.Child("containerPort"), port.ContainerPort, msg))
			}
		}
		if port.HostPort != 0 {
			for _, msg := range validation.IsValidPortNum(int(port.HostPort)) {
				errs = append(errs, field.Invalid(p.Child("hostPort"), port.HostPort, msg))
			}
			if hostNetwork && port.HostPort != port.ContainerPort {
				errs = append(errs, field.Invalid(p.Child("containerPort"), port.ContainerPort, "must match `hostPort` when `hostNetwork` is true"))
			}
		}
		if port.Protocol == "" {
			errs = append(errs, field.Required(p.Child("protocol"), ""))
		} else if !contains(portProtocols, port.Protocol) {
			errs = append(errs, field.NotSupported(p.Child("protocol"), port.Protocol, portProtocols))
		}
	}
	return errs
}

func validateEnv(env []corev1.EnvVar, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range env {
		p := fld.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			for _, msg := range validation.IsRelaxedEnvVarName(ev.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), ev.Name, msg))
			}
		}
		if vf := ev.ValueFrom; vf != nil {
			n := 0
			for _, set := range []bool{vf.FieldRef != nil, vf.ResourceFieldRef != nil, vf.ConfigMapKeyRef != nil, vf.SecretKeyRef != nil, vf.FileKeyRef != nil} {
				if set {
					n++
				}
			}
			if n == 0 {
				errs = append(errs, field.Invalid(p.Child("valueFrom"), "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
			} else if n > 1 {
				errs = append(errs, field.Invalid(p.Child("valueFrom"), "", "may not have more than one field specified at a time"))
			}
			if ev.Value != "" && n != 0 {
				errs = append(errs, field.Invalid(p.Child("valueFrom"), "", "may not be specified when `value` is not empty"))
			}
			if vf.FieldRef != nil && vf.FieldRef.FieldPath == "" {
				errs = append(errs, field.Required(p.Child("valueFrom", "fieldRef", "fieldPath"), ""))
			}
		}
	}
	return errs
}

func validateVolumeMounts(mounts []corev1.VolumeMount, volumes sets.Set[string], fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	paths := sets.New[string]()
	for i, m := range mounts {
		p := fld.Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else if !volumes.Has(m.Name) {
			errs = append(errs, field.NotFound(p.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(p.Child("mountPath"), ""))
		} else if paths.Has(m.MountPath) {
			errs = append(errs, field.Invalid(p.Child("mountPath"), m.MountPath, "must be unique"))
		}
		paths.Insert(m.MountPath)
	}
	return errs
}

func validateResources(r *corev1.ResourceRequirements, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sortedKeys(asStringMap(r.Limits)) {
		q := r.Limits[corev1.ResourceName(name)]
		if q.Sign() < 0 {
			errs = append(errs, field.Invalid(fld.Child("limits").Key(name), q.String(), "must be greater than or equal to 0"))
		}
	}
	reqPath := fld.Child("requests")
	for _, name := range sortedKeys(asStringMap(r.Requests)) {
		rn := corev1.ResourceName(name)
		q := r.Requests[rn]
		if q.Sign() < 0 {
			errs = append(errs, field.Invalid(reqPath.Key(name), q.String(), "must be greater than or equal to 0"))
		}
		lim, ok := r.Limits[rn]
		if !ok {
			continue
		}
		if q.Cmp(lim) != 0 && !overcommittableResources.Has(rn) && !strings.HasPrefix(name, corev1.ResourceHugePagesPrefix) {
			errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, lim.String())))
		} else if q.Cmp(lim) > 0 {
			errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
		}
	}
	return errs
}

func asStringMap(l corev1.ResourceList) map[string]struct{} {
	m := make(map[string]struct{}, len(l))
	for k := range l {
		m[string(k)] = struct{}{}
	}
	return m
}

func validateProbe(pr *corev1.Probe, mustSucceedOnce bool, fld *field.Path) field.ErrorList {
	if pr == nil {
		return nil
	}
	var errs field.ErrorList
	h := pr.ProbeHandler
	n := 0
	for _, set := range []bool{h.Exec != nil, h.HTTPGet != nil, h.TCPSocket != nil, h.GRPC != nil} {
		if set {
			n++
		}
	}
	if n == 0 {
		errs = append(errs, field.Required(fld, "must specify a handler type"))
	} else if n > 1 {
		errs = append(errs, field.Forbidden(fld, "may not specify more than 1 handler type"))
	}
	if h.HTTPGet != nil {
		errs = append(errs, validatePortNumOrName(h.HTTPGet.Port, fld.Child("httpGet", "port"))...)
		if s := h.HTTPGet.Scheme; s != corev1.URISchemeHTTP && s != corev1.URISchemeHTTPS {
			errs = append(errs, field.NotSupported(fld.Child("httpGet", "scheme"), s, []corev1.URIScheme{corev1.URISchemeHTTP, corev1.URISchemeHTTPS}))
		}
	}
	if h.TCPSocket != nil {
		errs = append(errs, validatePortNumOrName(h.TCPSocket.Port, fld.Child("tcpSocket", "port"))...)
	}
	errs = append(errs, nonNegative(int64(pr.InitialDelaySeconds), fld.Child("initialDelaySeconds"))...)
	errs = append(errs, nonNegative(int64(pr.TimeoutSeconds), fld.Child("timeoutSeconds"))...)
	errs = append(errs, nonNegative(int64(pr.PeriodSeconds), fld.Child("periodSeconds"))...)
	errs = append(errs, nonNegative(int64(pr.SuccessThreshold), fld.Child("successThreshold"))...)
	errs = append(errs, nonNegative(int64(pr.FailureThreshold), fld.Child("failureThreshold"))...)
	if mustSucceedOnce && pr.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(fld.Child("successThreshold"), pr.SuccessThreshold, "must be 1"))
	}
	return errs
}

func validateToleration(t corev1.Toleration, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.Key != "" {
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, p.Child("key"))...)
	}
	if t.Key == "" && t.Operator != corev1.TolerationOpExists {
		errs = append(errs, field.Invalid(p.Child("operator"), t.Operator, "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
	}
	if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
		errs = append(errs, field.Invalid(p.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
	}
	switch t.Operator {
	case corev1.TolerationOpEqual, "":
		for _, msg := range validation.IsValidLabelValue(t.Value) {
			errs = append(errs, field.Invalid(p.Child("operator"), t.Value, msg))
		}
	case corev1.TolerationOpExists:
		if t.Value != "" {
			errs = append(errs, field.Invalid(p.Child("operator"), t.Value, "value must be empty when `operator` is 'Exists'"))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("operator"), t.Operator, tolerationOperators))
	}
	if t.Effect != "" && !contains(taintEffects, t.Effect) {
		errs = append(errs, field.NotSupported(p.Child("effect"), t.Effect, taintEffects))
	}
	return errs
}

// validateVolumes validates volume names and sources and returns the set
// of names (for volumeMounts).
func validateVolumes(vols []corev1.Volume, fld *field.Path) (sets.Set[string], field.ErrorList) {
	var errs field.ErrorList
	names := sets.New[string]()
	for i := range vols {
		v := &vols[i]
		p := fld.Index(i)
		if v.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			errs = append(errs, dns1123Label(v.Name, p.Child("name"))...)
			if names.Has(v.Name) {
				errs = append(errs, field.Duplicate(p.Child("name"), v.Name))
			}
			names.Insert(v.Name)
		}
		errs = append(errs, validateVolumeSource(&v.VolumeSource, p)...)
	}
	return names, errs
}

// volumeSourceNames returns the JSON names of the set sources of a
// VolumeSource (every field is a pointer to one source).
func volumeSourceNames(vs *corev1.VolumeSource) []string {
	var set []string
	rv := reflect.ValueOf(vs).Elem()
	for i := 0; i < rv.NumField(); i++ {
		if !rv.Field(i).IsNil() {
			tag, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("json"), ",")
			set = append(set, tag)
		}
	}
	return set
}

func validateVolumeSource(vs *corev1.VolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	set := volumeSourceNames(vs)
	if len(set) == 0 {
		return field.ErrorList{field.Required(p, "must specify a volume type")}
	}
	for _, name := range set[1:] {
		errs = append(errs, field.Forbidden(p.Child(name), "may not specify more than 1 volume type"))
	}
	switch {
	case vs.ConfigMap != nil:
		if vs.ConfigMap.Name == "" {
			errs = append(errs, field.Required(p.Child("configMap", "name"), ""))
		}
		errs = append(errs, validateMode(vs.ConfigMap.DefaultMode, p.Child("configMap", "defaultMode"))...)
	case vs.Secret != nil:
		if vs.Secret.SecretName == "" {
			errs = append(errs, field.Required(p.Child("secret", "secretName"), ""))
		}
		errs = append(errs, validateMode(vs.Secret.DefaultMode, p.Child("secret", "defaultMode"))...)
	case vs.HostPath != nil:
		if vs.HostPath.Path == "" {
			errs = append(errs, field.Required(p.Child("hostPath", "path"), ""))
		}
	case vs.PersistentVolumeClaim != nil:
		if vs.PersistentVolumeClaim.ClaimName == "" {
			errs = append(errs, field.Required(p.Child("persistentVolumeClaim", "claimName"), ""))
		}
	case vs.Projected != nil:
		errs = append(errs, validateMode(vs.Projected.DefaultMode, p.Child("projected", "defaultMode"))...)
	case vs.DownwardAPI != nil:
		errs = append(errs, validateMode(vs.DownwardAPI.DefaultMode, p.Child("downwardAPI", "defaultMode"))...)
	}
	return errs
}

func validateMode(mode *int32, p *field.Path) field.ErrorList {
	if mode != nil && (*mode < 0 || *mode > 0777) {
		return field.ErrorList{field.Invalid(p, *mode, "must be a number between 0 and 0777 (octal), both inclusive")}
	}
	return nil
}

// hasTolerationExceptSeconds reports whether list holds t, its
// tolerationSeconds aside (that one may change; it is a pointer, so ==
// would compare addresses).
func hasTolerationExceptSeconds(list []corev1.Toleration, t corev1.Toleration) bool {
	t.TolerationSeconds = nil
	for _, x := range list {
		x.TolerationSeconds = nil
		if x == t {
			return true
		}
	}
	return false
}

// podSpecMutableFields is the message of Kubernetes' "pod updates may not
// change fields" error.
const podSpecMutableFields = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"

// validatePodSpecUpdate checks a pod's spec update: only images,
// activeDeadlineSeconds (lowered, never unset), added tolerations and
// terminationGracePeriodSeconds may change.
func validatePodSpecUpdate(s, old *corev1.PodSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.ActiveDeadlineSeconds != nil {
		if old.ActiveDeadlineSeconds != nil && *old.ActiveDeadlineSeconds < *s.ActiveDeadlineSeconds {
			errs = append(errs, field.Invalid(fld.Child("activeDeadlineSeconds"), *s.ActiveDeadlineSeconds, "must be less than or equal to previous value"))
		}
	} else if old.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Invalid(fld.Child("activeDeadlineSeconds"), s.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
	}
	for _, t := range old.Tolerations {
		if !hasTolerationExceptSeconds(s.Tolerations, t) {
			errs = append(errs, field.Forbidden(fld.Child("tolerations"), fmt.Sprintf("existing toleration can not be modified except its tolerationSeconds: %v", t)))
			break
		}
	}
	// Overlay the mutable fields of the new spec on a copy of the old one:
	// anything else that differs is forbidden.
	mut := s.DeepCopy()
	for i := range mut.Containers {
		if i < len(old.Containers) {
			mut.Containers[i].Image = old.Containers[i].Image
		}
	}
	for i := range mut.InitContainers {
		if i < len(old.InitContainers) {
			mut.InitContainers[i].Image = old.InitContainers[i].Image
		}
	}
	mut.ActiveDeadlineSeconds = old.ActiveDeadlineSeconds
	mut.Tolerations = old.Tolerations
	mut.TerminationGracePeriodSeconds = old.TerminationGracePeriodSeconds
	mut.SchedulingGates = old.SchedulingGates
	if !reflect.DeepEqual(mut, old) && immutable(mut, old, fld) != nil {
		errs = append(errs, field.Forbidden(fld, podSpecMutableFields))
	}
	return errs
}
