// Package containerd implements nodeagent/runtime.Runtime over
// containerd's Go client (github.com/containerd/containerd/v2), against
// Debian's containerd 1.6 daemon: it uses the image, content, snapshot,
// container, task and event services, and never the Transfer service
// (1.7+); images come by client.Pull or client.Import.
//
// # Model
//
// Every image and container lives in one containerd namespace ("kelson").
// A container instance (pod UID, container name, attempt) is a containerd
// container whose ID is ContainerID(uid, name, attempt), so creating it
// twice finds the first. Its labels carry everything ListContainers
// reports (pod, name, attempt, init, log path, image, start time and, once
// it exited, exit code, finish time and reason), so a Runtime opened after
// an agent restart sees what the previous one made.
//
//	CreateContainer  container + snapshot + OCI spec       -> Created
//	StartContainer   task (runc shim) with binary logging  -> Running
//	task exits       /tasks/exit event -> finalize:
//	                 exit labels, task deleted, Exit sent  -> Exited
//	RemoveContainer  container and snapshot deleted (the log file stays)
//
// Invariants:
//   - An instance with exit labels is Exited whatever else containerd says;
//     finalize writes them before it deletes the task, so a crash between
//     the two loses nothing (the next scan deletes the stopped task).
//   - finalize runs for every stopped task: on its exit event, after Stop,
//     and in a scan of all instances whenever the event subscription
//     (re)starts, which covers exits while no Runtime was listening.
//   - Exits gets one Exit per recorded exit (or failed start).
//   - Operations on one instance are serialised by a per-ID mutex; no
//     mutex is held across a send on Exits.
//   - OOMKilled: a TaskOOM event (remembered in memory and as a label), or
//     the cgroup's memory.oom_control oom_kill counter read before the
//     task (and its cgroup) is deleted.
//   - No negative oom_score_adj is ever set: writing one needs
//     CAP_SYS_RESOURCE, which the agent may lack.
//
// # Logs
//
// A container's stdout and stderr go to a log driver started by the
// containerd shim, not by the agent (containerd's binary:// log URI): the
// shim runs `LogDriver container-log-driver LOGPATH` with the container's
// stdout as fd 3, its stderr as fd 4 and a ready pipe as fd 5;
// LogDriverMain appends CRI records ("<RFC3339Nano> stdout F line", P for
// the 16 KiB pieces of a longer line) to LOGPATH. The driver lives as long
// as the task, so logs keep being written while the agent restarts.
// `kelson container-log-driver` is that driver; tests re-execute the test
// binary from TestMain.
//
// Not done here: a container's own stdin (ContainerSpec.Stdin/StdinOnce:
// the runtime has no attach; the container reads /dev/null), and the
// $(VAR) expansion of command and args (the pod worker's).
//
// # Daemon
//
// StartDaemon runs containerd as a child process with its own config,
// root, state, opt directory and socket under one directory, the CRI
// plugin disabled; its output goes to DIR/containerd.log. The snapshotter
// is overlayfs when containerd's overlayfs plugin loaded (it checks an
// overlay mount works on its root), native otherwise.
//
// # Example
//
//	d, err := containerd.StartDaemon(ctx, containerd.DaemonConfig{Dir: dataDir + "/containerd"})
//	rt, err := containerd.Open(ctx, containerd.Config{Address: d.Address()})
//	ref, err := rt.EnsureImage(ctx, "httpd", corev1.PullIfNotPresent)
//	id, err := rt.CreateContainer(ctx, runtime.ContainerSpec{PodUID: uid, Name: "web",
//		Image: "httpd", NetNSPath: "/var/run/netns/pod1", LogPath: logPath})
//	err = rt.StartContainer(ctx, id)
//	...
//	err = rt.StopContainer(ctx, id, 30*time.Second)
package containerd
