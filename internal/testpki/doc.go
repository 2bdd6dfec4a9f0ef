// Package testpki makes throwaway certificate authorities and certificates
// for tests of TLS (the store's --cert-file and friends): a CA, and leaf
// certificates it signs for given host names and IPs, each written as PEM
// files into a test's directory. ECDSA P-256, valid for a day (Expired
// makes one that ended yesterday).
//
// Example:
//
//	ca := testpki.NewCA(t, t.TempDir(), "test-ca")
//	srv := ca.Issue(t, "member-a", "127.0.0.1", "localhost")
//	// srv.CertFile, srv.KeyFile; ca.CertFile for --trusted-ca-file
//	root := ca.Issue(t, "root")
//	cfg := ca.ClientTLS(t, &root) // a *tls.Config for a client
package testpki
