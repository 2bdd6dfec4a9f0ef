package rootcacert

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func TestDecide(t *testing.T) {
	now := metav1.Now()
	active := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	good := func() *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: "team-a", ResourceVersion: "7",
			Annotations: map[string]string{DescriptionAnnotation: Description}},
			Data: map[string]string{Key: pem}}
	}
	with := func(f func(cm *corev1.ConfigMap)) *corev1.ConfigMap { cm := good(); f(cm); return cm }
	for _, tc := range []struct {
		name string
		ns   *corev1.Namespace
		cm   *corev1.ConfigMap
		want Action
	}{
		{"no namespace", nil, nil, None},
		{"missing", active, nil, Create},
		{"missing, no phase yet", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}, nil, Create},
		{"terminating phase", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}, nil, None},
		{"being deleted", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", DeletionTimestamp: &now}}, nil, None},
		{"being deleted, wrong data", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", DeletionTimestamp: &now}}, with(func(cm *corev1.ConfigMap) { cm.Data[Key] = "x" }), None},
		{"up to date", active, good(), None},
		{"up to date, other annotations and labels", active, with(func(cm *corev1.ConfigMap) { cm.Annotations["a"] = "b"; cm.Labels = map[string]string{"l": "v"} }), None},
		{"another CA", active, with(func(cm *corev1.ConfigMap) { cm.Data[Key] = "old PEM" }), Update},
		{"key removed", active, with(func(cm *corev1.ConfigMap) { cm.Data = nil }), Update},
		{"an extra key", active, with(func(cm *corev1.ConfigMap) { cm.Data["extra"] = "x" }), Update},
		{"binary data", active, with(func(cm *corev1.ConfigMap) { cm.BinaryData = map[string][]byte{"b": {1}} }), Update},
		{"no annotations", active, with(func(cm *corev1.ConfigMap) { cm.Annotations = nil }), Update},
		{"another description", active, with(func(cm *corev1.ConfigMap) { cm.Annotations[DescriptionAnnotation] = "mine" }), Update},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before *corev1.ConfigMap
			if tc.cm != nil {
				before = tc.cm.DeepCopy()
			}
			d := Decide(tc.ns, tc.cm, pem)
			if d.Action != tc.want {
				t.Fatalf("action %v, want %v", d.Action, tc.want)
			}
			if tc.cm != nil && !equalCM(before, tc.cm) {
				t.Errorf("Decide modified its input")
			}
			if d.Action == None {
				if d.ConfigMap != nil {
					t.Errorf("none with a ConfigMap %+v", d.ConfigMap)
				}
				return
			}
			cm := d.ConfigMap
			if cm.Name != ConfigMapName || cm.Namespace != "team-a" || len(cm.Data) != 1 || cm.Data[Key] != pem || len(cm.BinaryData) != 0 ||
				cm.Annotations[DescriptionAnnotation] != Description {
				t.Errorf("writes %+v", cm)
			}
			if d.Action == Update {
				if cm.ResourceVersion != "7" {
					t.Errorf("update without the resourceVersion read (%q)", cm.ResourceVersion)
				}
				for k, v := range tc.cm.Annotations {
					if k != DescriptionAnnotation && cm.Annotations[k] != v {
						t.Errorf("annotation %s lost", k)
					}
				}
			}
		})
	}
}

func equalCM(a, b *corev1.ConfigMap) bool {
	if len(a.Data) != len(b.Data) || len(a.Annotations) != len(b.Annotations) || len(a.BinaryData) != len(b.BinaryData) {
		return false
	}
	for k, v := range a.Data {
		if b.Data[k] != v {
			return false
		}
	}
	for k, v := range a.Annotations {
		if b.Annotations[k] != v {
			return false
		}
	}
	return true
}
