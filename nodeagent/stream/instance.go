package stream

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// Errors the handlers answer with a status code; each is wrapped with
// the names involved.
var (
	// ErrPodNotFound: the runtime has no container instance of the pod
	// (404).
	ErrPodNotFound = errors.New("pod not found on this node")
	// ErrContainerNotFound: the pod has instances, none of that container
	// (404).
	ErrContainerNotFound = errors.New("container not found")
	// ErrNoPrevious: previous=true but the container has no earlier
	// instance (400).
	ErrNoPrevious = errors.New("no previous instance")
	// ErrNotRunning: exec into an instance that is not running (400).
	ErrNotRunning = errors.New("container not running")
)

// kindError is an error whose message is exactly what the client reads
// (kubelet's wording) and whose kind is one of the sentinels above.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func kindErrorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// statusOf is the HTTP status code for an error of this package.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrNoPrevious), errors.Is(err, ErrNotRunning):
		return http.StatusBadRequest
	case errors.Is(err, ErrPodNotFound), errors.Is(err, ErrContainerNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// pickInstance chooses the container instance a logs or exec request
// means, from everything the runtime lists:
//
//   - the pod's instances are those with its namespace and name; when
//     several pod UIDs match (the pod was deleted and made again under
//     the same name), the UID of the most recently created instance wins;
//   - the current instance is that UID's highest attempt of the
//     container; previous is the highest attempt below it.
//
// Kubelet finds the UID from the pod it runs; the stream server only
// sees the runtime, hence the "newest UID" rule.
func pickInstance(list []runtime.ContainerStatus, ns, pod, container string, previous bool) (runtime.ContainerStatus, error) {
	var uid types.UID
	var newest runtime.ContainerStatus
	found := false
	for _, c := range list {
		if c.PodNamespace != ns || c.PodName != pod {
			continue
		}
		if !found || c.CreatedAt.After(newest.CreatedAt) {
			newest, found = c, true
		}
	}
	if !found {
		return runtime.ContainerStatus{}, kindErrorf(ErrPodNotFound, "pod %q in namespace %q has no containers on this node (not scheduled here, or not started yet)", pod, ns)
	}
	uid = newest.PodUID
	cur, prev := -1, -1
	for i, c := range list {
		if c.PodUID != uid || c.Name != container {
			continue
		}
		if cur < 0 || c.Attempt > list[cur].Attempt {
			cur, prev = i, cur
		} else if c.Attempt < list[cur].Attempt && (prev < 0 || c.Attempt > list[prev].Attempt) {
			prev = i
		}
	}
	if cur < 0 {
		return runtime.ContainerStatus{}, kindErrorf(ErrContainerNotFound, "container %q in pod %q not found (not started yet, or not a container of this pod)", container, pod)
	}
	if !previous {
		return list[cur], nil
	}
	if prev < 0 {
		return runtime.ContainerStatus{}, kindErrorf(ErrNoPrevious, "previous terminated container %q in pod %q not found", container, pod)
	}
	return list[prev], nil
}
