package volumes

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

// flat renders a payload as sorted "path mode data" lines.
func flat(p Payload) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(p)) {
		out = append(out, k+" "+p[k].Mode.String()+" "+string(p[k].Data))
	}
	return strings.Join(out, "\n")
}

var testObjs = Objects{
	ConfigMaps: map[string]*corev1.ConfigMap{
		"cfg": {Data: map[string]string{"a.conf": "A", "b.conf": "B"}, BinaryData: map[string][]byte{"bin": {0, 1}}},
	},
	Secrets: map[string]*corev1.Secret{
		"sec": {Data: map[string][]byte{"user": []byte("u"), "pass": []byte("p")}},
	},
}

func TestConfigMapAndSecretPayload(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret bool
		obj    string
		items  []corev1.KeyToPath
		opt    bool
		def    fs.FileMode
		want   string
		err    string
	}{
		{name: "all keys", obj: "cfg", def: DefaultMode, want: "a.conf -rw-r--r-- A\nb.conf -rw-r--r-- B\nbin -rw-r--r-- \x00\x01"},
		{name: "items and modes", obj: "cfg", def: 0o600, items: []corev1.KeyToPath{{Key: "a.conf", Path: "conf/a"}, {Key: "b.conf", Path: "b", Mode: ptr(int32(0o400))}},
			want: "b -r-------- B\nconf/a -rw------- A"},
		{name: "missing key", obj: "cfg", def: DefaultMode, items: []corev1.KeyToPath{{Key: "nope", Path: "x"}}, err: `configmap "cfg" references non-existent key "nope"`},
		{name: "missing key optional", obj: "cfg", def: DefaultMode, opt: true, items: []corev1.KeyToPath{{Key: "nope", Path: "x"}, {Key: "a.conf", Path: "a"}}, want: "a -rw-r--r-- A"},
		{name: "missing", obj: "gone", def: DefaultMode, err: `configmap "gone" not found in namespace ns`},
		{name: "missing optional", obj: "gone", def: DefaultMode, opt: true, want: ""},
		{name: "secret", secret: true, obj: "sec", def: 0o440, want: "pass -r--r----- p\nuser -r--r----- u"},
		{name: "secret missing", secret: true, obj: "gone", def: DefaultMode, err: `secret "gone" not found in namespace ns`},
		{name: "secret item", secret: true, obj: "sec", def: DefaultMode, items: []corev1.KeyToPath{{Key: "pass", Path: "p/w"}}, want: "p/w -rw-r--r-- p"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Payload
			var err error
			if tc.secret {
				p, err = secretPayload("ns", tc.obj, tc.items, tc.opt, tc.def, testObjs)
			} else {
				p, err = configMapPayload("ns", tc.obj, tc.items, tc.opt, tc.def, testObjs)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrNotFound) {
					t.Fatalf("err = %v, want %q (ErrNotFound)", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := flat(p); got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func downwardPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", UID: "u1",
			Labels: map[string]string{"app": "web", "zone": "a"}, Annotations: map[string]string{"build": "42"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}}}}},
	}
}

func TestDownwardPayload(t *testing.T) {
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
	p, err := downwardPayload(downwardPod(), []corev1.DownwardAPIVolumeFile{
		{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
		{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}, Mode: ptr(int32(0o600))},
		{Path: "meta/name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
		{Path: "meta/ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}},
		{Path: "uid", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.uid"}},
		{Path: "app", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}},
		{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
		{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.cpu", Divisor: resource.MustParse("1m")}},
	}, DefaultMode, alloc)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"annotations -rw------- build=\"42\"",
		"app -rw-r--r-- web",
		"cpu -rw-r--r-- 2000",
		"labels -rw-r--r-- app=\"web\"\nzone=\"a\"",
		"mem -rw-r--r-- 128",
		"meta/name -rw-r--r-- web-1",
		"meta/ns -rw-r--r-- shop",
		"uid -rw-r--r-- u1",
	}, "\n")
	if got := flat(p); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := downwardPayload(downwardPod(), []corev1.DownwardAPIVolumeFile{{Path: "x", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.bogus"}}}, DefaultMode, nil); err == nil {
		t.Error("bogus fieldPath accepted")
	}
	if _, err := downwardPayload(downwardPod(), []corev1.DownwardAPIVolumeFile{{Path: "x", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "nope", Resource: "limits.cpu"}}}, DefaultMode, nil); err == nil {
		t.Error("unknown container accepted")
	}
}

func TestProjectedPayload(t *testing.T) {
	pod := downwardPod()
	src := &corev1.ProjectedVolumeSource{DefaultMode: ptr(int32(0o640)), Sources: []corev1.VolumeProjection{
		{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
		{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: RootCAConfigMap}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
		{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
		{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "a.conf", Path: "shared"}}}},
		{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Items: []corev1.KeyToPath{{Key: "pass", Path: "shared"}}}},
		{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr(true)}},
		{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "vault-token", Audience: "vault", ExpirationSeconds: ptr(int64(7200))}},
	}}
	def := TokenSource{ServiceAccount: "default", ExpirationSeconds: 3600}
	vault := TokenSource{ServiceAccount: "default", Audience: "vault", ExpirationSeconds: 7200}
	objs := testObjs
	objs.Tokens = map[TokenSource]string{def: "T-API", vault: "T-VAULT"}
	p, warns, err := projectedPayload(pod, src, objs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := flat(p), "namespace -rw-r----- shop\nshared -rw-r----- p\ntoken -rw-r----- T-API\nvault-token -rw-r----- T-VAULT"; got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	var reasons []string
	for _, w := range warns {
		reasons = append(reasons, w.Reason)
		if strings.Contains(w.Message, "T-API") {
			t.Errorf("a warning shows the token: %s", w.Message)
		}
	}
	if !slices.Equal(reasons, []string{"RootCANotPublished"}) {
		t.Errorf("warnings %v", warns)
	}
	// With the CA published, it is projected.
	objs.ConfigMaps = map[string]*corev1.ConfigMap{RootCAConfigMap: {Data: map[string]string{"ca.crt": "PEM"}}, "cfg": testObjs.ConfigMaps["cfg"]}
	if p, warns, err = projectedPayload(pod, src, objs, nil); err != nil || string(p["ca.crt"].Data) != "PEM" || len(warns) != 0 {
		t.Errorf("ca.crt = %q, %v, warnings %v", p["ca.crt"].Data, err, warns)
	}
	// A token that could not be had fails the volume, naming the source.
	objs.Tokens = map[TokenSource]string{def: "T-API"}
	objs.TokenErrors = map[TokenSource]error{vault: fmt.Errorf("%w: forbidden", ErrTokenRequest)}
	if _, _, err := projectedPayload(pod, src, objs, nil); !errors.Is(err, ErrTokenRequest) || !strings.Contains(err.Error(), `"vault-token"`) {
		t.Errorf("failed token source: %v", err)
	}
	// So does one never asked for.
	objs.TokenErrors = nil
	if _, _, err := projectedPayload(pod, src, objs, nil); !errors.Is(err, ErrTokenRequest) {
		t.Errorf("token never requested: %v", err)
	}
	// A missing, non-optional secret source fails the volume.
	objs.Tokens[vault] = "T-VAULT"
	src.Sources = append(src.Sources, corev1.VolumeProjection{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}})
	if _, _, err := projectedPayload(pod, src, objs, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing secret source: %v", err)
	}
}

func TestValidatePayload(t *testing.T) {
	for _, tc := range []struct {
		paths []string
		ok    bool
	}{
		{[]string{"a", "b/c", "d.e"}, true},
		{[]string{".hidden", "x/.y"}, true},
		{[]string{""}, false},
		{[]string{"/abs"}, false},
		{[]string{"a/../b"}, false},
		{[]string{".."}, false},
		{[]string{"..data"}, false},
		{[]string{"x/..y"}, false},
		{[]string{"a//b"}, false},
		{[]string{"a/"}, false},
		{[]string{"./a"}, false},
		{[]string{"a", "a/b"}, false},
	} {
		p := Payload{}
		for _, k := range tc.paths {
			p[k] = File{}
		}
		if err := ValidatePayload(p); (err == nil) != tc.ok {
			t.Errorf("%v: err = %v, want ok %v", tc.paths, err, tc.ok)
		}
	}
}

func resourceMust(s string) resource.Quantity { return resource.MustParse(s) }
