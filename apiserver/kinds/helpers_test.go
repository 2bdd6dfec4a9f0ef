package kinds

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type corev1ContainerPort = corev1.ContainerPort

func intstrFromInt(n int) intstr.IntOrString { return intstr.FromInt32(int32(n)) }

func TestHumanAge(t *testing.T) {
	cases := []struct {
		d    time.Duration
		want string
	}{
		{-5 * time.Second, "<invalid>"},
		{-time.Second, "0s"},
		{0, "0s"},
		{45 * time.Second, "45s"},
		{119 * time.Second, "119s"},
		{2 * time.Minute, "2m"},
		{5*time.Minute + 30*time.Second, "5m30s"},
		{10 * time.Minute, "10m"},
		{179 * time.Minute, "179m"},
		{3 * time.Hour, "3h"},
		{3*time.Hour + 20*time.Minute, "3h20m"},
		{8 * time.Hour, "8h"},
		{47 * time.Hour, "47h"},
		{51 * time.Hour, "2d3h"},
		{72 * time.Hour, "3d"},
		{10 * 24 * time.Hour, "10d"},
		{400 * 24 * time.Hour, "400d"},
		{3 * 365 * 24 * time.Hour, "3y"},
		{(3*365 + 10) * 24 * time.Hour, "3y10d"},
		{9 * 365 * 24 * time.Hour, "9y"},
	}
	for _, c := range cases {
		if got := humanAge(c.d); got != c.want {
			t.Errorf("humanAge(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestImageTag(t *testing.T) {
	for image, want := range map[string]string{
		"httpd":                        "latest",
		"httpd:2.4":                    "2.4",
		"httpd:latest":                 "latest",
		"localhost:5000/httpd":         "latest",
		"localhost:5000/httpd:1":       "1",
		"httpd@sha256:abcd":            "",
		"registry.io/a/b:v2@sha256:ab": "v2",
	} {
		if got := imageTag(image); got != want {
			t.Errorf("imageTag(%q) = %q, want %q", image, got, want)
		}
	}
}

type corev1PVCAccessMode = corev1.PersistentVolumeAccessMode

func intstrFromString(s string) intstr.IntOrString { return intstr.FromString(s) }
