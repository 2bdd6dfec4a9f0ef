package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testcluster"
	"github.com/kelson-dev/kelson/internal/testimage"
	"github.com/kelson-dev/kelson/internal/testnet"
)

// The walkthrough end to end on real containers: one `kelson server`
// (store, API, controllers, scheduler and its node agent) inside a network
// namespace the test made, driven by the kubectl on the PATH run inside
// that namespace, with the httpd test image imported offline. Every
// address the test sends to is checked to be routed inside the namespace.

// e2eNodeIP is the node's address inside its namespace, on a veth to a
// "LAN" namespace of the test's.
const e2eNodeIP = "192.168.200.2"

// agentNeeds says why the agent cannot run here ("" when it can).
func agentNeeds() string {
	if why := testnet.Available(); why != "" {
		return why
	}
	for _, b := range []string{"containerd", "runc", "kubectl", "nft"} {
		if _, err := exec.LookPath(b); err != nil {
			return b + " is not installed (make deps installs it)"
		}
	}
	if _, err := os.Stat(testimage.DefaultBusybox); err != nil {
		return "busybox-static is not installed (make deps installs it)"
	}
	return ""
}

// nodeServer is a kelson server with its agent, running inside ns.
type nodeServer struct {
	ns      *testnet.NS
	dataDir string
	kc      string
	p       *proc
}

func startNodeServer(t *testing.T) *nodeServer {
	t.Helper()
	if why := agentNeeds(); why != "" {
		t.Skip(why)
	}
	bin := kelsonBin(t)
	dir, err := os.MkdirTemp("/tmp", "kae-") // short: containerd's socket path lives below it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testnet.UnmountUnder(dir); os.RemoveAll(dir) })
	ns := testnet.New(t, "e2e")
	// The node's LAN: a veth to another namespace of the test's.
	lan := testnet.New(t, "lan")
	testnet.Link(t, ns, lan, e2eNodeIP+"/24", "192.168.200.1/24")
	// Traffic the node itself sends to ClusterIPs needs a route before
	// the proxy's DNAT: towards the LAN namespace, inside the test's.
	ns.MustIP(t, "route", "add", "10.43.0.0/16", "via", "192.168.200.1")
	resolv := filepath.Join(dir, "resolv.conf") // no upstream: cluster DNS forwards nothing
	if err := os.WriteFile(resolv, []byte("search example.invalid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "d")
	s := &nodeServer{ns: ns, dataDir: data}
	cmd := ns.Command(context.Background(), bin, "server", "--data-dir", data, "--node-name", "node-a",
		"--node-ip", e2eNodeIP, "--resolv-conf", resolv, "--log-format", "text")
	s.p = startCmd(t, cmd, "server in "+ns.Name)
	t.Cleanup(func() {
		// Pods outlive their agent by design: kill what runs in the
		// pods' namespaces, then the server's.
		pods, _ := filepath.Glob(filepath.Join(data, "agent", "net", "netns", "*"))
		testnet.KillNetNS(pods...)
		testnet.KillNetNS(ns.Path())
	})
	s.kc = s.p.waitKubeconfig(t)

	// The image the walkthrough names, built from busybox and imported
	// offline into the agent's containerd.
	archive := filepath.Join(dir, "images.tar")
	if err := testimage.WriteFile(archive, testimage.Options{}, testimage.HTTPD(), testimage.Busybox()); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(data, "agent", "containerd", "containerd.sock")
	testcluster.Eventually(t, 60*time.Second, func() error {
		out, err := exec.Command(bin, "images", "import", "--containerd-address", sock, archive).CombinedOutput()
		if err != nil {
			return fmt.Errorf("kelson images import: %v: %s", err, out)
		}
		return nil
	})
	return s
}

// kubectl runs the kubectl on the PATH inside the node's namespace.
func (s *nodeServer) kubectl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := s.ns.Command(ctx, "kubectl", append([]string{"--kubeconfig", s.kc}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (s *nodeServer) mustKubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := s.kubectl(t, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// get fetches http://addr/path from inside the node's namespace.
func (s *nodeServer) get(addr, path string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := s.ns.Dial(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET http://%s%s: %s", addr, path, resp.Status)
	}
	return string(b), err
}

func TestWalkthroughOnRealContainers(t *testing.T) {
	s := startNodeServer(t)
	testcluster.Eventually(t, 90*time.Second, func() error {
		out, err := s.kubectl(t, "", "get", "node", "node-a", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}")
		if err != nil || out != "True" {
			return fmt.Errorf("node-a Ready=%q: %v", out, err)
		}
		return nil
	})

	s.mustKubectl(t, walkthrough(t, "httpd_deployment.yaml"), "apply", "-f", "-")
	if out, err := s.kubectl(t, "", "rollout", "status", "deployment/httpd-deployment", "--timeout=120s"); err != nil {
		pods, _ := s.kubectl(t, "", "get", "pods", "-o", "yaml")
		events, _ := s.kubectl(t, "", "get", "events")
		t.Fatalf("%v\n%s\npods:\n%s\nevents:\n%s", err, out, pods, events)
	}
	ips := strings.Fields(s.mustKubectl(t, "", "get", "pods", "-l", "app=httpd_pod", "-o", "jsonpath={.items[*].status.podIP}"))
	names := strings.Fields(s.mustKubectl(t, "", "get", "pods", "-l", "app=httpd_pod", "-o", "jsonpath={.items[*].metadata.name}"))
	if len(ips) != 2 || len(names) != 2 {
		t.Fatalf("pod IPs %v, names %v: want two Running pods", ips, names)
	}
	for _, ip := range ips {
		body, err := s.get(ip+":80", "/")
		if err != nil || !strings.Contains(body, "It works!") {
			t.Fatalf("pod %s answered %q, %v: want It works!", ip, body, err)
		}
	}

	// Each pod serves its own name too (written through kubectl exec), so
	// that the Service's spreading shows.
	for _, n := range names {
		s.mustKubectl(t, "", "exec", n, "--", "sh", "-c", "hostname > /usr/local/apache2/htdocs/name.html")
	}
	s.mustKubectl(t, walkthrough(t, "httpd_service.yaml"), "apply", "-f", "-")
	clusterIP := strings.TrimSpace(s.mustKubectl(t, "", "get", "service", "httpd-src", "-o", "jsonpath={.spec.clusterIP}"))
	seen := map[string]int{}
	testcluster.Eventually(t, 30*time.Second, func() error {
		for range 20 {
			body, err := s.get(clusterIP+":8080", "/name.html")
			if err != nil {
				return err
			}
			seen[strings.TrimSpace(body)]++
		}
		if len(seen) < 2 {
			return fmt.Errorf("ClusterIP %s:8080 answered from %v: want both pods", clusterIP, seen)
		}
		return nil
	})
	if body, err := s.get(e2eNodeIP+":30000", "/"); err != nil || !strings.Contains(body, "It works!") {
		t.Fatalf("NodePort 30000 on %s answered %q, %v", e2eNodeIP, body, err)
	}

	// Cluster DNS from a pod.
	out := s.mustKubectl(t, "", "exec", names[0], "--", "nslookup", "httpd-src.default.svc.cluster.local")
	if !strings.Contains(out, clusterIP) {
		t.Fatalf("nslookup httpd-src from a pod:\n%s\nwant %s", out, clusterIP)
	}
	// Service environment variables in the pods.
	env := s.mustKubectl(t, "", "exec", names[0], "--", "env")
	if !strings.Contains(env, "KUBERNETES_SERVICE_HOST=10.43.0.1") {
		t.Fatalf("pod env lacks the kubernetes Service's variables:\n%s", env)
	}

	// kubectl top: the agent's usage reports (every 15 s, a container's
	// CPU from its second sample on) served as metrics.k8s.io.
	testcluster.Eventually(t, 90*time.Second, func() error {
		out, err := s.kubectl(t, "", "top", "pod", names[1], "--no-headers")
		if err != nil || !strings.Contains(out, names[1]) || !strings.Contains(out, "Mi") {
			return fmt.Errorf("kubectl top pod %s: %q %v", names[1], out, err)
		}
		out, err = s.kubectl(t, "", "top", "node", "--no-headers")
		if err != nil || !strings.HasPrefix(out, "node-a") {
			return fmt.Errorf("kubectl top node: %q %v", out, err)
		}
		return nil
	})

	// A deleted pod is replaced, and the replacement serves.
	s.mustKubectl(t, "", "delete", "pod", names[0], "--wait=true", "--timeout=60s")
	if out, err := s.kubectl(t, "", "rollout", "status", "deployment/httpd-deployment", "--timeout=90s"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	// Logs: a pod that prints, read through the API and the agent.
	s.mustKubectl(t, "", "run", "talker", "--image=busybox", "--restart=Never", "--", "sh", "-c", "echo hello from kelson; sleep 3600")
	testcluster.Eventually(t, 60*time.Second, func() error {
		out, err := s.kubectl(t, "", "logs", "talker")
		if err != nil || !strings.Contains(out, "hello from kelson") {
			return fmt.Errorf("kubectl logs talker: %q %v", out, err)
		}
		return nil
	})
	s.mustKubectl(t, "", "delete", "deployment", "httpd-deployment", "--wait=true")
	s.mustKubectl(t, "", "delete", "pod", "talker", "--grace-period=1", "--wait=true", "--timeout=60s")
}

// containerdPID is the agent's own containerd (its command line names the
// server's data dir), or 0.
func (s *nodeServer) containerdPID(t *testing.T) int {
	t.Helper()
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		var pid int
		if _, err := fmt.Sscan(p.Name(), &pid); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + p.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if filepath.Base(args[0]) == "containerd" && strings.Contains(string(b), s.dataDir+"/") {
			return pid
		}
	}
	return 0
}

// The agent starts its containerd again when it dies, and pods run after.
func TestAgentRestartsItsContainerd(t *testing.T) {
	s := startNodeServer(t)
	testcluster.Eventually(t, 90*time.Second, func() error {
		out, err := s.kubectl(t, "", "get", "node", "node-a", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}")
		if err != nil || out != "True" {
			return fmt.Errorf("node-a Ready=%q: %v", out, err)
		}
		return nil
	})
	pid := s.containerdPID(t)
	if pid == 0 {
		t.Fatal("the agent's containerd is not running")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 30*time.Second, func() error {
		if p := s.containerdPID(t); p == 0 || p == pid {
			return fmt.Errorf("containerd not started again (pid %d)", p)
		}
		return nil
	})
	s.mustKubectl(t, "", "run", "after", "--image=busybox", "--restart=Never", "--", "sleep", "3600")
	if out, err := s.kubectl(t, "", "wait", "--for=condition=Ready", "pod/after", "--timeout=55s"); err != nil {
		events, _ := s.kubectl(t, "", "get", "events")
		t.Fatalf("%v\n%s\nevents:\n%s", err, out, events)
	}
	s.mustKubectl(t, "", "delete", "pod", "after", "--grace-period=1", "--wait=true", "--timeout=50s")
}
