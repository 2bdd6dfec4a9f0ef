package admission

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// ServiceAccount gives new pods a service account and its token, as
// kube-apiserver's plugin of that name: spec.serviceAccountName
// "default" when unset; a pod whose service account does not exist is
// refused; unless automountServiceAccountToken is false (on the pod, else
// on the service account), a projected volume kube-api-access-<random>
// (a bound token, the cluster CA's ConfigMap kube-root-ca.crt, the
// namespace) mounted read-only at
// /var/run/secrets/kubernetes.io/serviceaccount in every container and
// init container that does not mount that path already.
//
// The "default" service account is created by a controller just after
// its namespace: a pod created in a young namespace (NewNamespace) whose
// account is missing waits up to Wait for it to appear before it is
// refused.
type ServiceAccount struct {
	ServiceAccounts ServiceAccountGetter
	Namespaces      NamespaceGetter
	// NewNamespace: a namespace younger than this may still get its
	// default service account. Default 10 s.
	NewNamespace time.Duration
	// Wait bounds the wait for a missing service account in a young
	// namespace. Default 5 s.
	Wait time.Duration
	// Poll is how often the wait looks again. Default 100 ms.
	Poll time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Suffix makes the volume name's random part; default 5 random
	// characters of [a-z0-9] (Kubernetes' alphabet for generated names
	// is smaller; any of these is a valid name).
	Suffix func() string
}

// Names of the token volume, as Kubernetes has them.
const (
	TokenMountPath        = "/var/run/secrets/kubernetes.io/serviceaccount"
	TokenVolumePrefix     = "kube-api-access-"
	RootCAConfigMap       = "kube-root-ca.crt"
	TokenExpirationSecond = 3607
	defaultServiceAccount = "default"
	mirrorPodAnnotation   = "kubernetes.io/config.mirror"
)

// Handles creates.
func (p *ServiceAccount) Handles(op Operation) bool { return op == Create }

// Admit does the work described on the type.
func (p *ServiceAccount) Admit(ctx context.Context, a *Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	if !ok || a.Subresource != "" {
		return nil
	}
	if _, mirror := pod.Annotations[mirrorPodAnnotation]; mirror {
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = defaultServiceAccount
	}
	if pod.Spec.DeprecatedServiceAccount == "" {
		pod.Spec.DeprecatedServiceAccount = pod.Spec.ServiceAccountName
	}
	sa, err := p.lookup(ctx, pod.Namespace, pod.Spec.ServiceAccountName)
	if err != nil {
		if apierrors.IsNotFound(err) {
			// Kubernetes names the resource in the singular here (its
			// lister's wording).
			return forbidden(a, fmt.Errorf("error looking up service account %s/%s: serviceaccount %q not found",
				pod.Namespace, pod.Spec.ServiceAccountName, pod.Spec.ServiceAccountName))
		}
		return err
	}
	if !automount(pod, sa) {
		return nil
	}
	MountToken(pod, p.suffix())
	return nil
}

// lookup finds the service account, waiting for it in a young namespace.
func (p *ServiceAccount) lookup(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	sa, err := p.ServiceAccounts.GetServiceAccount(ctx, ns, name)
	if !apierrors.IsNotFound(err) || p.Namespaces == nil {
		return sa, err
	}
	n, nerr := p.Namespaces.GetNamespace(ctx, ns)
	if nerr != nil || p.now().Sub(n.CreationTimestamp.Time) > p.young() {
		return nil, err
	}
	deadline := time.NewTimer(p.wait())
	defer deadline.Stop()
	tick := time.NewTicker(p.poll())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, err
		case <-deadline.C:
			return nil, err
		case <-tick.C:
		}
		sa, serr := p.ServiceAccounts.GetServiceAccount(ctx, ns, name)
		if !apierrors.IsNotFound(serr) {
			return sa, serr
		}
	}
}

// automount: the pod's automountServiceAccountToken if set, else the
// service account's, else true.
func automount(pod *corev1.Pod, sa *corev1.ServiceAccount) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa != nil && sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// MountToken adds the token volume TokenVolumePrefix+suffix to pod and
// mounts it in every container and init container that has no mount at
// TokenMountPath; a pod where all have one is left as it is.
func MountToken(pod *corev1.Pod, suffix string) {
	name := TokenVolumePrefix + suffix
	added := false
	mount := func(cs []corev1.Container) {
		for i := range cs {
			c := &cs[i]
			has := false
			for _, m := range c.VolumeMounts {
				if strings.TrimSuffix(m.MountPath, "/") == TokenMountPath {
					has = true
					break
				}
			}
			if has {
				continue
			}
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: TokenMountPath})
			added = true
		}
	}
	mount(pod.Spec.InitContainers)
	mount(pod.Spec.Containers)
	if added {
		pod.Spec.Volumes = append(pod.Spec.Volumes, TokenVolume(name))
	}
}

// TokenVolume is the projected volume of a pod's service account token.
func TokenVolume(name string) corev1.Volume {
	exp := int64(TokenExpirationSecond)
	mode := int32(0o644)
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: &mode,
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: &exp, Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: RootCAConfigMap},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		},
	}}}
}

func (p *ServiceAccount) young() time.Duration {
	if p.NewNamespace > 0 {
		return p.NewNamespace
	}
	return 10 * time.Second
}

func (p *ServiceAccount) wait() time.Duration {
	if p.Wait > 0 {
		return p.Wait
	}
	return 5 * time.Second
}

func (p *ServiceAccount) poll() time.Duration {
	if p.Poll > 0 {
		return p.Poll
	}
	return 100 * time.Millisecond
}

func (p *ServiceAccount) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *ServiceAccount) suffix() string {
	if p.Suffix != nil {
		return p.Suffix()
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 5)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}
