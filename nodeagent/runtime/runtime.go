package runtime

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ContainerSpec is everything the runtime needs to create one container
// instance; the pod worker resolves env, mounts and the netns first.
type ContainerSpec struct {
	PodUID       types.UID
	PodNamespace string
	PodName      string
	// Name is the container's name in the pod; Attempt its run number.
	Name    string
	Attempt int
	// Init marks an init container (reported as such, never restarted by
	// the runtime itself).
	Init bool

	// Image as written in the pod spec ("httpd", "busybox:1.36"); the
	// runtime normalises it (docker.io/library/httpd:latest).
	Image string
	// Command and Args as in the pod spec: Command replaces the image's
	// entrypoint and Args its cmd, as Kubernetes documents.
	Command, Args []string
	// Env is KEY=VALUE, fully resolved, in order (later wins).
	Env        []string
	WorkingDir string
	Mounts     []Mount
	// NetNSPath is the pod's network namespace (/var/run/netns/... or
	// /proc/PID/ns/net); empty for hostNetwork pods.
	NetNSPath string
	// Hostname inside the container (the pod's name, or the node's for
	// hostNetwork pods).
	Hostname  string
	Resources Resources
	// LogPath: the CRI-format log file the runtime appends stdout and
	// stderr to ("2006-01-02T15:04:05.999999999Z07:00 stdout F line").
	LogPath string
	// TTY, Stdin and StdinOnce as in the container spec.
	TTY, Stdin, StdinOnce bool
	Security              Security
	// StopSignal overrides the image's stop signal ("" = the image's, or
	// SIGTERM).
	StopSignal string
}

// Mount binds a host path into the container.
type Mount struct {
	HostPath      string
	ContainerPath string
	ReadOnly      bool
}

// Resources become cgroup settings. Zero means unset.
type Resources struct {
	// CPURequestMilli sets cpu.shares (1024 per core); CPULimitMilli the
	// CFS quota over a 100 ms period.
	CPURequestMilli, CPULimitMilli int64
	// MemoryLimitBytes: past it the kernel's OOM killer ends the container
	// and its status says OOMKilled.
	MemoryLimitBytes int64
}

// Security is the subset of the security context the runtime applies.
type Security struct {
	RunAsUser, RunAsGroup  *int64
	Privileged             bool
	ReadOnlyRootFilesystem bool
	AddCapabilities        []string
	DropCapabilities       []string
}

// State of a container instance.
type State string

const (
	StateCreated State = "Created"
	StateRunning State = "Running"
	StateExited  State = "Exited"
	StateUnknown State = "Unknown"
)

// ContainerStatus is what the runtime knows of one container instance.
type ContainerStatus struct {
	ID           string
	PodUID       types.UID
	PodNamespace string
	PodName      string
	Name         string
	Attempt      int
	Init         bool
	State        State
	// ExitCode and Reason when Exited: Reason is "Completed" (0),
	// "Error" (non-zero) or "OOMKilled".
	ExitCode                         int32
	Reason                           string
	Message                          string
	CreatedAt, StartedAt, FinishedAt time.Time
	// Image is the normalised reference; ImageRef the image's digest
	// reference (docker.io/library/httpd@sha256:...), as containerStatuses
	// report imageID.
	Image, ImageRef string
	LogPath         string
}

// ExecOptions is one command run inside a running container.
type ExecOptions struct {
	Command []string
	// Stdin may be nil; Stdout and Stderr may be nil (discarded). With
	// TTY, stderr is merged into stdout.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	TTY            bool
	// Resize delivers terminal sizes for TTY sessions; may be nil.
	Resize <-chan TermSize
}

// TermSize is a terminal's size in characters.
type TermSize struct{ Width, Height uint16 }

// Stats are one container's resource usage, cumulative CPU and current
// memory, read from its cgroup.
type Stats struct {
	Timestamp        time.Time
	CPUUsageNanos    uint64
	MemoryWorkingSet uint64
	MemoryUsage      uint64
}

// Exit tells that a container instance exited (or was found exited).
type Exit struct {
	ID     string
	PodUID types.UID
}

// ErrNotFound is returned (wrapped) for a container or image that does
// not exist.
var ErrNotFound = errors.New("not found")

// Runtime runs container instances. Every method is safe for concurrent
// use; every one honours ctx.
type Runtime interface {
	// EnsureImage makes the image present (pulling per policy: Always
	// pulls, IfNotPresent pulls when absent, Never fails when absent) and
	// returns its digest reference.
	EnsureImage(ctx context.Context, image string, policy corev1.PullPolicy) (imageRef string, err error)
	// CreateContainer creates (does not start) an instance; its ID is
	// returned. Creating an instance that exists (same pod UID, name,
	// attempt) returns the existing ID.
	CreateContainer(ctx context.Context, spec ContainerSpec) (id string, err error)
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends the stop signal, waits up to grace, then
	// SIGKILL, and returns once the instance has exited (or ctx ends).
	// Stopping an exited instance is a no-op.
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	// RemoveContainer deletes a stopped instance (its log file stays; the
	// pod worker removes pod log directories). Removing an absent one is
	// a no-op.
	RemoveContainer(ctx context.Context, id string) error
	// ListContainers lists every instance this runtime created, in every
	// state, across restarts of the agent.
	ListContainers(ctx context.Context) ([]ContainerStatus, error)
	ContainerStatus(ctx context.Context, id string) (ContainerStatus, error)
	// Exec runs a command in a running instance and returns its exit code.
	Exec(ctx context.Context, id string, opts ExecOptions) (exitCode int, err error)
	Stats(ctx context.Context, id string) (Stats, error)
	// Exits delivers an Exit for every instance that exits, so that the
	// pod worker reacts at once instead of at its next resync. The channel
	// is the runtime's; it is never closed while the runtime lives.
	Exits() <-chan Exit
}

// LogPath is where the pod worker puts a container instance's log, as
// kubelet lays out /var/log/pods: ROOT/NS_NAME_UID/CONTAINER/ATTEMPT.log.
// The stream server reads the same files for kubectl logs.
func LogPath(root, namespace, pod string, uid types.UID, container string, attempt int) string {
	return filepath.Join(root, namespace+"_"+pod+"_"+string(uid), container, strconv.Itoa(attempt)+".log")
}
