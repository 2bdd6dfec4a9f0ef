package containerd

import (
	"strconv"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// Container labels: everything ListContainers reports survives a restart
// of the agent because it lives in containerd's metadata, not in memory.
// Identity labels are set at create; the lifecycle ones as it happens.
const (
	labelPodUID       = "kelson.dev/pod-uid"
	labelPodNamespace = "kelson.dev/pod-namespace"
	labelPodName      = "kelson.dev/pod-name"
	labelContainer    = "kelson.dev/container"
	labelAttempt      = "kelson.dev/attempt"
	labelInit         = "kelson.dev/init"
	labelLogPath      = "kelson.dev/log-path"
	labelImage        = "kelson.dev/image"
	labelImageRef     = "kelson.dev/image-ref"
	labelStopSignal   = "kelson.dev/stop-signal"
	labelTTY          = "kelson.dev/tty"

	labelStartedAt  = "kelson.dev/started-at"
	labelFinishedAt = "kelson.dev/finished-at"
	labelExitCode   = "kelson.dev/exit-code"
	labelReason     = "kelson.dev/reason"
	labelMessage    = "kelson.dev/message"
	labelOOM        = "kelson.dev/oom"
)

// Reasons of an exited instance, as kubelet reports them.
const (
	ReasonCompleted = "Completed"
	ReasonError     = "Error"
	ReasonOOMKilled = "OOMKilled"
)

// specLabels are the identity labels of a new instance.
func specLabels(spec runtime.ContainerSpec, image, imageRef, stopSignal string) map[string]string {
	l := map[string]string{
		labelPodUID:       string(spec.PodUID),
		labelPodNamespace: spec.PodNamespace,
		labelPodName:      spec.PodName,
		labelContainer:    spec.Name,
		labelAttempt:      strconv.Itoa(spec.Attempt),
		labelInit:         strconv.FormatBool(spec.Init),
		labelLogPath:      spec.LogPath,
		labelImage:        image,
		labelImageRef:     imageRef,
		labelTTY:          strconv.FormatBool(spec.TTY),
	}
	if stopSignal != "" {
		l[labelStopSignal] = stopSignal
	}
	return l
}

// exitLabels record an exit; once set, they are the instance's status.
func exitLabels(code int32, finished time.Time, oom bool, message string) map[string]string {
	l := map[string]string{
		labelExitCode:   strconv.FormatInt(int64(code), 10),
		labelFinishedAt: finished.UTC().Format(time.RFC3339Nano),
		labelReason:     exitReason(code, oom),
	}
	if message != "" {
		l[labelMessage] = message
	}
	return l
}

// exitReason is kubelet's: OOMKilled when the kernel's OOM killer acted
// in the container's cgroup, else Completed for 0 and Error otherwise.
func exitReason(code int32, oom bool) string {
	switch {
	case oom:
		return ReasonOOMKilled
	case code == 0:
		return ReasonCompleted
	default:
		return ReasonError
	}
}

// taskState is what containerd says of an instance's task.
type taskState struct {
	Exists   bool
	Status   string // containerd's: created, running, stopped, paused, pausing, unknown
	ExitCode uint32
	ExitedAt time.Time
}

// statusOf is an instance's status from its labels, creation time and
// task: recorded exit labels win; then the task's state; an instance
// without task that was never started is Created; one whose task vanished
// without an exit record is Exited with an Error.
func statusOf(id string, labels map[string]string, created time.Time, task taskState) runtime.ContainerStatus {
	st := runtime.ContainerStatus{
		ID:           id,
		PodUID:       types.UID(labels[labelPodUID]),
		PodNamespace: labels[labelPodNamespace],
		PodName:      labels[labelPodName],
		Name:         labels[labelContainer],
		Init:         labels[labelInit] == "true",
		CreatedAt:    created,
		StartedAt:    parseTime(labels[labelStartedAt]),
		Image:        labels[labelImage],
		ImageRef:     labels[labelImageRef],
		LogPath:      labels[labelLogPath],
	}
	st.Attempt, _ = strconv.Atoi(labels[labelAttempt])
	if code, ok := labels[labelExitCode]; ok {
		c, _ := strconv.ParseInt(code, 10, 32)
		st.State = runtime.StateExited
		st.ExitCode = int32(c)
		st.Reason = labels[labelReason]
		st.Message = labels[labelMessage]
		st.FinishedAt = parseTime(labels[labelFinishedAt])
		return st
	}
	switch {
	case !task.Exists && st.StartedAt.IsZero():
		st.State = runtime.StateCreated
	case !task.Exists:
		st.State = runtime.StateExited
		st.ExitCode = 255
		st.Reason = ReasonError
		st.Message = "the container's task is gone and no exit was recorded (containerd lost it)"
	case task.Status == "created":
		st.State = runtime.StateCreated
	case task.Status == "running", task.Status == "paused", task.Status == "pausing":
		st.State = runtime.StateRunning
	case task.Status == "stopped":
		st.State = runtime.StateExited
		st.ExitCode = int32(task.ExitCode)
		st.Reason = exitReason(st.ExitCode, labels[labelOOM] == "true")
		st.FinishedAt = task.ExitedAt
	default:
		st.State = runtime.StateUnknown
	}
	return st
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
