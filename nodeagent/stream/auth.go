package stream

import (
	"crypto/x509/pkix"
	"errors"
	"net/http"
	"slices"
	"strings"
)

// Callers of the agent's port, as kube-apiserver and kubelet name them.
const (
	// APIServerClientCN is the CommonName of the API server's client
	// certificate towards agents (kube-apiserver-kubelet-client).
	APIServerClientCN = "kube-apiserver-kubelet-client"
	// MastersGroup is the group (certificate Organization) whose members
	// may use every agent's port.
	MastersGroup = "system:masters"
)

// ErrForbidden: the caller's certificate is valid but names a user this
// agent does not serve (403).
var ErrForbidden = errors.New("forbidden")

// AuthorizeCaller decides whether the subject of a verified client
// certificate may use the agent's port: the API server's client
// (CN kube-apiserver-kubelet-client) or a member of system:masters (an
// Organization of the subject). Anyone else gets ErrForbidden, with a
// message naming the user and groups seen.
func AuthorizeCaller(subject pkix.Name) error {
	if subject.CommonName == APIServerClientCN || slices.Contains(subject.Organization, MastersGroup) {
		return nil
	}
	groups := "none"
	if len(subject.Organization) > 0 {
		groups = strings.Join(subject.Organization, ", ")
	}
	return kindErrorf(ErrForbidden, "Forbidden: user %q (groups: %s) may not use this node agent's API: it serves only the API server (%s) and group %s",
		subject.CommonName, groups, APIServerClientCN, MastersGroup)
}

// authorize checks r's caller when the server authenticates callers
// (Config.ClientCAs): its connection must carry a certificate chain
// verified against them, whose leaf AuthorizeCaller allows.
func (s *Server) authorize(r *http.Request) error {
	if s.cfg.ClientCAs == nil {
		return nil
	}
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return kindErrorf(ErrForbidden, "Forbidden: no verified client certificate: this node agent serves only callers with a certificate from the cluster CA")
	}
	leaf := r.TLS.VerifiedChains[0][0]
	return AuthorizeCaller(leaf.Subject)
}

// callerName is the CommonName of r's verified caller, for logs.
func callerName(r *http.Request) string {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		return r.TLS.VerifiedChains[0][0].Subject.CommonName
	}
	return "(unauthenticated)"
}
