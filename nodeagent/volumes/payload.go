package volumes

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/kelson-dev/kelson/nodeagent/podenv"
	corev1 "k8s.io/api/core/v1"
)

// DefaultMode is the mode of configMap, secret, downwardAPI and projected
// files when the volume names none (0644, the API's default).
const DefaultMode fs.FileMode = 0o644

// RootCAConfigMap is the ConfigMap projected service account volumes
// read the cluster's CA from (the root-ca-cert-publisher controller,
// controllers/rootcacert, writes it in every namespace). A projected
// source naming it is skipped (with a warning) while it is absent: a
// cluster run without that controller still starts its pods.
const RootCAConfigMap = "kube-root-ca.crt"

// File is one file of a payload.
type File struct {
	Data []byte
	Mode fs.FileMode
}

// Payload is what an atomically written volume holds: file contents by
// relative path ("key" or "dir/file").
type Payload map[string]File

// Objects are the ConfigMaps and Secrets of the pod's namespace a pod's
// volumes read, by name; a name absent from the map does not exist.
// Tokens are the service account tokens issued for the pod's
// serviceAccountToken projections; TokenErrors why one could not be had.
type Objects struct {
	ConfigMaps  map[string]*corev1.ConfigMap
	Secrets     map[string]*corev1.Secret
	Tokens      map[TokenSource]string
	TokenErrors map[TokenSource]error
}

// Warning is something to report as a Warning Event on the pod while its
// volumes are still set up.
type Warning struct{ Reason, Message string }

func mode(m *int32, def fs.FileMode) fs.FileMode {
	if m == nil {
		return def
	}
	return fs.FileMode(*m) & fs.ModePerm
}

func optional(b *bool) bool { return b != nil && *b }

// keyed fills p from data per items (all keys when items is empty).
// kind names the source for errors ("configmap", "secret").
func keyed(p Payload, kind, name string, data map[string][]byte, items []corev1.KeyToPath, def fs.FileMode, opt bool) error {
	if len(items) == 0 {
		for k, v := range data {
			p[k] = File{Data: v, Mode: def}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if opt {
				continue
			}
			return fmt.Errorf("%s %q references non-existent key %q: %w", kind, name, it.Key, ErrNotFound)
		}
		p[it.Path] = File{Data: v, Mode: mode(it.Mode, def)}
	}
	return nil
}

func configMapData(cm *corev1.ConfigMap) map[string][]byte {
	out := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		out[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		out[k] = v
	}
	return out
}

// configMapPayload is a configMap volume's (or projected source's)
// content. A missing ConfigMap is an error naming it unless optional (an
// empty payload).
func configMapPayload(ns, name string, items []corev1.KeyToPath, opt bool, def fs.FileMode, objs Objects) (Payload, error) {
	p := Payload{}
	cm, ok := objs.ConfigMaps[name]
	if !ok {
		if opt {
			return p, nil
		}
		return nil, fmt.Errorf("configmap %q not found in namespace %s: %w", name, ns, ErrNotFound)
	}
	return p, keyed(p, "configmap", name, configMapData(cm), items, def, opt)
}

func secretPayload(ns, name string, items []corev1.KeyToPath, opt bool, def fs.FileMode, objs Objects) (Payload, error) {
	p := Payload{}
	s, ok := objs.Secrets[name]
	if !ok {
		if opt {
			return p, nil
		}
		return nil, fmt.Errorf("secret %q not found in namespace %s: %w", name, ns, ErrNotFound)
	}
	data := s.Data
	if len(s.StringData) > 0 { // never stored by the API; tolerated for hand-made objects
		data = make(map[string][]byte, len(s.Data)+len(s.StringData))
		for k, v := range s.Data {
			data[k] = v
		}
		for k, v := range s.StringData {
			data[k] = []byte(v)
		}
	}
	return p, keyed(p, "secret", name, data, items, def, opt)
}

// downwardPayload is a downwardAPI volume's (or projected source's)
// content: one file per item, a fieldRef (metadata.*) or a
// resourceFieldRef of a named container.
func downwardPayload(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, def fs.FileMode, alloc corev1.ResourceList) (Payload, error) {
	p := Payload{}
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = podenv.FieldValue(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			v, err = podenv.ResourceValue(pod, it.ResourceFieldRef.ContainerName, it.ResourceFieldRef, alloc)
		default:
			err = fmt.Errorf("item %q has neither fieldRef nor resourceFieldRef", it.Path)
		}
		if err != nil {
			return nil, err
		}
		p[it.Path] = File{Data: []byte(v), Mode: mode(it.Mode, def)}
	}
	return p, nil
}

// projectedPayload merges the sources of a projected volume in order (a
// later source's file replaces an earlier one's at the same path). A
// serviceAccountToken source is the token objs.Tokens holds for it (an
// error when there is none); clusterTrustBundle and podCertificate
// sources are skipped with a warning; a configMap source naming
// kube-root-ca.crt is skipped with a warning when that ConfigMap does not
// exist.
func projectedPayload(pod *corev1.Pod, src *corev1.ProjectedVolumeSource, objs Objects, alloc corev1.ResourceList) (Payload, []Warning, error) {
	def := mode(src.DefaultMode, DefaultMode)
	out := Payload{}
	var warns []Warning
	for _, s := range src.Sources {
		var p Payload
		var err error
		switch {
		case s.ConfigMap != nil:
			opt := optional(s.ConfigMap.Optional)
			if _, ok := objs.ConfigMaps[s.ConfigMap.Name]; !ok && s.ConfigMap.Name == RootCAConfigMap && !opt {
				warns = append(warns, Warning{"RootCANotPublished", fmt.Sprintf("configmap %s/%s does not exist (the root-ca-cert-publisher controller writes it; is it disabled?): its files are left out", pod.Namespace, RootCAConfigMap)})
				continue
			}
			p, err = configMapPayload(pod.Namespace, s.ConfigMap.Name, s.ConfigMap.Items, opt, def, objs)
		case s.Secret != nil:
			p, err = secretPayload(pod.Namespace, s.Secret.Name, s.Secret.Items, optional(s.Secret.Optional), def, objs)
		case s.DownwardAPI != nil:
			p, err = downwardPayload(pod, s.DownwardAPI.Items, def, alloc)
		case s.ServiceAccountToken != nil:
			p, err = tokenPayload(pod, s.ServiceAccountToken, def, objs)
		case s.ClusterTrustBundle != nil:
			warns = append(warns, Warning{"UnsupportedProjection", fmt.Sprintf("clusterTrustBundle source (path %q) skipped: not supported by the Kelson node agent", s.ClusterTrustBundle.Path)})
			continue
		case s.PodCertificate != nil:
			warns = append(warns, Warning{"UnsupportedProjection", "podCertificate source skipped: not supported by the Kelson node agent"})
			continue
		default:
			continue
		}
		if err != nil {
			return nil, warns, err
		}
		for k, v := range p {
			out[k] = v
		}
	}
	return out, warns, nil
}

// ValidatePayload checks that every path is relative, clean, free of ".."
// elements and does not start with ".." (names the writer reserves);
// and that no path is both a file and the directory of another.
func ValidatePayload(p Payload) error {
	paths := make([]string, 0, len(p))
	for k := range p {
		paths = append(paths, k)
	}
	sort.Strings(paths)
	for _, k := range paths {
		if k == "" || path.IsAbs(k) || path.Clean(k) != k {
			return fmt.Errorf("invalid path %q: must be relative and clean", k)
		}
		for _, el := range strings.Split(k, "/") {
			if el == ".." || strings.HasPrefix(el, "..") {
				return fmt.Errorf("invalid path %q: elements may not be or start with '..'", k)
			}
		}
		for d := path.Dir(k); d != "."; d = path.Dir(d) {
			if _, ok := p[d]; ok {
				return fmt.Errorf("invalid path %q: %q is a file", k, d)
			}
		}
	}
	return nil
}
