package node

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestParseLabels(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    map[string]string
		wantErr string
	}{
		{in: nil, want: map[string]string{}},
		{in: []string{"disktype=ssd"}, want: map[string]string{"disktype": "ssd"}},
		{in: []string{"a=1,b=2", " c = 3 "}, want: map[string]string{"a": "1", "b": "2", "c": "3"}},
		{in: []string{"a=1", "a=2"}, want: map[string]string{"a": "2"}},
		{in: []string{"example.com/zone="}, want: map[string]string{"example.com/zone": ""}},
		{in: []string{"nolabel"}, wantErr: `node label "nolabel": want KEY=VALUE`},
		{in: []string{"bad key=1"}, wantErr: `node label key "bad key"`},
		{in: []string{"k=bad value!"}, wantErr: `node label k value "bad value!"`},
		{in: []string{"x", "y"}, wantErr: `node label "y"`},
	} {
		got, err := ParseLabels(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseLabels(%q) error = %v, want one containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseLabels(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseTaints(t *testing.T) {
	ns, nx, pns := corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute, corev1.TaintEffectPreferNoSchedule
	for _, tc := range []struct {
		in      []string
		want    []corev1.Taint
		wantErr string
	}{
		{in: nil, want: nil},
		{in: []string{"dedicated=gpu:NoSchedule"}, want: []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: ns}}},
		{in: []string{"node-role.kubernetes.io/control-plane:NoSchedule"}, want: []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: ns}}},
		{in: []string{"a=1:NoExecute,b:PreferNoSchedule"}, want: []corev1.Taint{{Key: "a", Value: "1", Effect: nx}, {Key: "b", Effect: pns}}},
		{in: []string{"a=1:NoSchedule", "b=2:NoSchedule", "a=3:NoSchedule"}, want: []corev1.Taint{{Key: "a", Value: "3", Effect: ns}, {Key: "b", Value: "2", Effect: ns}}},
		{in: []string{"a=1:NoSchedule", "a=1:NoExecute"}, want: []corev1.Taint{{Key: "a", Value: "1", Effect: ns}, {Key: "a", Value: "1", Effect: nx}}},
		{in: []string{"dedicated=gpu"}, wantErr: `node taint "dedicated=gpu": no effect; want KEY[=VALUE]:EFFECT`},
		{in: []string{"a=1:noschedule"}, wantErr: `effect "noschedule" unknown`},
		{in: []string{"a=1:"}, wantErr: `effect "" unknown`},
		{in: []string{"=1:NoSchedule"}, wantErr: `key ""`},
		{in: []string{"a=b c:NoSchedule"}, wantErr: `value "b c"`},
	} {
		got, err := ParseTaints(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseTaints(%q) error = %v, want one containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseTaints(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
