// Package nodeagent is Kelson's kubelet and kube-proxy: it registers a
// Node, keeps its Lease fresh, runs the pods bound to it through
// containerd in a network namespace each, serves their logs and exec, and
// programs Services (nftables) and cluster DNS. `kelson agent` runs it
// alone; `kelson server` runs one in-process unless --disable-agent.
//
// # Layout
//
//	nodeagent            Config, Agent.Run: wires the parts below to the API (client-go)
//	nodeagent/node       Node registration, status, capacity, Lease renewal, usage reports
//	nodeagent/runtime    the container runtime contract (Runtime, ContainerSpec, ContainerStatus)
//	nodeagent/runtime/containerd  Runtime over containerd's Go client; the containerd child process
//	nodeagent/podnet     a network namespace per pod: bridge, veth, persisted IPAM, host-gw routes
//	nodeagent/pods       the pod worker: pure decisions (what to start, kill, report) + a thin loop
//	nodeagent/volumes    emptyDir, hostPath, configMap, secret, downwardAPI, PVC directories
//	nodeagent/podenv     a container's environment: env, envFrom, service links, resolv.conf, hosts
//	nodeagent/stream     the agent's HTTPS port: container logs and exec
//	nodeagent/proxy      Services as nftables rules from Services and EndpointSlices
//	nodeagent/dns        cluster DNS (<svc>.<ns>.svc.cluster.local)
//
// The agent speaks to the API only (never to the store), like every
// controller. Everything a pod worker decides is a pure function of the
// pod, what the runtime reports and the clock; containerd, netlink and
// nftables calls live in thin loops around those functions.
//
// # Conventions shared with kelson sim
//
// The Node is named by --node-name (default the host name), labelled
// kubernetes.io/hostname, kubernetes.io/os and kubernetes.io/arch; its
// Lease lives in kube-node-lease with the node's name and is renewed every
// 10 s (duration 40 s); its pod CIDR comes from the server's nodeipam
// controller (a /24 of --cluster-cidr). A node the nodelifecycle
// controller marked Unknown turns Ready again at the agent's next status
// post.
package nodeagent
