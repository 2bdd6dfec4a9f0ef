// Package resourcequota keeps the status of ResourceQuotas, as
// kube-controller-manager's "resourcequota" controller does: status.hard
// mirrors spec.hard, status.used is what the namespace uses of each
// resource named there. Enforcement (refusing a create that would exceed
// hard) is admission in the API server, not this package.
//
// Model. Usage(quota, objects, now) is a pure function of one namespace's
// snapshot (pods, services, claims, and object counts per resource),
// table-tested; the Controller reads the snapshot from shared informers,
// recalculates a namespace's quotas when anything they count changes and
// all quotas every Resync (5 min), and writes status when it changed. It
// records no Events: usage is a measurement, not a decision.
//
// What is counted:
//
//	pods, count/pods            pods not Succeeded/Failed and not past their deletion grace
//	cpu, memory, ephemeral-storage, hugepages-*    = requests.<name>
//	requests.<name>, limits.<name>  the pods' sums: per pod, pod-level resources if set,
//	                            else max(Σ containers + sidecars, largest init step) + overhead
//	services, count/services    services.nodeports, services.loadbalancers
//	persistentvolumeclaims, requests.storage (max of request and allocated), and per
//	                            class <class>.storageclass.storage.k8s.io/{persistentvolumeclaims,requests.storage}
//	configmaps, secrets, resourcequotas, replicationcontrollers (always 0: not served)
//	count/<resource>.<group>    configmaps, secrets, serviceaccounts, resourcequotas,
//	                            deployments/replicasets/statefulsets/daemonsets.apps, jobs/cronjobs.batch,
//	                            horizontalpodautoscalers.autoscaling, poddisruptionbudgets.policy
//
// A name Kelson cannot count (count/ of another resource, a custom
// resource) is left out of status.used.
//
// Scopes (spec.scopes and spec.scopeSelector, all must match) select pods:
// Terminating (activeDeadlineSeconds set) / NotTerminating, BestEffort
// (no cpu or memory requests or limits anywhere) / NotBestEffort,
// PriorityClass (In, NotIn, Exists, DoesNotExist on
// priorityClassName) and CrossNamespacePodAffinity. A scoped quota counts
// only pod resources.
//
// What one pod, claim or service uses, the scopes and the quota names are
// internal/quota's, shared with the API server's ResourceQuota admission
// so that what admission charges and what this controller recomputes
// agree.
//
// Example: hard {pods: 10, requests.cpu: 4} over pods requesting 500m and
// 1 cpu, and a third that Succeeded → used {pods: 2, requests.cpu: 1500m}.
package resourcequota
