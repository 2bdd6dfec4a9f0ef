package admission

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// PodSecurity enforces the Pod Security Standards chosen by namespace
// labels, as kube-apiserver's plugin of that name:
//
//	pod-security.kubernetes.io/enforce: privileged|baseline|restricted   refuse violating pods
//	pod-security.kubernetes.io/warn:    ...                              Warning headers
//	pod-security.kubernetes.io/audit:   ...                              (no audit log yet: ignored)
//	pod-security.kubernetes.io/<mode>-version: latest|v1.N               (checks are always latest's)
//
// A namespace without labels is privileged: nothing is checked. Pods are
// checked on create, on updates that change their spec other than
// images, and on pods/ephemeralcontainers; workload kinds' pod templates
// (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob,
// ReplicationController, PodTemplate) get warnings only, for the enforce
// and the warn levels. Namespaces with an invalid level label are
// refused.
type PodSecurity struct {
	Namespaces NamespaceGetter
}

const (
	podSecurityPrefix = "pod-security.kubernetes.io/"
	modeEnforce       = "enforce"
	modeWarn          = "warn"
	modeAudit         = "audit"
)

var versionRE = regexp.MustCompile(`^v1\.(0|[1-9][0-9]*)$`)

// Policy is a namespace's level and version per mode.
type Policy struct {
	Enforce, Warn, Audit                      Level
	EnforceVersion, WarnVersion, AuditVersion string
}

// PolicyOf reads a namespace's labels; invalid values are errors (one
// per label, as "<label>: <problem>").
func PolicyOf(labels map[string]string) (Policy, []string) {
	p := Policy{EnforceVersion: "latest", WarnVersion: "latest", AuditVersion: "latest"}
	var errs []string
	for _, m := range []struct {
		mode    string
		level   *Level
		version *string
	}{{modeEnforce, &p.Enforce, &p.EnforceVersion}, {modeWarn, &p.Warn, &p.WarnVersion}, {modeAudit, &p.Audit, &p.AuditVersion}} {
		if v, ok := labels[podSecurityPrefix+m.mode]; ok {
			l, ok := ParseLevel(v)
			if !ok {
				errs = append(errs, fmt.Sprintf("%s%s: Invalid value: %q: must be one of privileged, baseline, restricted", podSecurityPrefix, m.mode, v))
			}
			*m.level = l
		}
		if v, ok := labels[podSecurityPrefix+m.mode+"-version"]; ok {
			if v != "latest" && !versionRE.MatchString(v) {
				errs = append(errs, fmt.Sprintf("%s%s-version: Invalid value: %q: must be latest or v1.<minor>", podSecurityPrefix, m.mode, v))
			} else {
				*m.version = v
			}
		}
	}
	return p, errs
}

// Handles creates and updates.
func (p *PodSecurity) Handles(op Operation) bool { return op == Create || op == Update }

// Validate checks pods, pod templates and namespace labels.
func (p *PodSecurity) Validate(ctx context.Context, a *Attributes) error {
	if a.is("", "namespaces") {
		if a.Subresource != "" {
			return nil
		}
		ns, ok := a.Object.(*corev1.Namespace)
		if !ok {
			return nil
		}
		if _, errs := PolicyOf(ns.Labels); len(errs) > 0 {
			return forbiddenf(a, "%s", strings.Join(errs, "; "))
		}
		return nil
	}
	if a.Namespace == "" {
		return nil
	}
	meta, spec, oldSpec, isPod := podSpecOf(a)
	if spec == nil {
		return nil
	}
	if a.Operation == Update && oldSpec != nil && !securityRelevantChange(spec, oldSpec) {
		return nil
	}
	ns, err := p.Namespaces.GetNamespace(ctx, a.Namespace)
	if err != nil {
		return err
	}
	pol, _ := PolicyOf(ns.Labels)
	if pol.Enforce == LevelPrivileged && pol.Warn == LevelPrivileged {
		return nil
	}
	name := func(l Level, v string) string { return l.String() + ":" + v }
	if isPod {
		if vs := CheckPod(pol.Enforce, meta, spec); len(vs) > 0 {
			return forbiddenf(a, "violates PodSecurity %q: %s", name(pol.Enforce, pol.EnforceVersion), ViolationsMessage(vs))
		}
		if vs := CheckPod(pol.Warn, meta, spec); len(vs) > 0 {
			Warn(ctx, fmt.Sprintf("would violate PodSecurity %q: %s", name(pol.Warn, pol.WarnVersion), ViolationsMessage(vs)))
		}
		return nil
	}
	// A template: warnings for the enforce and the warn level (once
	// when they are the same).
	warned := map[string]bool{}
	for _, m := range []struct {
		l Level
		v string
	}{{pol.Enforce, pol.EnforceVersion}, {pol.Warn, pol.WarnVersion}} {
		if warned[name(m.l, m.v)] {
			continue
		}
		warned[name(m.l, m.v)] = true
		if vs := CheckPod(m.l, meta, spec); len(vs) > 0 {
			Warn(ctx, fmt.Sprintf("would violate PodSecurity %q: %s", name(m.l, m.v), ViolationsMessage(vs)))
		}
	}
	return nil
}

// podSpecOf finds the pod spec a write carries: a pod's own (isPod), or
// a workload's template; oldSpec is the stored one on updates.
func podSpecOf(a *Attributes) (meta *metav1.ObjectMeta, spec, oldSpec *corev1.PodSpec, isPod bool) {
	if pod, ok := a.Object.(*corev1.Pod); ok {
		switch a.Subresource {
		case "", "ephemeralcontainers":
		default:
			return nil, nil, nil, false
		}
		if old, ok := a.OldObject.(*corev1.Pod); ok && a.Subresource == "" {
			oldSpec = &old.Spec
		}
		return &pod.ObjectMeta, &pod.Spec, oldSpec, true
	}
	if a.Subresource != "" {
		return nil, nil, nil, false
	}
	t := templateOf(a.Object)
	if t == nil {
		return nil, nil, nil, false
	}
	if a.OldObject != nil {
		if ot := templateOf(a.OldObject); ot != nil {
			if equality.Semantic.DeepEqual(t, ot) {
				return nil, nil, nil, false // template unchanged: nothing to say
			}
		}
	}
	return &t.ObjectMeta, &t.Spec, nil, false
}

// templateOf is a workload's pod template, nil for other kinds.
func templateOf(o runtime.Object) *corev1.PodTemplateSpec {
	switch w := o.(type) {
	case *appsv1.Deployment:
		return &w.Spec.Template
	case *appsv1.ReplicaSet:
		return &w.Spec.Template
	case *appsv1.StatefulSet:
		return &w.Spec.Template
	case *appsv1.DaemonSet:
		return &w.Spec.Template
	case *batchv1.Job:
		return &w.Spec.Template
	case *batchv1.CronJob:
		return &w.Spec.JobTemplate.Spec.Template
	case *corev1.ReplicationController:
		return w.Spec.Template
	case *corev1.PodTemplate:
		return &w.Template
	}
	return nil
}

// securityRelevantChange: a pod update changes its spec other than in
// container images (the only spec change a running pod's update may make
// besides a few scheduling fields), so it is checked again.
func securityRelevantChange(spec, old *corev1.PodSpec) bool {
	a, b := spec.DeepCopy(), old.DeepCopy()
	for _, s := range []*corev1.PodSpec{a, b} {
		for i := range s.Containers {
			s.Containers[i].Image = ""
		}
		for i := range s.InitContainers {
			s.InitContainers[i].Image = ""
		}
		s.ActiveDeadlineSeconds = nil
		s.Tolerations = nil
		s.NodeName = ""
	}
	return !equality.Semantic.DeepEqual(a, b)
}
