package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testcluster"
	"github.com/kelson-dev/kelson/internal/testimage"
	"github.com/kelson-dev/kelson/internal/testnet"
)

// The node agent end to end beyond the walkthrough (issue 11): two nodes
// joined by `kelson agent`, an agent restart that keeps its pods, a
// killed container restarted, a rolling update under a client loop and
// `kubectl logs -f`. Every node runs in a network namespace the test
// made; every address the test sends to is checked to be routed inside
// those namespaces first (testnet.Dial, and the pods' own namespaces,
// which reach only the node's bridge).

// The two-node test's LAN: one L2 segment (a veth pair) between the node
// namespaces, as host-gw needs.
const (
	nodeAIP = "192.168.201.2"
	nodeBIP = "192.168.201.3"
)

// e2eDir is a short temp dir (containerd's socket path lives below it),
// removed at cleanup with whatever is still mounted below it.
func e2eDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "kae-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testnet.UnmountUnder(dir); os.RemoveAll(dir) })
	return dir
}

// killAtCleanup kills, at cleanup, what runs in the network namespaces of
// the pods of the agent whose state is agentDir (pods outlive their
// agent by design) and in the node's namespace (the agent, containerd,
// its shims). Registered after the dir and namespace, it runs before
// they are removed.
func killAtCleanup(t *testing.T, agentDir string, ns *testnet.NS) {
	t.Cleanup(func() {
		pods, _ := filepath.Glob(filepath.Join(agentDir, "net", "netns", "*"))
		testnet.KillNetNS(pods...)
		testnet.KillNetNS(ns.Path())
	})
}

// noUpstreamResolv writes a resolv.conf without nameservers: cluster DNS
// forwards nothing out of the test's namespaces.
func noUpstreamResolv(t *testing.T, dir string) string {
	t.Helper()
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("search example.invalid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return resolv
}

// importTestImages imports the httpd and busybox test images into the
// containerd at sock (an agent's), waiting for it to serve.
func importTestImages(t *testing.T, bin, dir, sock string) {
	t.Helper()
	archive := filepath.Join(dir, "images.tar")
	if _, err := os.Stat(archive); err != nil {
		if err := testimage.WriteFile(archive, testimage.Options{}, testimage.HTTPD(), testimage.Busybox()); err != nil {
			t.Fatal(err)
		}
	}
	testcluster.Eventually(t, 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "images", "import", "--containerd-address", sock, archive).CombinedOutput()
		if err != nil {
			return fmt.Errorf("kelson images import into %s: %v: %s", sock, err, out)
		}
		return nil
	})
}

// startAgentIn starts `kelson agent` inside ns with args.
func startAgentIn(t *testing.T, bin string, ns *testnet.NS, what string, args ...string) *proc {
	t.Helper()
	cmd := ns.Command(context.Background(), bin, append([]string{"agent", "--log-format", "text"}, args...)...)
	return startCmd(t, cmd, what)
}

// waitNodeReady waits for the Node's Ready condition to be True.
func (s *nodeServer) waitNodeReady(t *testing.T, name string) {
	t.Helper()
	testcluster.Eventually(t, 90*time.Second, func() error {
		out, err := s.kubectl(t, "", "get", "node", name, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}")
		if err != nil || out != "True" {
			return fmt.Errorf("node %s Ready=%q: %v", name, out, err)
		}
		return nil
	})
}

// waitPodsReady waits for the pods' Ready condition (within the kubectl
// helper's 60 s), and shows their state and the events when they do not
// get there.
func (s *nodeServer) waitPodsReady(t *testing.T, names ...string) {
	t.Helper()
	args := []string{"wait", "--for=condition=Ready", "--timeout=55s"}
	for _, n := range names {
		args = append(args, "pod/"+n)
	}
	if out, err := s.kubectl(t, "", args...); err != nil {
		pods, _ := s.kubectl(t, "", "get", "pods", "-o", "wide")
		events, _ := s.kubectl(t, "", "get", "events")
		t.Fatalf("%v\n%s\npods:\n%s\nevents:\n%s", err, out, pods, events)
	}
}

// rolloutStatus waits for a rollout to complete, and shows the pods and
// the events when it does not.
func (s *nodeServer) rolloutStatus(t *testing.T, what string) {
	t.Helper()
	if out, err := s.kubectl(t, "", "rollout", "status", what, "--timeout=55s"); err != nil {
		pods, _ := s.kubectl(t, "", "get", "pods", "-o", "yaml")
		events, _ := s.kubectl(t, "", "get", "events")
		t.Fatalf("%v\n%s\npods:\n%s\nevents:\n%s", err, out, pods, events)
	}
}

// podField is a pod's field by jsonpath.
func (s *nodeServer) podField(t *testing.T, pod, jsonpath string) string {
	t.Helper()
	return strings.TrimSpace(s.mustKubectl(t, "", "get", "pod", pod, "-o", "jsonpath="+jsonpath))
}

// TestTwoNodes: a server with its agent in node namespace A, and
// `kelson agent` joining it from node namespace B with the token, both on
// one LAN segment. Pods pinned to each node reach each other by pod IP
// (host-gw routes), and a pod on A reaches a Service whose only endpoint
// is on B by ClusterIP and by DNS name.
func TestTwoNodes(t *testing.T) {
	if why := agentNeeds(); why != "" {
		t.Skip(why)
	}
	bin := kelsonBin(t)
	dir := e2eDir(t)
	resolv := noUpstreamResolv(t, dir)
	nsA, nsB := testnet.New(t, "n2a"), testnet.New(t, "n2b")
	testnet.Link(t, nsA, nsB, nodeAIP+"/24", nodeBIP+"/24")
	// Node-sent traffic to ClusterIPs needs a route before the proxy's
	// DNAT: towards the other node, inside the test's namespaces.
	nsA.MustIP(t, "route", "add", "10.43.0.0/16", "via", nodeBIP)
	nsB.MustIP(t, "route", "add", "10.43.0.0/16", "via", nodeAIP)

	dataA, dataB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	killAtCleanup(t, filepath.Join(dataA, "agent"), nsA)
	killAtCleanup(t, dataB, nsB)

	a := &nodeServer{ns: nsA, dataDir: dataA}
	a.p = startCmd(t, nsA.Command(context.Background(), bin, "server", "--data-dir", dataA, "--node-name", "node-a",
		"--node-ip", nodeAIP, "--bind-address", "0.0.0.0", "--tls-san", nodeAIP, "--resolv-conf", resolv,
		"--log-format", "text"), "server in "+nsA.Name)
	a.kc = a.p.waitKubeconfig(t)
	token, err := os.ReadFile(filepath.Join(dataA, "token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := nsB.RouteLocal(nodeAIP); err != nil {
		t.Fatal(err)
	}
	startAgentIn(t, bin, nsB, "agent in "+nsB.Name, "--server", "https://"+nodeAIP+":6443",
		"--token", strings.TrimSpace(string(token)), "--node-name", "node-b", "--node-ip", nodeBIP,
		"--data-dir", dataB, "--resolv-conf", resolv)

	importTestImages(t, bin, dir, filepath.Join(dataA, "agent", "containerd", "containerd.sock"))
	importTestImages(t, bin, dir, filepath.Join(dataB, "containerd", "containerd.sock"))
	a.waitNodeReady(t, "node-a")
	a.waitNodeReady(t, "node-b")

	a.mustKubectl(t, `apiVersion: v1
kind: Pod
metadata:
  name: web-a
spec:
  nodeName: node-a
  containers:
  - name: httpd
    image: httpd
---
apiVersion: v1
kind: Pod
metadata:
  name: client-a
spec:
  nodeName: node-a
  terminationGracePeriodSeconds: 1
  containers:
  - name: sh
    image: busybox
    command: [sleep, "3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: web-b
  labels:
    app: web-b
spec:
  nodeSelector:
    kubernetes.io/hostname: node-b
  containers:
  - name: httpd
    image: httpd
---
apiVersion: v1
kind: Service
metadata:
  name: web-b
spec:
  selector:
    app: web-b
  ports:
  - name: http
    port: 8080
    targetPort: 80
`, "apply", "-f", "-")
	a.waitPodsReady(t, "web-a", "client-a", "web-b")
	if n := a.podField(t, "web-b", "{.spec.nodeName}"); n != "node-b" {
		t.Fatalf("web-b runs on %q, want node-b (its nodeSelector)", n)
	}
	ipA, ipB := a.podField(t, "web-a", "{.status.podIP}"), a.podField(t, "web-b", "{.status.podIP}")
	cidrA := strings.TrimSpace(a.mustKubectl(t, "", "get", "node", "node-a", "-o", "jsonpath={.spec.podCIDR}"))
	cidrB := strings.TrimSpace(a.mustKubectl(t, "", "get", "node", "node-b", "-o", "jsonpath={.spec.podCIDR}"))
	t.Logf("node-a pod CIDR %s (web-a %s), node-b pod CIDR %s (web-b %s)", cidrA, ipA, cidrB, ipB)
	if cidrA == cidrB || cidrA == "" {
		t.Fatalf("pod CIDRs node-a %q node-b %q: want two distinct ranges", cidrA, cidrB)
	}

	// Node to the other node's pod, through the host-gw route (Dial checks
	// that route exists in the node's namespace first).
	testcluster.Eventually(t, 30*time.Second, func() error {
		if body, err := a.get(ipB+":80", "/"); err != nil || !strings.Contains(body, "It works!") {
			return fmt.Errorf("from node-a's namespace, web-b (%s) answered %q, %v", ipB, body, err)
		}
		b := &nodeServer{ns: nsB}
		if body, err := b.get(ipA+":80", "/"); err != nil || !strings.Contains(body, "It works!") {
			return fmt.Errorf("from node-b's namespace, web-a (%s) answered %q, %v", ipA, body, err)
		}
		return nil
	})
	// Pod to pod across nodes, both ways (each pod's only route is its
	// node's bridge; the nodes' routes were checked above). kubectl exec
	// into web-b also goes through the API to node-b's agent port.
	wget := func(pod, url string) error {
		out, err := a.kubectl(t, "", "exec", pod, "--", "wget", "-q", "-O-", url) // (busybox 1.35's wget -T crashes)
		if err != nil || !strings.Contains(out, "It works!") {
			return fmt.Errorf("wget %s in %s: %q, %v", url, pod, out, err)
		}
		return nil
	}
	testcluster.Eventually(t, 30*time.Second, func() error {
		if err := wget("client-a", "http://"+ipB+"/"); err != nil {
			return err
		}
		return wget("web-b", "http://"+ipA+"/")
	})

	// The Service whose only endpoint is on node-b, from a pod on node-a:
	// by ClusterIP, then by name through node-a's cluster DNS.
	clusterIP := strings.TrimSpace(a.mustKubectl(t, "", "get", "service", "web-b", "-o", "jsonpath={.spec.clusterIP}"))
	testcluster.Eventually(t, 30*time.Second, func() error {
		return wget("client-a", "http://"+clusterIP+":8080/")
	})
	out := a.mustKubectl(t, "", "exec", "client-a", "--", "nslookup", "web-b.default.svc.cluster.local")
	if !strings.Contains(out, clusterIP) {
		t.Fatalf("nslookup web-b from client-a:\n%s\nwant %s", out, clusterIP)
	}
	testcluster.Eventually(t, 30*time.Second, func() error {
		return wget("client-a", "http://web-b.default.svc.cluster.local:8080/")
	})
	// And from node-a's namespace by ClusterIP.
	if body, err := a.get(clusterIP+":8080", "/"); err != nil || !strings.Contains(body, "It works!") {
		t.Fatalf("from node-a's namespace, ClusterIP %s:8080 answered %q, %v", clusterIP, body, err)
	}
	// Logs of a pod on node-b, through the API and node-b's agent.
	if _, err := a.kubectl(t, "", "logs", "web-b"); err != nil {
		t.Fatal(err)
	}
}

// serverInNode starts `kelson server --disable-agent` in a node
// namespace (name) linked to a LAN namespace, with the service CIDR routed
// through the LAN; it returns the server, the data dir for an agent in
// that namespace (its processes killed at cleanup) and a resolv.conf with
// no upstream.
func serverInNode(t *testing.T, bin, name string) (s *nodeServer, agentData, resolv string) {
	t.Helper()
	dir := e2eDir(t)
	resolv = noUpstreamResolv(t, dir)
	ns := testnet.New(t, name)
	lan := testnet.New(t, name+"lan")
	testnet.Link(t, ns, lan, e2eNodeIP+"/24", "192.168.200.1/24")
	ns.MustIP(t, "route", "add", "10.43.0.0/16", "via", "192.168.200.1")
	data := filepath.Join(dir, "s")
	agentData = filepath.Join(dir, "a")
	killAtCleanup(t, agentData, ns)
	s = &nodeServer{ns: ns, dataDir: data}
	s.p = startCmd(t, ns.Command(context.Background(), bin, "server", "--data-dir", data, "--disable-agent",
		"--log-format", "text"), "server in "+ns.Name)
	s.kc = s.p.waitKubeconfig(t)
	return s, agentData, resolv
}

// TestAgentRestartKeepsPods: a server without an agent and a `kelson
// agent` in the same node namespace; the agent is stopped (SIGTERM) and
// started again over the same data dir. The running pod's container is
// adopted, not restarted (same container, start time, restart count 0,
// IP), and answers throughout; what changed while the agent was down (a
// pod deleted, a pod created) is carried out after the restart.
func TestAgentRestartKeepsPods(t *testing.T) {
	if why := agentNeeds(); why != "" {
		t.Skip(why)
	}
	bin := kelsonBin(t)
	s, agentData, resolv := serverInNode(t, bin, "rst")
	ns, data := s.ns, s.dataDir
	dir := filepath.Dir(agentData) // the test's directory
	token, err := os.ReadFile(filepath.Join(data, "token"))
	if err != nil {
		t.Fatal(err)
	}
	agentArgs := []string{"--server", "https://127.0.0.1:6443", "--token", strings.TrimSpace(string(token)),
		"--node-name", "node-a", "--node-ip", e2eNodeIP, "--data-dir", agentData, "--resolv-conf", resolv}
	agent := startAgentIn(t, bin, ns, "agent (first) in "+ns.Name, agentArgs...)
	importTestImages(t, bin, dir, filepath.Join(agentData, "containerd", "containerd.sock"))
	s.waitNodeReady(t, "node-a")

	s.mustKubectl(t, `apiVersion: v1
kind: Pod
metadata:
  name: keep
spec:
  containers:
  - name: httpd
    image: httpd
---
apiVersion: v1
kind: Pod
metadata:
  name: doomed
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: httpd
    image: httpd
`, "apply", "-f", "-")
	s.waitPodsReady(t, "keep", "doomed")
	const state = "{.status.podIP} {.status.containerStatuses[0].containerID} {.status.containerStatuses[0].state.running.startedAt} {.status.containerStatuses[0].restartCount}"
	before := s.podField(t, "keep", state)
	if f := strings.Fields(before); len(f) != 4 || f[3] != "0" {
		t.Fatalf("keep's IP, container, startedAt, restartCount: %q", before)
	}
	ip := strings.Fields(before)[0]
	doomedUID := s.podField(t, "doomed", "{.metadata.uid}")
	doomedNS := filepath.Join(agentData, "net", "netns", doomedUID)
	if _, err := os.Stat(doomedNS); err != nil {
		t.Fatalf("doomed's network namespace file: %v", err)
	}
	if body, err := s.get(ip+":80", "/"); err != nil || !strings.Contains(body, "It works!") {
		t.Fatalf("keep (%s) answered %q, %v", ip, body, err)
	}

	agent.stop(t)
	// The pod outlives its agent.
	if body, err := s.get(ip+":80", "/"); err != nil || !strings.Contains(body, "It works!") {
		t.Fatalf("with the agent stopped, keep (%s) answered %q, %v", ip, body, err)
	}
	s.mustKubectl(t, "", "delete", "pod", "doomed", "--wait=false")
	s.mustKubectl(t, `apiVersion: v1
kind: Pod
metadata:
  name: newbie
spec:
  nodeName: node-a
  containers:
  - name: httpd
    image: httpd
`, "apply", "-f", "-")

	startAgentIn(t, bin, ns, "agent (second) in "+ns.Name, agentArgs...)
	s.waitPodsReady(t, "newbie")
	testcluster.Eventually(t, 60*time.Second, func() error {
		out, err := s.kubectl(t, "", "get", "pod", "doomed")
		if err == nil {
			return fmt.Errorf("pod doomed still exists after the agent's restart:\n%s", out)
		}
		if !strings.Contains(out, "NotFound") {
			return err
		}
		if _, err := os.Stat(doomedNS); err == nil {
			return fmt.Errorf("doomed's network namespace %s is still there", doomedNS)
		}
		return nil
	})
	s.waitPodsReady(t, "keep")
	after := s.podField(t, "keep", state)
	t.Logf("keep before the restart: %s; after: %s", before, after)
	if after != before {
		t.Fatalf("keep after the agent's restart: %q, before: %q (IP, container, startedAt, restartCount): want the same", after, before)
	}
	if body, err := s.get(ip+":80", "/"); err != nil || !strings.Contains(body, "It works!") {
		t.Fatalf("after the agent's restart, keep (%s) answered %q, %v", ip, body, err)
	}
	newIP := s.podField(t, "newbie", "{.status.podIP}")
	if newIP == ip {
		t.Fatalf("newbie got keep's IP %s", ip)
	}
	if body, err := s.get(newIP+":80", "/"); err != nil || !strings.Contains(body, "It works!") {
		t.Fatalf("newbie (%s) answered %q, %v", newIP, body, err)
	}
}

// TestKilledContainerRestarts: the processes of a pod's container are
// killed from outside (SIGKILL to every process in the pod's network
// namespace); the agent restarts the container (restartCount 1, last
// state terminated by signal 9) and the pod answers again on its IP.
func TestKilledContainerRestarts(t *testing.T) {
	s := startNodeServer(t)
	s.waitNodeReady(t, "node-a")
	s.mustKubectl(t, `apiVersion: v1
kind: Pod
metadata:
  name: victim
spec:
  containers:
  - name: httpd
    image: httpd
    readinessProbe:
      httpGet:
        path: /
        port: 80
      periodSeconds: 1
`, "apply", "-f", "-")
	s.waitPodsReady(t, "victim")
	ip := s.podField(t, "victim", "{.status.podIP}")
	uid := s.podField(t, "victim", "{.metadata.uid}")
	if body, err := s.get(ip+":80", "/"); err != nil || !strings.Contains(body, "It works!") {
		t.Fatalf("victim (%s) answered %q, %v", ip, body, err)
	}
	if n := testnet.KillNetNS(filepath.Join(s.dataDir, "agent", "net", "netns", uid)); n == 0 {
		t.Fatal("no process runs in victim's network namespace")
	}
	testcluster.Eventually(t, 60*time.Second, func() error {
		got := s.podField(t, "victim", "{.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].lastState.terminated.exitCode} {.status.conditions[?(@.type==\"Ready\")].status}")
		if got != "1 137 True" {
			return fmt.Errorf("victim's restartCount, last exit code, Ready: %q, want \"1 137 True\"", got)
		}
		return nil
	})
	if got := s.podField(t, "victim", "{.status.podIP}"); got != ip {
		t.Fatalf("victim's IP changed from %s to %s with a container restart", ip, got)
	}
	if body, err := s.get(ip+":80", "/"); err != nil || !strings.Contains(body, "It works!") {
		t.Fatalf("restarted victim (%s) answered %q, %v", ip, body, err)
	}
}

// rollingDeployment has a readiness probe, so that a new pod gets traffic
// only once it serves. Its server stops at SIGTERM, as most do (busybox
// httpd as PID 1 ignores it, which would hide the race below). A deleted
// pod gets SIGTERM from its agent while, in parallel, the EndpointSlice
// controller marks it terminating and every node's proxy drops it: without
// the preStop sleep a few requests of the client loop (2 to 17 in our
// runs, "connection refused" and "reset by peer") reach the stopped server
// in between, as in Kubernetes, whose answer is this same preStop hook.
// (Measured: the slice changes ~20 ms after the delete and the proxy
// applies 85-125 ms after it, its 100 ms coalescing; the container is
// stopped ~40 ms after it.)
const rollingDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: roll
spec:
  replicas: 2
  selector:
    matchLabels:
      app: roll
  template:
    metadata:
      labels:
        app: roll
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: httpd
        image: httpd
        command: [sh, -c, 'httpd -f -p 80 -h /usr/local/apache2/htdocs & trap "kill $!; exit 0" TERM; wait']
        lifecycle:
          preStop:
            exec:
              command: [sleep, "2"]
        readinessProbe:
          httpGet:
            path: /
            port: 80
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: roll
spec:
  selector:
    app: roll
  ports:
  - port: 80
`

// TestRollingUpdateLosesNoRequest: a client loop in the node's namespace
// sends request after request to a Deployment's ClusterIP while the
// Deployment rolls (kubectl set env) and its old pods terminate; not one
// request fails.
func TestRollingUpdateLosesNoRequest(t *testing.T) {
	s := startNodeServer(t)
	s.waitNodeReady(t, "node-a")
	s.mustKubectl(t, rollingDeployment, "apply", "-f", "-")
	s.rolloutStatus(t, "deployment/roll")
	clusterIP := strings.TrimSpace(s.mustKubectl(t, "", "get", "service", "roll", "-o", "jsonpath={.spec.clusterIP}"))
	addr := clusterIP + ":80"
	if err := s.ns.RouteLocal(addr); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 30*time.Second, func() error {
		_, err := s.get(addr, "/")
		return err
	})
	oldPods := strings.Fields(s.mustKubectl(t, "", "get", "pods", "-l", "app=roll", "-o", "jsonpath={.items[*].metadata.name}"))

	// The client loop: bounded in time (2 minutes) and stopped by the test.
	var (
		mu       sync.Mutex
		ok       int
		failures []string
	)
	stop, done := make(chan struct{}), make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		deadline := time.After(2 * time.Minute)
		for {
			select {
			case <-stop:
				return
			case <-deadline:
				return
			default:
			}
			body, err := s.get(addr, "/")
			mu.Lock()
			if err == nil && strings.Contains(body, "It works!") {
				ok++
			} else {
				failures = append(failures, fmt.Sprintf("%s (%6.2fs): %q %v", time.Now().UTC().Format("15:04:05.000"), time.Since(start).Seconds(), body, err))
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	defer func() {
		select {
		case <-done:
		default:
			close(stop)
			<-done
		}
	}()
	time.Sleep(time.Second)

	s.mustKubectl(t, "", "set", "env", "deployment/roll", "FOO=bar")
	s.rolloutStatus(t, "deployment/roll")
	rolled := time.Since(start)
	// Keep the loop on while the old pods terminate (SIGTERM, the grace
	// period, SIGKILL) and are deleted.
	testcluster.Eventually(t, 60*time.Second, func() error {
		out, err := s.kubectl(t, "", "get", "pods", "-l", "app=roll", "-o", "jsonpath={.items[*].metadata.name}")
		if err != nil {
			return err
		}
		for _, p := range oldPods {
			if strings.Contains(out, p) {
				return fmt.Errorf("old pod %s is still there (pods: %s)", p, out)
			}
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	t.Logf("rollout done after %.1fs, old pods gone after %.1fs: %d requests answered, %d failed",
		rolled.Seconds(), time.Since(start).Seconds(), ok, len(failures))
	if len(failures) > 0 {
		events, _ := s.kubectl(t, "", "get", "events")
		t.Fatalf("%d of %d requests to %s failed during the rolling update:\n%s\nevents:\n%s",
			len(failures), ok+len(failures), addr, strings.Join(failures, "\n"), events)
	}
	if ok < 50 {
		t.Fatalf("only %d requests were sent during the rolling update", ok)
	}
	if env := s.mustKubectl(t, "", "get", "deployment", "roll", "-o", "jsonpath={.spec.template.spec.containers[0].env[0].value}"); env != "bar" {
		t.Fatalf("the Deployment's FOO=%q, want bar", env)
	}
}

// TestLogsFollow: `kubectl logs -f` of a pod that prints a line a second
// streams the lines printed after it started, until it is cancelled.
func TestLogsFollow(t *testing.T) {
	s := startNodeServer(t)
	s.waitNodeReady(t, "node-a")
	s.mustKubectl(t, `apiVersion: v1
kind: Pod
metadata:
  name: ticker
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: sh
    image: busybox
    command: [sh, -c, 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 1; done']
`, "apply", "-f", "-")
	s.waitPodsReady(t, "ticker")
	tick := regexp.MustCompile(`^tick (\d+)$`)
	// The last line printed before following.
	var last int
	testcluster.Eventually(t, 30*time.Second, func() error {
		out, err := s.kubectl(t, "", "logs", "ticker")
		if err != nil {
			return err
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		m := tick.FindStringSubmatch(lines[len(lines)-1])
		if m == nil {
			return fmt.Errorf("kubectl logs ticker: %q", out)
		}
		last, _ = strconv.Atoi(m[1])
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := s.ns.Command(ctx, "kubectl", "--kubeconfig", s.kc, "logs", "-f", "ticker")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	// Three lines printed after the follow began, in order.
	var got []int
	timeout := time.After(30 * time.Second)
	for len(got) < 3 {
		select {
		case l, open := <-lines:
			if !open {
				t.Fatalf("kubectl logs -f ended after %v (last before: %d): %s", got, last, stderr.String())
			}
			m := tick.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("kubectl logs -f printed %q", l)
			}
			n, _ := strconv.Atoi(m[1])
			if n > last {
				if len(got) > 0 && n != got[len(got)-1]+1 {
					t.Fatalf("kubectl logs -f: tick %d after %v", n, got)
				}
				got = append(got, n)
			}
		case <-timeout:
			t.Fatalf("kubectl logs -f streamed %v in 30s (last before: %d): %s", got, last, stderr.String())
		}
	}
	cancel()
	_ = cmd.Wait()
	t.Logf("followed ticks %v after tick %d", got, last)
}
