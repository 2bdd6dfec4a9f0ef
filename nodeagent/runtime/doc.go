// Package runtime is the contract between the pod worker and a container
// runtime: what one container instance is (ContainerSpec), what the
// runtime reports of it (ContainerStatus), and the operations (Runtime).
// nodeagent/runtime/containerd implements it over containerd; unit tests
// of the pod worker use a fake.
//
// A container instance is one run of one container of one pod: the pod's
// UID, the container's name and its attempt (0 for the first run, then
// the restart count). Every instance has its own ID and its own log file;
// an exited instance stays listed until RemoveContainer, so that its exit
// code and its log (kubectl logs --previous) remain.
//
// Example (the pod worker's use):
//
//	ref, _ := rt.EnsureImage(ctx, "httpd", corev1.PullIfNotPresent)
//	id, _ := rt.CreateContainer(ctx, runtime.ContainerSpec{PodUID: uid, Name: "httpd", Image: "httpd",
//		NetNSPath: att.NetNSPath, LogPath: runtime.LogPath(root, ns, pod, uid, "httpd", 0)})
//	_ = rt.StartContainer(ctx, id)
//	<-rt.Exits() // Exit{ID: id, PodUID: uid} when it ends
package runtime
