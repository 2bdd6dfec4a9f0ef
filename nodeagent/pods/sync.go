package pods

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/podnet"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// maxRounds bounds the decide-and-act rounds of one sync; a pod needing
// more (a long chain of instant init containers) is queued again.
const maxRounds = 8

// maxStatusAttempts bounds the conflict retries of one status write.
const maxStatusAttempts = 5

// syncPod brings one pod to what decide says and reports its status. It
// returns when the pod should be looked at again (zero: when something
// changes).
func (m *Manager) syncPod(ctx context.Context, uid types.UID) (time.Time, error) {
	m.stats.syncs.Add(1)
	pod := m.podByUID(uid)
	if pod == nil || pod.Spec.NodeName != m.cfg.NodeName {
		return time.Time{}, m.cleanupOrphan(ctx, uid)
	}
	st := m.state(uid)
	st.pod = pod
	if st.written != nil && !newer(pod.ResourceVersion, st.written.ResourceVersion) {
		// The informer has not seen our last write yet.
		p := st.written.DeepCopy()
		p.Spec, p.ObjectMeta = pod.Spec, pod.ObjectMeta
		p.ResourceVersion = st.written.ResourceVersion
		pod = p
	}
	if pod.Status.StartTime == nil {
		if st.startTime.IsZero() {
			st.startTime = m.cfg.Now()
		}
		pod = pod.DeepCopy()
		t := stamp(st.startTime)
		pod.Status.StartTime = &t
	}

	var pl plan
	var observed []runtime.ContainerStatus
	var syncErr error
	for round := 0; ; round++ {
		var err error
		observed, err = m.observed(ctx, uid)
		if err != nil {
			return time.Time{}, err
		}
		pl = decide(m.snapshot(pod, st, observed))
		m.recordBackoffs(pod, st, pl.backoffs)
		if round == maxRounds {
			pl.wake = m.cfg.Now()
			break
		}
		if !pl.setupSandbox && len(pl.stops) == 0 && len(pl.starts) == 0 && len(pl.removes) == 0 {
			break
		}
		if pl.setupSandbox {
			if syncErr = m.setupSandbox(ctx, pod, st); syncErr != nil {
				break
			}
			continue
		}
		m.stopAll(ctx, pod, pl.stops)
		for name, s := range pl.streaks {
			st.streaks[name] = s
		}
		for _, a := range pl.starts {
			m.start(ctx, pod, st, a)
		}
		for _, id := range pl.removes {
			if err := m.cfg.Runtime.RemoveContainer(ctx, id); err != nil {
				m.log.Warn("removing an old container instance failed", "pod", pod.Namespace+"/"+pod.Name, "id", id, "err", err)
			}
			m.stats.removes.Add(1)
		}
	}
	if m.cfg.Now().Sub(st.volumesAt) > m.cfg.VolumeRefresh && st.sandboxReady && !pl.teardown {
		m.refreshVolumes(ctx, pod, st)
	}

	// Probes follow the running instances.
	m.prober.sync(pod, runningOf(observed), st.podIP)

	if err := m.writeStatus(ctx, pod, st, observed); err != nil {
		return time.Time{}, err
	}
	if pl.teardown && !st.tornDown {
		if err := m.teardown(ctx, pod.UID, pod, observed); err != nil {
			return time.Time{}, err
		}
		st.tornDown = true
	}
	if pl.deletePod && !st.deleted {
		uid := pod.UID
		err := m.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr(int64(0)),
			Preconditions:      &metav1.Preconditions{UID: &uid},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return time.Time{}, fmt.Errorf("pods: delete stopped pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		st.deleted = true
		m.stats.deletes.Add(1)
	}
	return pl.wake, syncErr
}

// snapshot gathers decide's inputs.
func (m *Manager) snapshot(pod *corev1.Pod, st *podState, observed []runtime.ContainerStatus) *snapshot {
	return &snapshot{
		pod:          pod,
		observed:     observed,
		probes:       m.prober.results(pod.UID),
		streaks:      st.streaks,
		failures:     st.failures,
		sandboxReady: st.sandboxReady && !st.tornDown,
		podIP:        st.podIP,
		hostIP:       m.cfg.NodeIP,
		now:          m.cfg.Now(),
		backoff:      backoffConfig{Base: m.cfg.BackoffBase, Max: m.cfg.BackoffMax, Reset: m.cfg.BackoffReset},
	}
}

// observed lists the pod's instances.
func (m *Manager) observed(ctx context.Context, uid types.UID) ([]runtime.ContainerStatus, error) {
	all, err := m.cfg.Runtime.ListContainers(ctx)
	if err != nil {
		return nil, fmt.Errorf("pods: list containers: %w", err)
	}
	var mine []runtime.ContainerStatus
	for _, c := range all {
		if c.PodUID == uid {
			mine = append(mine, c)
		}
	}
	return mine, nil
}

func runningOf(observed []runtime.ContainerStatus) []runtime.ContainerStatus {
	var r []runtime.ContainerStatus
	for _, o := range observed {
		if o.State == runtime.StateRunning {
			r = append(r, o)
		}
	}
	return r
}

// newer: resourceVersion a is later than b (Kelson's are store
// revisions; anything else counts as newer).
func newer(a, b string) bool {
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return a != b
	}
	return x > y
}

// writeStatus writes the pod's status when it differs from the API's.
func (m *Manager) writeStatus(ctx context.Context, pod *corev1.Pod, st *podState, observed []runtime.ContainerStatus) error {
	pods := m.cfg.Client.CoreV1().Pods(pod.Namespace)
	for attempt := 1; ; attempt++ {
		status := computeStatus(m.snapshot(pod, st, observed))
		if equality.Semantic.DeepEqual(&status, &pod.Status) {
			return nil
		}
		up := pod.DeepCopy()
		up.Status = status
		got, err := pods.UpdateStatus(ctx, up, metav1.UpdateOptions{})
		switch {
		case err == nil:
			st.written = got
			st.statusWrites.Add(1)
			m.stats.statusWrites.Add(1)
			m.markShown(pod, st)
			return nil
		case apierrors.IsNotFound(err):
			return nil
		case apierrors.IsConflict(err) && attempt < maxStatusAttempts:
			m.stats.statusConflicts.Add(1)
			fresh, gerr := pods.Get(ctx, pod.Name, metav1.GetOptions{})
			if gerr != nil {
				if apierrors.IsNotFound(gerr) {
					return nil
				}
				return fmt.Errorf("pods: get pod %s/%s after a conflict: %w", pod.Namespace, pod.Name, gerr)
			}
			if fresh.UID != pod.UID {
				return nil
			}
			if fresh.Status.StartTime == nil {
				fresh.Status.StartTime = pod.Status.StartTime
			}
			pod = fresh
		default:
			return fmt.Errorf("pods: update status of %s/%s: %w", pod.Namespace, pod.Name, err)
		}
	}
}

// markShown: the failed pulls are now reported; the next status says
// ImagePullBackOff, and the Events say so once.
func (m *Manager) markShown(pod *corev1.Pod, st *podState) {
	for name, f := range st.failures {
		if f.Shown || f.Reason != reasonErrImagePull {
			continue
		}
		f.Shown = true
		st.failures[name] = f
		ref := containerRefByName(pod, name)
		m.recorder.Eventf(ref, corev1.EventTypeNormal, "BackOff", "Back-off pulling image %q", f.Image)
		m.recorder.Eventf(ref, corev1.EventTypeWarning, "Failed", "Error: %s", reasonImagePullBackOff)
	}
}

func containerRefByName(pod *corev1.Pod, name string) *corev1.ObjectReference {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return containerRef(pod, name, true)
		}
	}
	return containerRef(pod, name, false)
}

// recordBackoffs records a BackOff Event once per waiting restart.
func (m *Manager) recordBackoffs(pod *corev1.Pod, st *podState, notes []backoffNote) {
	for _, n := range notes {
		if a, ok := st.backoffEvents[n.name]; ok && a == n.attempt {
			continue
		}
		st.backoffEvents[n.name] = n.attempt
		m.recorder.Eventf(containerRef(pod, n.name, n.init), corev1.EventTypeWarning, "BackOff",
			"Back-off restarting failed container %s in pod %s", n.name, podDesc(pod))
	}
}

// setupSandbox sets up the pod's network, volumes and files.
func (m *Manager) setupSandbox(ctx context.Context, pod *corev1.Pod, st *podState) error {
	ref := podRef(pod)
	if pod.Spec.HostNetwork {
		st.attachment, st.podIP = podnet.Attachment{IP: m.cfg.NodeIP}, m.cfg.NodeIP
	} else {
		att, err := m.cfg.Network.Setup(ctx, podnet.PodRef{UID: pod.UID, Namespace: pod.Namespace, Name: pod.Name})
		if err != nil {
			m.recorder.Eventf(ref, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			return fmt.Errorf("pods: set up the network of %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		st.attachment, st.podIP = att, att.IP
	}
	mounts, err := m.cfg.Volumes.Setup(ctx, pod)
	if err != nil {
		m.recorder.Eventf(ref, corev1.EventTypeWarning, "FailedMount", "MountVolume.SetUp failed: %v", err)
		return fmt.Errorf("pods: set up the volumes of %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	files, err := m.cfg.Env.Files(ctx, pod, st.podIP)
	if err != nil {
		m.recorder.Eventf(ref, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to write the pod's hosts and resolv.conf: %v", err)
		return fmt.Errorf("pods: write the hosts and resolv.conf of %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	st.mounts, st.files, st.volumesAt = mounts, files, m.cfg.Now()
	st.sandboxReady, st.tornDown = true, false
	return nil
}

// refreshVolumes sets the volumes up again so configMap and secret
// contents follow their objects.
func (m *Manager) refreshVolumes(ctx context.Context, pod *corev1.Pod, st *podState) {
	mounts, err := m.cfg.Volumes.Setup(ctx, pod)
	st.volumesAt = m.cfg.Now()
	if err != nil {
		m.log.Warn("refreshing volumes failed", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		return
	}
	st.mounts = mounts
}

// stopAll stops instances at once, each after its preStop hook.
func (m *Manager) stopAll(ctx context.Context, pod *corev1.Pod, stops []stopAction) {
	var wg sync.WaitGroup
	for _, s := range stops {
		wg.Go(func() {
			m.stats.stops.Add(1)
			m.recorder.Eventf(containerRef(pod, s.name, s.init), corev1.EventTypeNormal, "Killing", "%s", s.message)
			deadline := m.cfg.Now().Add(s.grace)
			if s.preStop {
				m.runPreStop(ctx, pod, s)
			}
			grace := max(deadline.Sub(m.cfg.Now()), 0)
			if err := m.cfg.Runtime.StopContainer(ctx, s.id, grace); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				m.log.Warn("stopping a container failed", "pod", pod.Namespace+"/"+pod.Name, "container", s.name, "err", err)
			}
		})
	}
	wg.Wait()
}

// runPreStop runs the container's preStop hook within the grace period.
func (m *Manager) runPreStop(ctx context.Context, pod *corev1.Pod, s stopAction) {
	c := findContainer(pod, s.name)
	if c == nil || c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		return
	}
	hctx, cancel := context.WithTimeout(ctx, s.grace)
	defer cancel()
	st := m.state(pod.UID)
	if err := runHandler(hctx, m.cfg.Runtime, s.id, st.podIP, c, c.Lifecycle.PreStop); err != nil {
		m.recorder.Eventf(containerRef(pod, s.name, s.init), corev1.EventTypeWarning, "FailedPreStopHook",
			"PreStopHook failed: %v", err)
	}
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}

// teardown removes the pod's network and volumes (its instances stay,
// exited, for their logs and statuses until the pod goes).
func (m *Manager) teardown(ctx context.Context, uid types.UID, pod *corev1.Pod, observed []runtime.ContainerStatus) error {
	for _, o := range observed {
		if o.State == runtime.StateCreated {
			_ = m.cfg.Runtime.RemoveContainer(ctx, o.ID)
		}
	}
	m.prober.forget(uid)
	if pod == nil || !pod.Spec.HostNetwork {
		if err := m.cfg.Network.Teardown(ctx, uid); err != nil {
			return fmt.Errorf("pods: tear down the network of pod %s: %w", uid, err)
		}
	}
	if err := m.cfg.Volumes.Teardown(ctx, uid); err != nil {
		return fmt.Errorf("pods: tear down the volumes of pod %s: %w", uid, err)
	}
	if st := m.existingState(uid); st != nil {
		st.sandboxReady = false
	}
	return nil
}

func (m *Manager) existingState(uid types.UID) *podState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.states[uid]
}

// orphanGrace bounds the stop of an orphan's instances when its pod's
// own grace period is unknown.
const orphanGrace = 2 * time.Second

// cleanupOrphan stops and removes every instance of a pod the API no
// longer has, tears down its network and volumes and removes its logs.
func (m *Manager) cleanupOrphan(ctx context.Context, uid types.UID) error {
	st := m.existingState(uid)
	observed, err := m.observed(ctx, uid)
	if err != nil {
		return err
	}
	grace := orphanGrace
	var ns, name string
	if st != nil && st.pod != nil {
		grace = podGrace(st.pod)
		if st.pod.DeletionGracePeriodSeconds != nil {
			grace = deletionGrace(st.pod)
		}
		ns, name = st.pod.Namespace, st.pod.Name
	}
	if len(observed) > 0 || st != nil {
		m.stats.orphans.Add(1)
	}
	for _, o := range observed {
		ns, name = o.PodNamespace, o.PodName
		if o.State != runtime.StateExited {
			if err := m.cfg.Runtime.StopContainer(ctx, o.ID, grace); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				return fmt.Errorf("pods: stop orphaned container %s: %w", o.ID, err)
			}
			m.stats.stops.Add(1)
		}
		if err := m.cfg.Runtime.RemoveContainer(ctx, o.ID); err != nil {
			return fmt.Errorf("pods: remove orphaned container %s: %w", o.ID, err)
		}
		m.stats.removes.Add(1)
	}
	var pod *corev1.Pod
	if st != nil {
		pod = st.pod
	}
	if st == nil || !st.tornDown || len(observed) > 0 {
		if err := m.teardown(ctx, uid, pod, nil); err != nil {
			return err
		}
	} else {
		m.prober.forget(uid)
	}
	if ns != "" && name != "" {
		dir := filepath.Join(m.cfg.LogRoot, ns+"_"+name+"_"+string(uid))
		if err := os.RemoveAll(dir); err != nil {
			m.log.Warn("removing a pod's logs failed", "dir", dir, "err", err)
		}
	}
	m.forget(uid)
	return nil
}
