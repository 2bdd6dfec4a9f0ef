package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

func TestClassifyProc(t *testing.T) {
	const dir = "/tmp/kbp-1"
	for _, tc := range []struct {
		name string
		pid  int
		argv []string
		want procKind
	}{
		{"agent by pid", 10, []string{"/usr/bin/kelson", "agent"}, kindAgent},
		{"server by pid", 11, []string{"/usr/bin/kelson", "server"}, kindServer},
		{"shim of our containerd", 20, []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "kelson", "-id", "abc", "-address", dir + "/a/containerd/containerd.sock"}, kindShim},
		{"shim of another containerd", 21, []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "kelson", "-id", "abc", "-address", "/tmp/kbp-10/a/containerd/containerd.sock"}, ""},
		{"our containerd", 22, []string{"containerd", "--config", dir + "/a/containerd/config.toml"}, kindContainerd},
		{"system containerd", 23, []string{"/usr/bin/containerd"}, ""},
		{"log driver", 24, []string{"/usr/local/bin/kelson", "container-log-driver", dir + "/a/logs/ns_pod_uid/httpd/0.log"}, kindLogDriver},
		{"log driver of another run", 25, []string{"/usr/local/bin/kelson", "container-log-driver", "/var/lib/kelson/logs/x/0.log"}, ""},
		{"a container's process naming the dir", 26, []string{"httpd", "-h", dir}, ""},
		{"the dir only as a prefix of another", 27, []string{"containerd", "--config", dir + "0/config.toml"}, ""},
		{"no argv (a kernel thread)", 28, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyProc(tc.pid, tc.argv, dir, 10, 11); got != tc.want {
				t.Fatalf("classifyProc(%d, %q) = %q, want %q", tc.pid, tc.argv, got, tc.want)
			}
		})
	}
}

func TestParseSmapsRollup(t *testing.T) {
	const rollup = `55d0c0a00000-7ffd1e5fe000 ---p 00000000 00:00 0                          [rollup]
Rss:               12345 kB
Pss:                5000 kB
Pss_Anon:           3000 kB
Shared_Clean:       7000 kB
Shared_Dirty:        100 kB
Private_Clean:      1000 kB
Private_Dirty:      2000 kB
Referenced:        12345 kB
Swap:                  0 kB
`
	pss, private, err := parseSmapsRollup(rollup)
	if err != nil || pss != 5000<<10 || private != 3000<<10 {
		t.Fatalf("parseSmapsRollup = %d, %d, %v; want %d, %d", pss, private, err, 5000<<10, 3000<<10)
	}
	if _, _, err := parseSmapsRollup("Rss: 1 kB\n"); err == nil {
		t.Fatal("no Pss line: want an error")
	}
	if _, _, err := parseSmapsRollup("Pss: lots kB\n"); err == nil {
		t.Fatal("a size that is not a number: want an error")
	}
	if got := statusKB("Name:\tkelson\nVmRSS:\t  2048 kB\nRssAnon:\t  1024 kB\n", "RssAnon"); got != 1024<<10 {
		t.Fatalf("statusKB(RssAnon) = %d, want %d", got, 1024<<10)
	}
	if got := statusKB("VmRSS:\t 2048 kB\n", "RssAnon"); got != 0 {
		t.Fatalf("statusKB of a missing field = %d, want 0", got)
	}
}

func TestPodsConfigDefaults(t *testing.T) {
	c, err := PodsConfig{Binary: "/bin/true"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Pods != 20 || c.Burst != 30 || c.ServiceRounds != 10 || c.Clients != 30 || c.WorkDir != "/tmp" {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = PodsConfig{Binary: "/bin/true", Pods: -1, ServiceRounds: -1}.withDefaults()
	if err != nil || c.Pods != 0 || c.ServiceRounds != 0 || c.Burst != 30 {
		t.Fatalf("negative counts mean none: %+v, %v", c, err)
	}
	if _, err := (PodsConfig{Binary: "/bin/true", Pods: -1, Burst: -1, ServiceRounds: -1}).withDefaults(); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("nothing to measure: %v, want ErrBadConfig", err)
	}
}

func TestPodEventsWait(t *testing.T) {
	ev := newPodEvents()
	t0 := time.Unix(1000, 0)
	pod := func(phase corev1.PodPhase, ready bool, waiting string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: corev1.PodSpec{NodeName: "n"}, Status: corev1.PodStatus{Phase: phase, PodIP: "10.42.0.5"}}
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
		if waiting != "" {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "httpd", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting}}}}
		}
		return p
	}
	ev.onPod(watch.Added, pod(corev1.PodPending, false, "ContainerCreating"), t0)
	ev.onPod(watch.Modified, pod(corev1.PodRunning, false, ""), t0.Add(time.Second))
	ev.onPod(watch.Modified, pod(corev1.PodRunning, true, ""), t0.Add(2*time.Second))
	ev.onPod(watch.Modified, pod(corev1.PodRunning, true, ""), t0.Add(3*time.Second)) // no change: first times stay
	if err := ev.waitReady(context.Background(), time.Second, "a"); err != nil {
		t.Fatal(err)
	}
	run, rdy, gone, ip := ev.times("a")
	if !run.Equal(t0.Add(time.Second)) || !rdy.Equal(t0.Add(2*time.Second)) || !gone.IsZero() || ip != "10.42.0.5" || !ev.boundAt("a").Equal(t0) {
		t.Fatalf("times: running %v ready %v gone %v ip %q bound %v", run, rdy, gone, ip, ev.boundAt("a"))
	}
	ev.onPod(watch.Deleted, pod(corev1.PodRunning, true, ""), t0.Add(4*time.Second))
	if err := ev.waitGone(context.Background(), time.Second, "a"); err != nil {
		t.Fatal(err)
	}

	// A pod that cannot start ends the wait with the reason, not a timeout.
	bad := pod(corev1.PodPending, false, "ErrImageNeverPull")
	bad.Name = "b"
	ev.onPod(watch.Added, bad, t0)
	err := ev.waitReady(context.Background(), time.Minute, "b")
	if err == nil || !strings.Contains(err.Error(), "ErrImageNeverPull") {
		t.Fatalf("waitReady of a pod that cannot start: %v", err)
	}
	if err := ev.waitReady(context.Background(), 10*time.Millisecond, "c"); err == nil || !strings.Contains(err.Error(), "not within") {
		t.Fatalf("waitReady of a pod never seen: %v, want a timeout", err)
	}

	// Slices: the first time an address is seen ready.
	f := false
	ev.onSlice(watch.Added, &discoveryv1.EndpointSlice{Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.42.0.7"}, Conditions: discoveryv1.EndpointConditions{Ready: &f}}}}, t0)
	if !ev.sliceTime("10.42.0.7").IsZero() {
		t.Fatal("a not-ready endpoint counted as ready")
	}
	ev.onSlice(watch.Modified, &discoveryv1.EndpointSlice{Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.42.0.7"}}}}, t0.Add(time.Second))
	ev.onSlice(watch.Modified, &discoveryv1.EndpointSlice{Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.42.0.7"}}}}, t0.Add(2*time.Second))
	if got := ev.sliceTime("10.42.0.7"); !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("slice time %v, want the first ready sighting %v", got, t0.Add(time.Second))
	}
}

func TestHTTPPoller(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/name.html" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "svc-3")
	}))
	defer srv.Close()
	var d net.Dialer
	p := &httpPoller{dial: d.DialContext, addr: srv.Listener.Addr().String(), timeout: 5 * time.Second}
	if body, err := p.get(context.Background()); err != nil || body != "svc-3" {
		t.Fatalf("get = %q, %v; want svc-3", body, err)
	}
	srv.Close()
	if _, err := p.get(context.Background()); err == nil {
		t.Fatal("get from a closed server: want an error")
	}
}
