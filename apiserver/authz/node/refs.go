package node

import (
	corev1 "k8s.io/api/core/v1"
)

// The objects a pod references by name in its namespace, as the node
// agent needs them to run it.

// visitContainers calls f for every container of the pod (init,
// regular, ephemeral) as env and envFrom sources.
func visitEnv(pod *corev1.Pod, f func(env []corev1.EnvVar, from []corev1.EnvFromSource)) {
	for i := range pod.Spec.InitContainers {
		f(pod.Spec.InitContainers[i].Env, pod.Spec.InitContainers[i].EnvFrom)
	}
	for i := range pod.Spec.Containers {
		f(pod.Spec.Containers[i].Env, pod.Spec.Containers[i].EnvFrom)
	}
	for i := range pod.Spec.EphemeralContainers {
		f(pod.Spec.EphemeralContainers[i].Env, pod.Spec.EphemeralContainers[i].EnvFrom)
	}
}

// ReferencesSecret reports whether pod uses the Secret name: a volume
// (secret, projected, or a volume plugin's secretRef), an env or envFrom
// source of any container, or an imagePullSecret.
func ReferencesSecret(pod *corev1.Pod, name string) bool {
	if name == "" {
		return false
	}
	for _, s := range pod.Spec.ImagePullSecrets {
		if s.Name == name {
			return true
		}
	}
	for i := range pod.Spec.Volumes {
		if volumeSecret(&pod.Spec.Volumes[i], name) {
			return true
		}
	}
	found := false
	visitEnv(pod, func(env []corev1.EnvVar, from []corev1.EnvFromSource) {
		for _, e := range env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == name {
				found = true
			}
		}
		for _, e := range from {
			if e.SecretRef != nil && e.SecretRef.Name == name {
				found = true
			}
		}
	})
	return found
}

func volumeSecret(v *corev1.Volume, name string) bool {
	ref := func(r *corev1.LocalObjectReference) bool { return r != nil && r.Name == name }
	switch {
	case v.Secret != nil:
		return v.Secret.SecretName == name
	case v.Projected != nil:
		for _, s := range v.Projected.Sources {
			if s.Secret != nil && s.Secret.Name == name {
				return true
			}
		}
	case v.CSI != nil:
		return ref(v.CSI.NodePublishSecretRef)
	case v.FlexVolume != nil:
		return ref(v.FlexVolume.SecretRef)
	case v.CephFS != nil:
		return ref(v.CephFS.SecretRef)
	case v.RBD != nil:
		return ref(v.RBD.SecretRef)
	case v.ISCSI != nil:
		return ref(v.ISCSI.SecretRef)
	case v.Cinder != nil:
		return ref(v.Cinder.SecretRef)
	case v.ScaleIO != nil:
		return ref(v.ScaleIO.SecretRef)
	case v.StorageOS != nil:
		return ref(v.StorageOS.SecretRef)
	case v.AzureFile != nil:
		return v.AzureFile.SecretName == name
	}
	return false
}

// ReferencesConfigMap reports whether pod uses the ConfigMap name: a
// configMap or projected volume, or an env or envFrom source.
func ReferencesConfigMap(pod *corev1.Pod, name string) bool {
	if name == "" {
		return false
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.ConfigMap != nil && v.ConfigMap.Name == name:
			return true
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil && s.ConfigMap.Name == name {
					return true
				}
			}
		}
	}
	found := false
	visitEnv(pod, func(env []corev1.EnvVar, from []corev1.EnvFromSource) {
		for _, e := range env {
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil && e.ValueFrom.ConfigMapKeyRef.Name == name {
				found = true
			}
		}
		for _, e := range from {
			if e.ConfigMapRef != nil && e.ConfigMapRef.Name == name {
				found = true
			}
		}
	})
	return found
}

// Claims returns the PersistentVolumeClaims pod uses: its
// persistentVolumeClaim volumes, and the claim of each generic ephemeral
// volume (named <pod>-<volume>).
func Claims(pod *corev1.Pod) []string {
	var out []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			out = append(out, pod.Name+"-"+v.Name)
		}
	}
	return out
}

// ServiceAccountOf is the service account pod runs as.
func ServiceAccountOf(pod *corev1.Pod) string {
	if pod.Spec.ServiceAccountName != "" {
		return pod.Spec.ServiceAccountName
	}
	return "default"
}
