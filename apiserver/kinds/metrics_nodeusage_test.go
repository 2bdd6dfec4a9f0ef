package kinds

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	usagev1alpha1 "github.com/kelson-dev/kelson/api/metrics/v1alpha1"
	"k8s.io/apimachinery/pkg/api/resource"
)

const validNodeUsage = `
apiVersion: metrics.kelson.dev/v1alpha1
kind: NodeUsage
metadata: {name: node-1}
timestamp: "2025-06-01T10:00:00Z"
window: 15s
usage: {cpu: 1250m, memory: 3Gi}
pods:
- namespace: default
  name: web-7d4b9
  containers:
  - {name: httpd, usage: {cpu: 250m, memory: 64Mi}}
  - {name: sidecar, usage: {cpu: "0", memory: 0}}
`

func TestNodeUsageValidate(t *testing.T) {
	k := kindByName(t, "NodeUsage")
	for _, tc := range []struct {
		name   string
		mutate func(u *usagev1alpha1.NodeUsage)
		want   []string
	}{
		{name: "valid", mutate: func(*usagev1alpha1.NodeUsage) {}},
		{name: "no pods, no node usage", mutate: func(u *usagev1alpha1.NodeUsage) { u.Pods, u.Usage = nil, nil }},
		{name: "no timestamp", mutate: func(u *usagev1alpha1.NodeUsage) { u.Timestamp.Time = time.Time{} },
			want: []string{"timestamp: Required value: the end of the sampling window"}},
		{name: "zero window", mutate: func(u *usagev1alpha1.NodeUsage) { u.Window.Duration = 0 },
			want: []string{`window: Invalid value: "0s": must be greater than 0`}},
		{name: "negative window", mutate: func(u *usagev1alpha1.NodeUsage) { u.Window.Duration = -time.Second },
			want: []string{`window: Invalid value: "-1s": must be greater than 0`}},
		{name: "negative node cpu", mutate: func(u *usagev1alpha1.NodeUsage) { u.Usage["cpu"] = mustQ("-1") },
			want: []string{`usage[cpu]: Invalid value: "-1": must be greater than or equal to 0`}},
		{name: "other resource", mutate: func(u *usagev1alpha1.NodeUsage) { u.Usage["nvidia.com/gpu"] = mustQ("1") },
			want: []string{`usage[nvidia.com/gpu]: Unsupported value: "nvidia.com/gpu": supported values: "cpu", "memory"`}},
		{name: "negative container memory", mutate: func(u *usagev1alpha1.NodeUsage) { u.Pods[0].Containers[0].Usage["memory"] = mustQ("-1Mi") },
			want: []string{`pods[0].containers[0].usage[memory]: Invalid value: "-1Mi": must be greater than or equal to 0`}},
		{name: "pod without namespace and name", mutate: func(u *usagev1alpha1.NodeUsage) { u.Pods[0].Namespace, u.Pods[0].Name = "", "" },
			want: []string{"pods[0].namespace: Required value", "pods[0].name: Required value"}},
		{name: "bad pod names", mutate: func(u *usagev1alpha1.NodeUsage) { u.Pods[0].Namespace, u.Pods[0].Name = "Shop", "web_1" },
			want: []string{`pods[0].namespace: Invalid value: "Shop": a lowercase RFC 1123 label`, `pods[0].name: Invalid value: "web_1": a lowercase RFC 1123 subdomain`}},
		{name: "duplicate pod", mutate: func(u *usagev1alpha1.NodeUsage) { u.Pods = append(u.Pods, u.Pods[0]) },
			want: []string{`pods[1]: Duplicate value: "default/web-7d4b9"`}},
		{name: "pod without containers", mutate: func(u *usagev1alpha1.NodeUsage) { u.Pods[0].Containers = nil },
			want: []string{"pods[0].containers: Required value: must have at least one container"}},
		{name: "duplicate and unnamed containers", mutate: func(u *usagev1alpha1.NodeUsage) {
			u.Pods[0].Containers[1].Name = "httpd"
			u.Pods[0].Containers = append(u.Pods[0].Containers, usagev1alpha1.ContainerUsage{})
		}, want: []string{`pods[0].containers[1].name: Duplicate value: "httpd"`, "pods[0].containers[2].name: Required value"}},
		{name: "too many pods", mutate: func(u *usagev1alpha1.NodeUsage) {
			p := u.Pods[0]
			u.Pods = nil
			for i := 0; i <= usagev1alpha1.MaxPods; i++ {
				p.Name = fmt.Sprintf("p-%d", i)
				u.Pods = append(u.Pods, p)
			}
		}, want: []string{"pods: Too many: 501: must have at most 500 items"}},
		{name: "as many pods as allowed", mutate: func(u *usagev1alpha1.NodeUsage) {
			p := u.Pods[0]
			u.Pods = nil
			for i := 0; i < usagev1alpha1.MaxPods; i++ {
				p.Name = fmt.Sprintf("p-%d", i)
				u.Pods = append(u.Pods, p)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := decode(t, k, validNodeUsage).(*usagev1alpha1.NodeUsage)
			tc.mutate(u)
			got := errStrings(k.Validate(u))
			if len(got) != len(tc.want) {
				t.Fatalf("errors %q, want %q", got, tc.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("error %q, want prefix %q", got[i], tc.want[i])
				}
			}
		})
	}
}

func TestNodeUsageCellsAndDeepCopy(t *testing.T) {
	k := kindByName(t, "NodeUsage")
	u := decode(t, k, validNodeUsage).(*usagev1alpha1.NodeUsage)
	cells := nodeUsageCells(u, u.Timestamp.Add(90*time.Second))
	want := []interface{}{"node-1", "1250m", "3Gi", int64(1), "15s", "90s"}
	if !reflect.DeepEqual(cells, want) {
		t.Errorf("cells %v, want %v", cells, want)
	}
	c := u.DeepCopy()
	if !reflect.DeepEqual(c, u) {
		t.Fatalf("deep copy differs")
	}
	c.Pods[0].Containers[0].Usage["cpu"] = mustQ("9")
	c.Usage["cpu"] = mustQ("9")
	if q := u.Pods[0].Containers[0].Usage["cpu"]; q.String() != "250m" {
		t.Errorf("deep copy shares container usage")
	}
	if q := u.Usage["cpu"]; q.String() != "1250m" {
		t.Errorf("deep copy shares node usage")
	}
}

func mustQ(s string) resource.Quantity { return resource.MustParse(s) }
