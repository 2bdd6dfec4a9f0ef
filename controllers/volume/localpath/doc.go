// Package localpath is Kelson's default storage, k3s's "local-storage":
// the StorageClass local-path (the cluster default, WaitForFirstConsumer,
// reclaim policy Delete, provisioner "rancher.io/local-path" — k3s's
// value, so manifests and tools made for k3s find what they expect) and
// its provisioner, which makes node-local hostPath volumes.
//
// Model. Wanted (pure) says whether a claim should get a volume now and
// on which node: the binder asked this provisioner
// (volume.kubernetes.io/storage-provisioner) and a node was selected
// (volume.kubernetes.io/selected-node, by the scheduler or by the binder
// from the consuming pod's nodeName). Volume (pure) is the volume it gets:
//
//	name       pvc-<claim uid>
//	hostPath   <BaseDir>/<namespace>_<claim>_<volume>, type DirectoryOrCreate
//	           (BaseDir default /var/lib/kelson/storage)
//	affinity   required kubernetes.io/hostname In [the node's hostname label]
//	capacity   the claim's request; access modes its own; class local-path
//	claimRef   the claim (with its UID): the binder completes the binding
//
// The Provisioner loop creates the class at start if it is missing (an
// existing one is left as an administrator left it), creates volumes with
// Events Provisioning / ProvisioningSucceeded / ProvisioningFailed on the
// claim, and deletes released volumes it made whose policy is Delete.
//
// Design: the controller runs on a control-plane server and cannot make
// or remove directories on other machines. The directory is created by
// the node agent on the volume's node when it first mounts it
// (DirectoryOrCreate), and removed by the node agent when no volume names
// it any more (after the provisioner deleted the volume object). Until a
// node agent does that cleanup, deleted volumes' data stays on disk.
//
// Not supported (a ProvisioningFailed Event says so): volumeMode Block,
// access modes other than ReadWriteOnce/ReadWriteOncePod, and classes
// with Immediate binding (a node-local volume needs its node).
package localpath
