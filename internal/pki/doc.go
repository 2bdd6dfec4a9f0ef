// Package pki creates and keeps the certificates of a `kelson server`: a
// cluster CA, the API's serving certificate, a client certificate per
// component, the service account signing key, plus a kubeconfig; and it
// signs the certificates of node agents (Authority).
//
// Files, in Config.Dir (DATA_DIR/tls for `kelson server`):
//
//	ca.crt, ca.key                        cluster CA, ECDSA P-256, 10 years
//	serving-kube-apiserver.crt, .key      the API's serving certificate, 1 year
//	client-admin.crt, .key                CN system:admin, O system:masters, 1 year
//	client-controller-manager.crt, .key   CN system:kube-controller-manager
//	client-scheduler.crt, .key            CN system:kube-scheduler
//	client-kube-apiserver-kubelet-client.crt, .key
//	                                      CN kube-apiserver-kubelet-client,
//	                                      O system:masters: the API calling agents
//	service-account.key                   ECDSA P-256 (PEM), signs service
//	                                      account tokens; made once, never
//	                                      replaced by Ensure (every server
//	                                      holds the same one)
//	etcd-ca.crt, .key                     the store CA, ECDSA P-256, 10 years
//	                                      (store.go, EnsureStoreCA): a CA of its
//	                                      own, made once like the cluster CA, so
//	                                      that no certificate of the cluster CA
//	                                      (nodes', users') opens the store
//	etcd-peer.crt, .key                   the store member's peer certificate
//	etcd-server.crt, .key                 its serving certificate for clients
//	etcd-client.crt, .key                 CN root, for etcdctl (made only for
//	                                      https:// member URLs, by
//	                                      StoreAuthority.EnsureStore; all three
//	                                      signed by the store CA)
//
// Keys are written 0600, certificates 0644, each file atomically (a temp
// file renamed over it). Ensure reuses what it finds and replaces only what
// no longer fits:
//
//   - the CA is made once; a CA that is expired, half present (a key without
//     its certificate or the other way round) or unreadable is an error that
//     names the files: Ensure never replaces a CA on its own, since every
//     kubeconfig handed out trusts it.
//   - a leaf certificate is made again when it is missing or unreadable, was
//     not signed by the CA, expires within RenewBefore (90 days), or — for the
//     serving certificate — when its SANs differ from the wanted ones (a new
//     --tls-san, hostname, bind address or service CIDR).
//
// The pure parts (the SAN list, the certificate templates, the renewal
// decision, the kubeconfig text) are plain functions; IO is in ensure.go.
//
// A running server keeps its certificates current without a restart
// (reload.go): a Reloader runs Ensure again every CheckInterval (12 h;
// sooner when a leaf falls due before, CheckDelay) and swaps in what
// changed (Changed), so that the TLS callbacks GetCertificate and
// GetKubeletClientCertificate return the renewed certificates from the
// next handshake on; Bundle.Due says which leaves are due and why. The CA
// is never rotated automatically, neither at start nor while running:
// CAExpiring warns in its last RenewBefore, and a CA replaced or removed
// on disk under a running server is refused (ErrCA: no check makes a new
// CA or signs with another) until it restarts.
//
// Node certificates (node.go): Authority.SignNodeClient signs a node's
// public key as CN system:node:<name>, O system:nodes, for client
// authentication; Authority.SignNodeServing as the same subject for server
// authentication with the node's names and addresses (NodeServingSANs).
// Both last LeafValidity. Only a validated node name (a DNS-1123
// subdomain, CheckNodeName) goes into a subject; nothing else a node asks
// for does. CheckNodeCert decides what a node does with a certificate it
// holds: keep it, renew it (valid, but less than a third of its lifetime
// left: RenewalDue), or treat it as unusable (missing, expired, another
// CA or node) and join again with its token.
//
// Example:
//
//	sans, err := pki.ServingSANs(hostname, net.ParseIP("127.0.0.1"), serviceCIDR, tlsSANs)
//	...
//	b, err := pki.Ensure(pki.Config{Dir: "default.kelson/tls", SANs: sans})
//	...
//	kc := pki.Kubeconfig(pki.ServerURL(nil, 6443), b.CAPEM, b.AdminCertPEM, b.AdminKeyPEM)
//	err = pki.WriteKubeconfig("default.kelson/admin.kubeconfig", kc)
//
//	// a node's client certificate, from its public key
//	certPEM, err := b.Authority.SignNodeClient("node-b", pub, time.Now())
package pki
