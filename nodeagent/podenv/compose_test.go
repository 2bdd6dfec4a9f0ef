package podenv

import (
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func svc(ns, name, ip string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: ports}}
}

func names(ss []*corev1.Service) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Namespace+"/"+s.Name)
	}
	return out
}

func TestLinkedServices(t *testing.T) {
	all := []*corev1.Service{
		svc("default", "kubernetes", "10.43.0.1"),
		svc("default", "other", "10.43.0.2"),
		svc("shop", "web", "10.43.0.3"),
		svc("shop", "headless", "None"),
		svc("shop", "pending", ""),
		svc("shop", "api", "10.43.0.4"),
	}
	for _, tc := range []struct {
		ns     string
		enable bool
		extra  []*corev1.Service
		want   []string
	}{
		{ns: "shop", enable: true, want: []string{"shop/api", "default/kubernetes", "shop/web"}},
		{ns: "shop", enable: false, want: []string{"default/kubernetes"}},
		{ns: "default", enable: true, want: []string{"default/kubernetes", "default/other"}},
		{ns: "default", enable: false, want: []string{"default/kubernetes"}},
		{ns: "shop", enable: true, extra: []*corev1.Service{svc("shop", "kubernetes", "10.43.0.9")},
			want: []string{"shop/api", "shop/kubernetes", "shop/web"}},
		{ns: "shop", enable: false, extra: []*corev1.Service{svc("shop", "kubernetes", "10.43.0.9")},
			want: []string{"default/kubernetes"}},
	} {
		// the pod's namespace's own "kubernetes" wins whichever comes first
		for _, in := range [][]*corev1.Service{append(slices.Clone(all), tc.extra...), append(slices.Clone(tc.extra), all...)} {
			got := names(LinkedServices(tc.ns, tc.enable, in))
			if !slices.Equal(got, tc.want) {
				t.Errorf("ns %s enable %v: %v, want %v", tc.ns, tc.enable, got, tc.want)
			}
		}
	}
}

func TestServiceLinkVars(t *testing.T) {
	got := ServiceLinkVars([]*corev1.Service{
		svc("shop", "redis-primary", "10.0.0.11",
			corev1.ServicePort{Name: "redis", Port: 6379, Protocol: corev1.ProtocolTCP},
			corev1.ServicePort{Name: "dns-udp", Port: 53, Protocol: corev1.ProtocolUDP}),
		svc("shop", "noports", "10.0.0.12"),
		svc("shop", "v6", "fd00::1", corev1.ServicePort{Port: 80}),
		svc("shop", "headless", "None", corev1.ServicePort{Port: 80}),
	})
	want := []Var{
		{"REDIS_PRIMARY_SERVICE_HOST", "10.0.0.11"},
		{"REDIS_PRIMARY_SERVICE_PORT", "6379"},
		{"REDIS_PRIMARY_SERVICE_PORT_REDIS", "6379"},
		{"REDIS_PRIMARY_SERVICE_PORT_DNS_UDP", "53"},
		{"REDIS_PRIMARY_PORT", "tcp://10.0.0.11:6379"},
		{"REDIS_PRIMARY_PORT_6379_TCP", "tcp://10.0.0.11:6379"},
		{"REDIS_PRIMARY_PORT_6379_TCP_PROTO", "tcp"},
		{"REDIS_PRIMARY_PORT_6379_TCP_PORT", "6379"},
		{"REDIS_PRIMARY_PORT_6379_TCP_ADDR", "10.0.0.11"},
		{"REDIS_PRIMARY_PORT_53_UDP", "udp://10.0.0.11:53"},
		{"REDIS_PRIMARY_PORT_53_UDP_PROTO", "udp"},
		{"REDIS_PRIMARY_PORT_53_UDP_PORT", "53"},
		{"REDIS_PRIMARY_PORT_53_UDP_ADDR", "10.0.0.11"},
		{"NOPORTS_SERVICE_HOST", "10.0.0.12"},
		{"V6_SERVICE_HOST", "fd00::1"},
		{"V6_SERVICE_PORT", "80"},
		{"V6_PORT", "tcp://[fd00::1]:80"},
		{"V6_PORT_80_TCP", "tcp://[fd00::1]:80"},
		{"V6_PORT_80_TCP_PROTO", "tcp"},
		{"V6_PORT_80_TCP_PORT", "80"},
		{"V6_PORT_80_TCP_ADDR", "fd00::1"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
}

func ptr[T any](v T) *T { return &v }

func TestCompose(t *testing.T) {
	pod := testPod()
	cms := map[string]*corev1.ConfigMap{
		"cfg": {Data: map[string]string{"B": "cfg-b", "A": "cfg-a", "bad=key": "x", "1NUM": "y", "WEB_SERVICE_HOST": "override"}},
	}
	secrets := map[string]*corev1.Secret{"sec": {Data: map[string][]byte{"PASSWORD": []byte("hunter2")}}}
	svcVars := ServiceLinkVars([]*corev1.Service{svc("shop", "web", "10.43.0.3", corev1.ServicePort{Port: 80})})
	src := Sources{Pod: pod, ServiceVars: svcVars, ConfigMaps: cms, Secrets: secrets}
	for _, tc := range []struct {
		name      string
		c         corev1.Container
		want      []string
		wantWarns []string
		err       string
	}{{
		name: "order and precedence",
		c: corev1.Container{Name: "c",
			EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
			Env: []corev1.EnvVar{
				{Name: "A", Value: "env-a"},
				{Name: "REF", Value: "$(A)-$(B)-$(WEB_SERVICE_PORT)-$(LATER)-$$(A)"},
				{Name: "LATER", Value: "l"},
				{Name: "EMPTY"},
			}},
		want: []string{
			"WEB_SERVICE_PORT=80", "WEB_PORT=tcp://10.43.0.3:80", "WEB_PORT_80_TCP=tcp://10.43.0.3:80",
			"WEB_PORT_80_TCP_PROTO=tcp", "WEB_PORT_80_TCP_PORT=80", "WEB_PORT_80_TCP_ADDR=10.43.0.3",
			"1NUM=y", "B=cfg-b", "WEB_SERVICE_HOST=override", "A=env-a",
			"REF=env-a-cfg-b-80-$(LATER)-$(A)", "LATER=l", "EMPTY=",
		},
		wantWarns: []string{"Keys [bad=key] from the EnvFrom configMap shop/cfg were skipped"},
	}, {
		name: "prefix and secrets",
		c: corev1.Container{Name: "c",
			EnvFrom: []corev1.EnvFromSource{
				{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}}},
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr(true)}},
			}},
		want: []string{
			"WEB_SERVICE_HOST=10.43.0.3", "WEB_SERVICE_PORT=80", "WEB_PORT=tcp://10.43.0.3:80", "WEB_PORT_80_TCP=tcp://10.43.0.3:80",
			"WEB_PORT_80_TCP_PROTO=tcp", "WEB_PORT_80_TCP_PORT=80", "WEB_PORT_80_TCP_ADDR=10.43.0.3",
			"CFG_1NUM=y", "CFG_A=cfg-a", "CFG_B=cfg-b", "CFG_WEB_SERVICE_HOST=override", "PASSWORD=hunter2",
		},
		wantWarns: []string{"Keys [CFG_bad=key]"},
	}, {
		name: "valueFrom",
		c: corev1.Container{Name: "c", Env: []corev1.EnvVar{
			{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
			{Name: "CM", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "A"}}},
			{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "PASSWORD"}}},
			{Name: "OPT1", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Key: "A", Optional: ptr(true)}}},
			{Name: "OPT2", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "nokey", Optional: ptr(true)}}},
			{Name: "NOEXPAND", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "lit"}, Key: "v"}}},
		}},
		want: []string{"POD=web-1", "IP=10.42.0.7", "APP=web", "CPU=1", "CM=cfg-a", "PW=hunter2", "NOEXPAND=$(POD)"},
	}, {
		name: "missing configmap",
		c:    corev1.Container{Name: "c", EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}}}},
		err:  `envFrom configmap "gone" not found in namespace shop`,
	}, {
		name: "missing secret key",
		c:    corev1.Container{Name: "c", Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "nokey"}}}}},
		err:  "couldn't find key nokey in Secret shop/sec",
	}, {
		name: "missing configmap for key",
		c:    corev1.Container{Name: "c", Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Key: "k"}}}}},
		err:  `configmap "gone" not found`,
	}, {
		name: "bad fieldPath",
		c:    corev1.Container{Name: "c", Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.volumes"}}}}},
		err:  "env X: podenv: unsupported fieldPath",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := src
			if tc.name == "valueFrom" || tc.name == "missing configmap" {
				s.ServiceVars = nil
			}
			s.ConfigMaps = map[string]*corev1.ConfigMap{"cfg": cms["cfg"], "lit": {Data: map[string]string{"v": "$(POD)"}}}
			if tc.name == "valueFrom" {
				s.Allocatable = nil
			}
			got, warns, err := Compose(&tc.c, s)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if strings.Contains(tc.err, "not found") && !errors.Is(err, ErrNotFound) {
					t.Errorf("err %v does not wrap ErrNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "order and precedence" {
				// service host is overridden by envFrom: not listed first
				if slices.Contains(got, "WEB_SERVICE_HOST=10.43.0.3") {
					t.Errorf("service var not overridden: %v", got)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("env\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if len(warns) != len(tc.wantWarns) {
				t.Fatalf("warnings %v, want %v", warns, tc.wantWarns)
			}
			for i, w := range tc.wantWarns {
				if !strings.Contains(warns[i].Message, w) || warns[i].Reason != "InvalidEnvironmentVariableNames" {
					t.Errorf("warning %v, want %q", warns[i], w)
				}
			}
		})
	}
}

func TestReferencedObjects(t *testing.T) {
	c := &corev1.Container{
		EnvFrom: []corev1.EnvFromSource{
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "a"}}},
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}},
		},
		Env: []corev1.EnvVar{
			{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "a"}}}},
			{Name: "Y", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "b"}}}},
			{Name: "Z", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "t"}}}},
		},
	}
	cm, sec := ReferencedObjects(c)
	if !slices.Equal(cm, []string{"a", "b"}) || !slices.Equal(sec, []string{"s", "t"}) {
		t.Errorf("got %v %v", cm, sec)
	}
}
