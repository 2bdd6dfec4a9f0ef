package podenv

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Sources is everything a container's environment is computed from,
// read from the API beforehand (ReferencedObjects names what to read).
type Sources struct {
	// Pod with status.podIP(s) and status.hostIP(s) filled.
	Pod *corev1.Pod
	// ServiceVars are the service link variables (ServiceLinkVars).
	ServiceVars []Var
	// ConfigMaps and Secrets of the pod's namespace by name; a name
	// absent from the map does not exist.
	ConfigMaps map[string]*corev1.ConfigMap
	Secrets    map[string]*corev1.Secret
	// Allocatable of the node: the value of limits a container does not
	// set.
	Allocatable corev1.ResourceList
}

// Warning is something Kubernetes reports as an Event on the pod while
// the container still starts.
type Warning struct{ Reason, Message string }

// ReferencedObjects names the ConfigMaps and Secrets c's envFrom and env
// read.
func ReferencedObjects(c *corev1.Container) (configMaps, secrets []string) {
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil {
			configMaps = append(configMaps, ef.ConfigMapRef.Name)
		}
		if ef.SecretRef != nil {
			secrets = append(secrets, ef.SecretRef.Name)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			continue
		}
		if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
			configMaps = append(configMaps, r.Name)
		}
		if r := e.ValueFrom.SecretKeyRef; r != nil {
			secrets = append(secrets, r.Name)
		}
	}
	return dedupe(configMaps), dedupe(secrets)
}

// envList is an ordered environment where a redefinition replaces the
// value and moves the variable to the end (the runtime's "later wins"
// then agrees with the order).
type envList struct {
	names []string
	vals  map[string]string
}

func (l *envList) set(name, v string) {
	if _, ok := l.vals[name]; ok {
		for i, n := range l.names {
			if n == name {
				l.names = append(l.names[:i], l.names[i+1:]...)
				break
			}
		}
	}
	l.names = append(l.names, name)
	l.vals[name] = v
}

// Compose computes container c's environment in Kubernetes' order and
// precedence: the service link variables no declared variable overrides,
// then envFrom (keys sorted within a source; keys that are not valid
// variable names skipped with a warning — with the relaxed names
// Kubernetes accepts since 1.32, and that Kelson's API server validates,
// only an empty name or one holding '=' or a non-printable character is
// invalid), then env. An env value's
// $(VAR) references expand against the variables declared before it and
// the service variables. A missing ConfigMap, Secret or key is an error
// naming it unless the reference is optional, in which case the source
// or variable is skipped.
func Compose(c *corev1.Container, src Sources) ([]string, []Warning, error) {
	pod := src.Pod
	declared := envList{vals: map[string]string{}}
	svc := map[string]string{}
	for _, v := range src.ServiceVars {
		svc[v.Name] = v.Value
	}
	var warns []Warning
	for _, ef := range c.EnvFrom {
		var data map[string]string
		switch {
		case ef.ConfigMapRef != nil:
			cm, ok := src.ConfigMaps[ef.ConfigMapRef.Name]
			if !ok {
				if optional(ef.ConfigMapRef.Optional) {
					continue
				}
				return nil, warns, fmt.Errorf("podenv: container %s: envFrom configmap %q not found in namespace %s: %w", c.Name, ef.ConfigMapRef.Name, pod.Namespace, ErrNotFound)
			}
			data = cm.Data
		case ef.SecretRef != nil:
			s, ok := src.Secrets[ef.SecretRef.Name]
			if !ok {
				if optional(ef.SecretRef.Optional) {
					continue
				}
				return nil, warns, fmt.Errorf("podenv: container %s: envFrom secret %q not found in namespace %s: %w", c.Name, ef.SecretRef.Name, pod.Namespace, ErrNotFound)
			}
			data = make(map[string]string, len(s.Data))
			for k, v := range s.Data {
				data[k] = string(v)
			}
		default:
			continue
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var invalid []string
		for _, k := range keys {
			name := ef.Prefix + k
			if len(validation.IsRelaxedEnvVarName(name)) != 0 {
				invalid = append(invalid, name)
				continue
			}
			declared.set(name, data[k])
		}
		if len(invalid) > 0 {
			kind, name := "configMap", ""
			if ef.ConfigMapRef != nil {
				name = ef.ConfigMapRef.Name
			} else {
				kind, name = "secret", ef.SecretRef.Name
			}
			warns = append(warns, Warning{"InvalidEnvironmentVariableNames", fmt.Sprintf(
				"Keys [%s] from the EnvFrom %s %s/%s were skipped since they are considered invalid environment variable names.",
				strings.Join(invalid, ", "), kind, pod.Namespace, name)})
		}
	}
	for _, e := range c.Env {
		v, skip, err := envValue(pod, c, e, declared.vals, svc, src)
		if err != nil {
			return nil, warns, err
		}
		if !skip {
			declared.set(e.Name, v)
		}
	}
	out := make([]string, 0, len(src.ServiceVars)+len(declared.names))
	for _, v := range src.ServiceVars {
		if _, ok := declared.vals[v.Name]; !ok {
			out = append(out, v.Name+"="+v.Value)
		}
	}
	for _, n := range declared.names {
		out = append(out, n+"="+declared.vals[n])
	}
	return out, warns, nil
}

func envValue(pod *corev1.Pod, c *corev1.Container, e corev1.EnvVar, declared, svc map[string]string, src Sources) (v string, skip bool, err error) {
	if e.Value != "" || e.ValueFrom == nil {
		return Expand(e.Value, MapLookup(declared, svc)), false, nil
	}
	from := e.ValueFrom
	switch {
	case from.FieldRef != nil:
		v, err = FieldValue(pod, from.FieldRef.FieldPath)
	case from.ResourceFieldRef != nil:
		name := from.ResourceFieldRef.ContainerName
		if name == "" {
			name = c.Name
		}
		v, err = ResourceValue(pod, name, from.ResourceFieldRef, src.Allocatable)
	case from.ConfigMapKeyRef != nil:
		r := from.ConfigMapKeyRef
		cm, ok := src.ConfigMaps[r.Name]
		if !ok {
			if optional(r.Optional) {
				return "", true, nil
			}
			return "", false, fmt.Errorf("podenv: container %s: env %s: configmap %q not found in namespace %s: %w", c.Name, e.Name, r.Name, pod.Namespace, ErrNotFound)
		}
		var found bool
		if v, found = cm.Data[r.Key]; !found {
			if optional(r.Optional) {
				return "", true, nil
			}
			return "", false, fmt.Errorf("podenv: container %s: env %s: couldn't find key %s in ConfigMap %s/%s: %w", c.Name, e.Name, r.Key, pod.Namespace, r.Name, ErrNotFound)
		}
	case from.SecretKeyRef != nil:
		r := from.SecretKeyRef
		s, ok := src.Secrets[r.Name]
		if !ok {
			if optional(r.Optional) {
				return "", true, nil
			}
			return "", false, fmt.Errorf("podenv: container %s: env %s: secret %q not found in namespace %s: %w", c.Name, e.Name, r.Name, pod.Namespace, ErrNotFound)
		}
		b, found := s.Data[r.Key]
		if !found {
			if optional(r.Optional) {
				return "", true, nil
			}
			return "", false, fmt.Errorf("podenv: container %s: env %s: couldn't find key %s in Secret %s/%s: %w", c.Name, e.Name, r.Key, pod.Namespace, r.Name, ErrNotFound)
		}
		v = string(b)
	default:
		return "", false, fmt.Errorf("podenv: container %s: env %s: unsupported valueFrom (fieldRef, resourceFieldRef, configMapKeyRef and secretKeyRef are)", c.Name, e.Name)
	}
	if err != nil {
		return "", false, fmt.Errorf("podenv: container %s: env %s: %w", c.Name, e.Name, err)
	}
	return v, false, nil
}

func optional(b *bool) bool { return b != nil && *b }

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
