package pods

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
)

// start carries out one startAction: the image, the environment, then
// create and start, with kubelet's Events. A failure is remembered in
// st.failures (the container waits with its reason, and is tried again
// after a back-off).
func (m *Manager) start(ctx context.Context, pod *corev1.Pod, st *podState, a startAction) {
	c := findContainer(pod, a.name)
	if c == nil {
		return
	}
	ref := containerRef(pod, a.name, a.init)
	fail := func(reason, msg, image string) {
		f := st.failures[a.name]
		f.Reason, f.Message, f.Image = reason, msg, image
		f.Count++
		f.At, f.Shown = m.cfg.Now(), false
		st.failures[a.name] = f
	}

	policy := pullPolicy(c)
	present := false
	if ic, ok := m.cfg.Runtime.(ImageChecker); ok && policy != corev1.PullAlways {
		present, _ = ic.HasImage(ctx, c.Image)
	}
	if present {
		m.recorder.Eventf(ref, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
	} else {
		m.recorder.Eventf(ref, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	}
	began := time.Now()
	if _, err := m.cfg.Runtime.EnsureImage(ctx, c.Image, policy); err != nil {
		if ctx.Err() != nil {
			return
		}
		m.recorder.Eventf(ref, corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %v", c.Image, err)
		m.recorder.Eventf(ref, corev1.EventTypeWarning, "Failed", "Error: %s", reasonErrImagePull)
		fail(reasonErrImagePull, err.Error(), c.Image)
		return
	}
	if !present {
		d := time.Since(began).Round(time.Millisecond)
		m.recorder.Eventf(ref, corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %v (%v including waiting)", c.Image, d, d)
	}

	env, err := m.cfg.Env.Env(ctx, withAddresses(pod, st.podIP, m.cfg.NodeIP), c)
	if err != nil {
		m.recorder.Eventf(ref, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		fail("CreateContainerConfigError", err.Error(), "")
		return
	}
	spec := m.containerSpec(pod, st, c, a, env)
	id, err := m.cfg.Runtime.CreateContainer(ctx, spec)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		m.recorder.Eventf(ref, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		fail("CreateContainerError", err.Error(), "")
		return
	}
	m.recorder.Eventf(ref, corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	if err := m.cfg.Runtime.StartContainer(ctx, id); err != nil {
		if ctx.Err() != nil {
			return
		}
		m.recorder.Eventf(ref, corev1.EventTypeWarning, "Failed", "Error: failed to start container %q: %v", c.Name, err)
		if rerr := m.cfg.Runtime.RemoveContainer(ctx, id); rerr != nil && !errors.Is(rerr, runtime.ErrNotFound) {
			m.log.Warn("removing a container that failed to start failed", "id", id, "err", rerr)
		}
		fail("RunContainerError", err.Error(), "")
		return
	}
	m.stats.starts.Add(1)
	delete(st.failures, a.name)
	m.recorder.Eventf(ref, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		hctx, cancel := context.WithTimeout(ctx, podGrace(pod)+time.Second)
		err := runHandler(hctx, m.cfg.Runtime, id, st.podIP, c, c.Lifecycle.PostStart)
		cancel()
		if err != nil {
			m.recorder.Eventf(ref, corev1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed: %v", err)
			m.recorder.Eventf(ref, corev1.EventTypeNormal, "Killing", "FailedPostStartHook")
			if err := m.cfg.Runtime.StopContainer(ctx, id, podGrace(pod)); err != nil {
				m.log.Warn("stopping a container whose postStart hook failed failed", "id", id, "err", err)
			}
		}
	}
}

// pullPolicy is the container's, defaulted as the API does: Always for
// :latest or untagged images, IfNotPresent otherwise.
func pullPolicy(c *corev1.Container) corev1.PullPolicy {
	if c.ImagePullPolicy != "" {
		return c.ImagePullPolicy
	}
	img := c.Image
	if strings.Contains(img, "@") {
		return corev1.PullIfNotPresent
	}
	slash := strings.LastIndex(img, "/")
	colon := strings.LastIndex(img, ":")
	if colon <= slash || strings.HasSuffix(img, ":latest") {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// containerSpec fills the runtime's spec for one instance.
func (m *Manager) containerSpec(pod *corev1.Pod, st *podState, c *corev1.Container, a startAction, env []string) runtime.ContainerSpec {
	mounts := append(append([]runtime.Mount(nil), st.files...), st.mounts[c.Name]...)
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	netns := st.attachment.NetNSPath
	if pod.Spec.HostNetwork {
		hostname, netns = m.cfg.NodeName, ""
	}
	spec := runtime.ContainerSpec{
		PodUID: pod.UID, PodNamespace: pod.Namespace, PodName: pod.Name,
		Name: c.Name, Attempt: a.attempt, Init: a.init,
		Image: c.Image, Command: c.Command, Args: c.Args, Env: env, WorkingDir: c.WorkingDir,
		Mounts: mounts, NetNSPath: netns, Hostname: hostname,
		Resources: resourcesOf(c),
		LogPath:   runtime.LogPath(m.cfg.LogRoot, pod.Namespace, pod.Name, pod.UID, c.Name, a.attempt),
		TTY:       c.TTY, Stdin: c.Stdin, StdinOnce: c.StdinOnce,
		Security: securityOf(pod, c),
	}
	if c.Lifecycle != nil && c.Lifecycle.StopSignal != nil {
		spec.StopSignal = string(*c.Lifecycle.StopSignal)
	}
	return spec
}

func resourcesOf(c *corev1.Container) runtime.Resources {
	var r runtime.Resources
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		r.CPURequestMilli = q.MilliValue()
	}
	if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		r.CPULimitMilli = q.MilliValue()
		if r.CPURequestMilli == 0 {
			r.CPURequestMilli = r.CPULimitMilli
		}
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.MemoryLimitBytes = q.Value()
	}
	return r
}

// securityOf merges the pod's and the container's security contexts (the
// container's wins).
func securityOf(pod *corev1.Pod, c *corev1.Container) runtime.Security {
	var s runtime.Security
	if psc := pod.Spec.SecurityContext; psc != nil {
		s.RunAsUser, s.RunAsGroup = psc.RunAsUser, psc.RunAsGroup
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			s.RunAsUser = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			s.RunAsGroup = sc.RunAsGroup
		}
		if sc.Privileged != nil {
			s.Privileged = *sc.Privileged
		}
		if sc.ReadOnlyRootFilesystem != nil {
			s.ReadOnlyRootFilesystem = *sc.ReadOnlyRootFilesystem
		}
		if caps := sc.Capabilities; caps != nil {
			for _, c := range caps.Add {
				s.AddCapabilities = append(s.AddCapabilities, string(c))
			}
			for _, c := range caps.Drop {
				s.DropCapabilities = append(s.DropCapabilities, string(c))
			}
		}
	}
	return s
}

// withAddresses is pod with its status' addresses filled in from the
// sandbox, for the downward API (status.podIP, status.hostIP): the first
// container starts before the status saying so is written.
func withAddresses(pod *corev1.Pod, podIP, hostIP netip.Addr) *corev1.Pod {
	if !podIP.IsValid() || pod.Status.PodIP == podIP.String() {
		return pod
	}
	p := pod.DeepCopy()
	p.Status.PodIP, p.Status.PodIPs = podIP.String(), []corev1.PodIP{{IP: podIP.String()}}
	if hostIP.IsValid() && p.Status.HostIP == "" {
		p.Status.HostIP, p.Status.HostIPs = hostIP.String(), []corev1.HostIP{{IP: hostIP.String()}}
	}
	return p
}
