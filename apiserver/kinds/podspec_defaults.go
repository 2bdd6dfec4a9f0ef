package kinds

// Defaulting of PodSpec and PodTemplateSpec, shared by pods and every
// kind with a pod template (Deployment, ReplicaSet, DaemonSet,
// StatefulSet, Job, CronJob). Mirrors kube-apiserver's core/v1 defaults.

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Kubernetes' default values for core/v1 objects.
const (
	defaultTerminationGracePeriod int64 = 30
	defaultSchedulerName                = "default-scheduler"
	defaultTerminationMessagePath       = "/dev/termination-log"
	defaultVolumeMode             int32 = 0644
	defaultTokenExpiration        int64 = 3600
)

// defaultPodTemplate defaults a pod template's spec as kube-apiserver
// does for the templates of workload kinds. The Pod-only defaults
// (enableServiceLinks, requests from limits, host-network ports) are not
// applied to templates: Kubernetes applies them when the pod is created.
func defaultPodTemplate(t *corev1.PodTemplateSpec) {
	defaultPodSpec(&t.Spec)
}

// defaultPodSpec sets the PodSpec defaults shared by pods and templates.
func defaultPodSpec(s *corev1.PodSpec) {
	setDefaultString(&s.DNSPolicy, corev1.DNSClusterFirst)
	setDefaultString(&s.RestartPolicy, corev1.RestartPolicyAlways)
	if s.SecurityContext == nil {
		s.SecurityContext = &corev1.PodSecurityContext{}
	}
	setDefault(&s.TerminationGracePeriodSeconds, defaultTerminationGracePeriod)
	setDefaultString(&s.SchedulerName, defaultSchedulerName)
	for i := range s.InitContainers {
		defaultContainer(&s.InitContainers[i])
	}
	for i := range s.Containers {
		defaultContainer(&s.Containers[i])
	}
	for i := range s.EphemeralContainers {
		c := (*corev1.Container)(&s.EphemeralContainers[i].EphemeralContainerCommon)
		defaultContainer(c)
	}
	for i := range s.Volumes {
		defaultVolume(&s.Volumes[i])
	}
}

// defaultPodOnly applies the defaults Kubernetes gives a Pod but not a
// pod template: enableServiceLinks true, requests copied from limits,
// a NotRequired resize policy for each requested cpu or memory of a
// regular container (in-place resize), and (on the host network) each
// container port's hostPort.
func defaultPodOnly(s *corev1.PodSpec) {
	setDefault(&s.EnableServiceLinks, corev1.DefaultEnableServiceLinks)
	for i := range s.Containers {
		defaultRequestsFromLimits(&s.Containers[i].Resources)
		defaultResizePolicy(&s.Containers[i])
	}
	for _, cs := range [][]corev1.Container{s.InitContainers, s.Containers} {
		for i := range cs {
			defaultRequestsFromLimits(&cs[i].Resources)
			if s.HostNetwork {
				for j := range cs[i].Ports {
					if cs[i].Ports[j].HostPort == 0 {
						cs[i].Ports[j].HostPort = cs[i].Ports[j].ContainerPort
					}
				}
			}
		}
	}
}

// defaultResizePolicy adds a NotRequired resize policy for cpu and
// memory when the container requests them and names no policy for them.
func defaultResizePolicy(c *corev1.Container) {
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, requested := c.Resources.Requests[name]; !requested {
			continue
		}
		named := false
		for _, p := range c.ResizePolicy {
			named = named || p.ResourceName == name
		}
		if !named {
			c.ResizePolicy = append(c.ResizePolicy, corev1.ContainerResizePolicy{ResourceName: name, RestartPolicy: corev1.NotRequired})
		}
	}
}

// defaultRequestsFromLimits sets each unset request to its limit.
func defaultRequestsFromLimits(r *corev1.ResourceRequirements) {
	if len(r.Limits) == 0 {
		return
	}
	if r.Requests == nil {
		r.Requests = corev1.ResourceList{}
	}
	for name, q := range r.Limits {
		if _, ok := r.Requests[name]; !ok {
			r.Requests[name] = q.DeepCopy()
		}
	}
}

// defaultContainer sets a container's defaults.
func defaultContainer(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		if imageTag(c.Image) == "latest" {
			c.ImagePullPolicy = corev1.PullAlways
		} else {
			c.ImagePullPolicy = corev1.PullIfNotPresent
		}
	}
	setDefaultString(&c.TerminationMessagePath, defaultTerminationMessagePath)
	setDefaultString(&c.TerminationMessagePolicy, corev1.TerminationMessageReadFile)
	for i := range c.Ports {
		setDefaultString(&c.Ports[i].Protocol, corev1.ProtocolTCP)
	}
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil && vf.FieldRef != nil {
			setDefaultString(&vf.FieldRef.APIVersion, "v1")
		}
	}
	defaultProbe(c.LivenessProbe)
	defaultProbe(c.ReadinessProbe)
	defaultProbe(c.StartupProbe)
	if c.Lifecycle != nil {
		defaultHandler(c.Lifecycle.PostStart)
		defaultHandler(c.Lifecycle.PreStop)
	}
}

// imageTag returns the tag of an image reference: "latest" when it has
// neither a tag nor a digest, "" when it has only a digest.
func imageTag(image string) string {
	ref, digest, hasDigest := strings.Cut(image, "@")
	_ = digest
	last := ref
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		last = ref[i+1:]
	}
	if i := strings.LastIndex(last, ":"); i >= 0 {
		return last[i+1:]
	}
	if hasDigest {
		return ""
	}
	return "latest"
}

// defaultProbe sets a probe's thresholds and its handler's defaults.
func defaultProbe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	defaultHTTPGet(p.HTTPGet)
}

func defaultHandler(h *corev1.LifecycleHandler) {
	if h != nil {
		defaultHTTPGet(h.HTTPGet)
	}
}

func defaultHTTPGet(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	setDefaultString(&h.Path, "/")
	setDefaultString(&h.Scheme, corev1.URISchemeHTTP)
}

// defaultVolume gives a volume with no source an emptyDir, and sets
// file modes and the other source defaults.
func defaultVolume(v *corev1.Volume) {
	vs := &v.VolumeSource
	if *vs == (corev1.VolumeSource{}) {
		vs.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	switch {
	case vs.Secret != nil:
		setDefault(&vs.Secret.DefaultMode, defaultVolumeMode)
	case vs.ConfigMap != nil:
		setDefault(&vs.ConfigMap.DefaultMode, defaultVolumeMode)
	case vs.DownwardAPI != nil:
		setDefault(&vs.DownwardAPI.DefaultMode, defaultVolumeMode)
		for i := range vs.DownwardAPI.Items {
			if fr := vs.DownwardAPI.Items[i].FieldRef; fr != nil {
				setDefaultString(&fr.APIVersion, "v1")
			}
		}
	case vs.Projected != nil:
		setDefault(&vs.Projected.DefaultMode, defaultVolumeMode)
		for i := range vs.Projected.Sources {
			src := &vs.Projected.Sources[i]
			if src.ServiceAccountToken != nil {
				setDefault(&src.ServiceAccountToken.ExpirationSeconds, defaultTokenExpiration)
			}
			if src.DownwardAPI != nil {
				for j := range src.DownwardAPI.Items {
					if fr := src.DownwardAPI.Items[j].FieldRef; fr != nil {
						setDefaultString(&fr.APIVersion, "v1")
					}
				}
			}
		}
	case vs.HostPath != nil:
		setDefault(&vs.HostPath.Type, corev1.HostPathUnset)
	case vs.ISCSI != nil:
		setDefaultString(&vs.ISCSI.ISCSIInterface, "default")
	case vs.Ephemeral != nil && vs.Ephemeral.VolumeClaimTemplate != nil:
		defaultPVCSpec(&vs.Ephemeral.VolumeClaimTemplate.Spec)
	}
}

// defaultPVCSpec sets volumeMode Filesystem on a claim spec.
func defaultPVCSpec(s *corev1.PersistentVolumeClaimSpec) {
	setDefault(&s.VolumeMode, corev1.PersistentVolumeFilesystem)
}

// defaultServicePortTarget is the Service rule: targetPort = port when
// unset.
func defaultServicePortTarget(p *corev1.ServicePort) {
	if p.TargetPort == (intstr.IntOrString{}) {
		p.TargetPort = intstr.FromInt32(p.Port)
	}
}

// quantityOrZero returns l[name], or a zero quantity.
func quantityOrZero(l corev1.ResourceList, name corev1.ResourceName) resource.Quantity {
	if q, ok := l[name]; ok {
		return q
	}
	return resource.Quantity{}
}
