package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kelson-dev/kelson/internal/netns"
	"github.com/kelson-dev/kelson/internal/testimage"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// The pods workload's node: a `kelson server --disable-agent` and a
// `kelson agent` running inside a network namespace the run made (the
// node netns), linked by a veth to a second one (the LAN netns) that
// stands for the node's network. Nothing runs on, or changes, the host's
// network: the bench reaches the API and the Services through sockets
// opened inside the node netns (netns.Dialer), each address's route
// checked first.

// Addresses inside the run's namespaces (no route to them exists outside).
const (
	podsNodeIP = "192.168.200.2"
	podsLANIP  = "192.168.200.1"
	// podsServiceCIDR is the server's default --service-cidr: the node
	// routes it to the LAN, so that the proxy's rules see the packets the
	// node itself sends to ClusterIPs.
	podsServiceCIDR = "10.43.0.0/16"
	podsNodeName    = "bench-node"
)

// ErrPodsUnavailable: the pods workload cannot run on this machine (not
// root, a tool missing); the message says what to install or do.
var ErrPodsUnavailable = errors.New("bench: the pods workload cannot run here")

// podsNeeds says why the pods workload cannot run here ("" when it can).
func podsNeeds(bin string) string {
	if os.Geteuid() != 0 {
		return "it needs root (network namespaces, containerd, runc): run it with sudo"
	}
	if why := netns.Available(); why != "" {
		return why
	}
	for _, b := range []string{"containerd", "runc"} {
		if _, err := exec.LookPath(b); err != nil {
			return b + " is not installed (apt-get install containerd runc)"
		}
	}
	if _, err := os.Stat(testimage.DefaultBusybox); err != nil {
		return "busybox-static is not installed (apt-get install busybox-static): the test image is built from it"
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		return fmt.Sprintf("the kelson binary %q is missing (--kelson)", bin)
	}
	return ""
}

// podsEnv is the node of one run.
type podsEnv struct {
	cfg       PodsConfig
	dir       string // work dir: data dirs, the image archive, logs
	node, lan *netns.NS
	dialer    *netns.Dialer
	server    *child
	agent     *child
	rest      *rest.Config
	cs        *kubernetes.Clientset
	// containerd is the PID of the agent's containerd, once the node is
	// Ready (0 before).
	containerd int
}

// child is a process of the run, its output to a log file.
type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // of Wait, once done is closed
}

func (e *podsEnv) start(name string, args ...string) (*child, error) {
	logDir := e.cfg.LogDir
	if logDir == "" {
		logDir = e.dir
	}
	path := filepath.Join(logDir, name+".log")
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %s log: %w", name, err)
	}
	defer f.Close() // the child holds its own descriptor
	// Not CommandContext: the run stops its children itself, in order
	// (pods first, while the agent still runs), also after an interrupt.
	cmd := e.node.Command(context.Background(), e.cfg.Binary, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// A process group of its own: a terminal's ^C reaches the bench only,
	// which then stops the node in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, log: path, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, and SIGKILL after grace.
func (c *child) stop(grace time.Duration) {
	if c == nil || c.exited() {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// tail is the end of the child's log, for error messages.
func (c *child) tail() string {
	b, err := os.ReadFile(c.log)
	if err != nil {
		return ""
	}
	const max = 3000
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return fmt.Sprintf("\n--- last lines of %s (%s) ---\n%s", c.name, c.log, b)
}

// startPodsEnv makes the namespaces, starts the server and the agent,
// imports the image and waits for the node to be Ready. On error it has
// undone what it did.
func startPodsEnv(ctx context.Context, cfg PodsConfig) (env *podsEnv, err error) {
	dir, err := os.MkdirTemp(cfg.WorkDir, "kbp-") // short: containerd's socket lives below it
	if err != nil {
		return nil, fmt.Errorf("bench: work dir: %w", err)
	}
	e := &podsEnv{cfg: cfg, dir: dir}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if cfg.LogDir != "" {
		if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
			return nil, fmt.Errorf("bench: --log-dir: %w", err)
		}
	}
	step := func(what string) { cfg.Logger.Info("pods bench: " + what) }

	step("network namespaces")
	if e.node, err = netns.New("kb-pods-node"); err != nil {
		return nil, err
	}
	if e.lan, err = netns.New("kb-pods-lan"); err != nil {
		return nil, err
	}
	if err := netns.Link(e.node, e.lan, podsNodeIP+"/24", podsLANIP+"/24"); err != nil {
		return nil, err
	}
	if _, err := e.node.IP("route", "add", podsServiceCIDR, "via", podsLANIP); err != nil {
		return nil, err
	}
	e.dialer = &netns.Dialer{NS: e.node}
	resolv := filepath.Join(dir, "resolv.conf") // no upstream: cluster DNS forwards nothing
	if err := os.WriteFile(resolv, []byte("search example.invalid\n"), 0o644); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}

	step("kelson server --disable-agent in " + e.node.Name)
	serverDir := filepath.Join(dir, "s")
	if e.server, err = e.start("server", "server", "--data-dir", serverDir, "--disable-agent",
		"--log-format", "text", "--log-level", cfg.ChildLogLevel); err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(serverDir, "admin.kubeconfig")
	if err := e.waitAPI(ctx, kubeconfig); err != nil {
		return nil, err
	}

	step("kelson agent in " + e.node.Name)
	if e.agent, err = e.start("agent", "agent", "--kubeconfig", kubeconfig, "--data-dir", e.agentDir(),
		"--node-name", podsNodeName, "--node-ip", podsNodeIP, "--resolv-conf", resolv,
		"--log-format", "text", "--log-level", cfg.ChildLogLevel); err != nil {
		return nil, err
	}
	step("image import")
	if err := e.importImage(ctx); err != nil {
		return nil, err
	}
	step("node Ready")
	if err := e.waitNodeReady(ctx); err != nil {
		return nil, err
	}
	if err := ensureNamespace(ctx, e.cs, podsNamespace); err != nil {
		return nil, err
	}
	e.containerd = e.findContainerd()
	return e, nil
}

// findContainerd is the PID of the agent's containerd (0 if not found).
func (e *podsEnv) findContainerd() int {
	for _, pid := range runPIDs(e.dir, e.agent.pid(), e.server.pid(), kindContainerd) {
		return pid
	}
	return 0
}

func (e *podsEnv) agentDir() string { return filepath.Join(e.dir, "a") }

// alive fails when the server, the agent or the agent's containerd has
// exited, with its log.
func (e *podsEnv) alive() error {
	for _, c := range []*child{e.server, e.agent} {
		if c != nil && c.exited() {
			return fmt.Errorf("bench: the %s exited: %v%s", c.name, c.err, c.tail())
		}
	}
	if pid := e.containerd; pid != 0 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(b, []byte(e.dir)) {
			log := filepath.Join(e.agentDir(), "containerd", "containerd.log")
			return fmt.Errorf("bench: the agent's containerd (pid %d) exited while the agent runs: its pods cannot start or stop (its log: %s)", pid, log)
		}
	}
	return nil
}

// poll calls f every interval until it returns nil, the server or agent
// exits, or timeout; the error names what and f's last error.
func (e *podsEnv) poll(ctx context.Context, what string, timeout time.Duration, f func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		if err := e.alive(); err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			logs := ""
			for _, c := range []*child{e.server, e.agent} {
				if c != nil {
					logs += c.tail()
				}
			}
			return fmt.Errorf("bench: %s: not within %v: %v%s", what, timeout, err, logs)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitAPI waits for the server's kubeconfig and its API's answer, and
// builds the run's client: every connection opened inside the node netns.
func (e *podsEnv) waitAPI(ctx context.Context, kubeconfig string) error {
	return e.poll(ctx, "the API server's kubeconfig and /readyz", e.cfg.SetupTimeout, func(ctx context.Context) error {
		if e.cs == nil {
			if _, err := os.Stat(kubeconfig); err != nil {
				return err
			}
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return err
			}
			rc.QPS = -1
			rc.UserAgent = "kelson-bench-pods"
			rc.ContentType = "application/vnd.kubernetes.protobuf"
			rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
			rc.Dial = e.dialer.DialContext
			cs, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return err
			}
			e.rest, e.cs = rc, cs
		}
		_, err := e.cs.CoreV1().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err
	})
}

// importImage writes the httpd test image (busybox httpd serving "It
// works!", as docker.io/library/httpd:latest) and imports it into the
// agent's containerd once its socket answers.
func (e *podsEnv) importImage(ctx context.Context) error {
	archive := filepath.Join(e.dir, "images.tar")
	if err := testimage.WriteFile(archive, testimage.Options{}, testimage.HTTPD()); err != nil {
		return fmt.Errorf("bench: build the test image: %w", err)
	}
	sock := filepath.Join(e.agentDir(), "containerd", "containerd.sock")
	return e.poll(ctx, "kelson images import into the agent's containerd", e.cfg.SetupTimeout, func(ctx context.Context) error {
		if _, err := os.Stat(sock); err != nil {
			return err
		}
		ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ictx, e.cfg.Binary, "images", "import", "--containerd-address", sock, archive).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
}

func (e *podsEnv) waitNodeReady(ctx context.Context) error {
	return e.poll(ctx, "node "+podsNodeName+" Ready", e.cfg.SetupTimeout, func(ctx context.Context) error {
		n, err := e.cs.CoreV1().Nodes().Get(ctx, podsNodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("node %s is not Ready yet", podsNodeName)
	})
}

// close undoes the run: the pods deleted through the API while the agent
// still runs (so that it stops their containers and frees their cgroups,
// mounts and addresses), then the agent and the server stopped, then
// whatever still runs in the pods' and the node's namespaces killed, the
// mounts under the work dir detached, the work dir and namespaces removed.
// Best effort: it goes on past errors, and reports what it left.
func (e *podsEnv) close() (leftover []string) {
	if e.cs != nil && e.agent != nil && !e.agent.exited() && e.server != nil && !e.server.exited() {
		if err := e.deleteAllPods(); err != nil {
			leftover = append(leftover, err.Error())
		}
	}
	e.agent.stop(20 * time.Second)
	e.server.stop(20 * time.Second)
	pods, _ := filepath.Glob(filepath.Join(e.agentDir(), "net", "netns", "*"))
	netns.KillNetNS(pods...)
	for _, ns := range []*netns.NS{e.node, e.lan} {
		if ns != nil {
			netns.KillNetNS(ns.Path())
		}
	}
	netns.UnmountUnder(e.dir)
	if err := os.RemoveAll(e.dir); err != nil {
		leftover = append(leftover, fmt.Sprintf("work dir %s: %v", e.dir, err))
	}
	for _, ns := range []*netns.NS{e.node, e.lan} {
		if ns == nil {
			continue
		}
		if err := ns.Delete(); err != nil {
			leftover = append(leftover, err.Error())
		}
	}
	return leftover
}

// deleteAllPods deletes the run's pods and waits, at most a minute, for
// the agent to have stopped them all.
func (e *podsEnv) deleteAllPods() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pods := e.cs.CoreV1().Pods(podsNamespace)
	if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return fmt.Errorf("delete the pods: %w", err)
	}
	for {
		l, err := pods.List(ctx, metav1.ListOptions{})
		if err == nil && len(l.Items) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			n := -1
			if l != nil {
				n = len(l.Items)
			}
			return fmt.Errorf("%d pods not gone a minute after their delete (their processes were killed)", n)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// logTails is the end of the server's and agent's logs.
func (e *podsEnv) logTails() string {
	var b strings.Builder
	for _, c := range []*child{e.server, e.agent} {
		if c != nil {
			b.WriteString(c.tail())
		}
	}
	return b.String()
}
