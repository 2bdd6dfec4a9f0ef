// Package volumes prepares a pod's volumes on the node and says what
// each container mounts. It implements the pod worker's Volumes
// (nodeagent/pods).
//
// # Model
//
// Setup turns pod.spec.volumes into directories on the node and
// volumeMounts into runtime.Mounts (host path → container path). What the
// agent makes lives under ROOT/<pod uid>/volumes/<plugin>/<volume>, the
// plugin names being kubelet's:
//
//	emptyDir            kubernetes.io~empty-dir   a directory (0777); medium Memory: a tmpfs
//	                                              (sizeLimit, else the pod's memory limits, else allocatable)
//	configMap           kubernetes.io~configmap   files written atomically (below)
//	secret              kubernetes.io~secret      the same, on a tmpfs (never on the node's disk)
//	downwardAPI         kubernetes.io~downward-api metadata.* and resourceFieldRef files
//	projected           kubernetes.io~projected   configMap, secret, downwardAPI and serviceAccountToken
//	                                              sources, on a tmpfs
//	hostPath            (the path itself)         checked per type (Directory, FileOrCreate, ...)
//	persistentVolumeClaim (the volume's path)     the bound hostPath or local PersistentVolume
//	ephemeral           (the volume's path)       the claim <pod>-<volume> owned by the pod
//
// Contents of configMap, secret, downwardAPI and projected volumes are
// computed by pure functions (configMapPayload, secretPayload,
// downwardPayload, tokenPayload, projectedPayload) from the objects (and
// service account tokens) read beforehand,
// then written the way kubelet's atomic writer does:
//
//	cfg/..2024_05_01_10_00_00.123456/key   the files of one version
//	cfg/..data -> ..2024_05_01_10_00_00.123456
//	cfg/key    -> ..data/key
//
// A new version is a new timestamped directory; ..data is swapped to it
// with a rename, so a reader sees the old or the new set, never a mix.
// Setup runs on every sync of the pod, so a ConfigMap's change reaches
// running containers (except those mounting it with subPath, as in
// Kubernetes).
//
// Container mounts: subPath, or subPathExpr expanded with the
// container's environment (Config.ContainerEnv; without it, literal env
// values and fieldRef values), relative and without "..", resolved on
// disk without letting a symlink lead out of the volume; missing subPath
// directories are made in emptyDir, hostPath and claim volumes.
// configMap, secret, downwardAPI and projected volumes are always mounted
// read-only, as a claim marked readOnly.
//
// # Invariants
//
//   - Teardown never deletes anything outside ROOT/<uid>: it unmounts the
//     tmpfs mounts under it, refuses to go on while a mount is left, and
//     removes the tree without following symlinks or entering another
//     filesystem. hostPath and persistent volumes are never below the
//     pod's directory (the runtime binds their own paths), so their
//     contents survive.
//   - A missing, non-optional ConfigMap, Secret, key or claim is an error
//     naming the volume and the object (errors.Is ErrNotFound); the pod
//     worker turns it into a FailedMount Event and retries.
//   - A serviceAccountToken projection is a token of the pod's service
//     account asked of the API (TokenRequest: audience, else the API's
//     audiences; expirationSeconds, default 3600, at least 600; bound to
//     the pod by kind, name and UID), written with the volume's other
//     files (0644 unless defaultMode says otherwise) in the same ..data
//     swap. The Manager keeps each pod's tokens until Teardown and asks
//     again once 80% of a token's lifetime has passed or after 24 h,
//     whichever is first (TokenRefreshAt): the pod worker's volume
//     refresh (every minute) rewrites the file in place, containers are
//     not restarted. A request that fails without a valid token fails the
//     volume (errors.Is ErrTokenRequest: FailedMount, retried); one that
//     fails while the current token is still valid keeps it. A token is
//     never logged nor put in an error.
//   - A projected kube-root-ca.crt that does not exist (the
//     root-ca-cert-publisher controller did not write it) is skipped with
//     a Warning; clusterTrustBundle and podCertificate sources likewise.
//
// # Example
//
//	m, _ := volumes.New(volumes.Config{Root: "/var/lib/kelson/pods", Client: cs, NodeName: "n1"})
//	mounts, err := m.Setup(ctx, pod) // mounts["web"] = [{HostPath: .../kubernetes.io~configmap/cfg, ContainerPath: /etc/cfg, ReadOnly: true}]
//	...
//	err = m.Teardown(ctx, pod.UID)
package volumes
