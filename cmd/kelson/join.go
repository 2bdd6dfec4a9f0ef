package main

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/internal/bootstraptoken"
	"github.com/kelson-dev/kelson/internal/pki"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Joining a node: the protocol between `kelson agent --server --token`
// and a server.
//
//	1. GET  /cacerts                     (no authentication) the cluster CA's
//	   PEM; the agent checks its SHA-256 against the token's K10<hash>.
//	2. POST /v1-kelson/node-credentials  over TLS verified with that CA, body
//	   a nodeCredentialsRequest (JSON): the node's name, host names and
//	   addresses, and two PEM public keys made by the agent. The caller is
//	   one of:
//	     - Authorization: Bearer <secret of the server token K10..::server:<secret>>
//	     - Authorization: Bearer <id>.<secret>, a bootstrap token whose Secret
//	       kube-system/bootstrap-token-<id> is valid (bootstraptoken.Authenticate)
//	     - no bearer, a client certificate system:node:<name> from the cluster
//	       CA (renewal): only for the same node name
//	   The answer (nodeCredentialsResponse, JSON) holds the node's client
//	   certificate (CN system:node:<name>, O system:nodes), its serving
//	   certificate (the node's names and addresses) and the CA.
//	   401: no or a bad credential; 403: a node renewing another node's
//	   name, or asking for nothing but the API server's names; 400: a bad
//	   request (name, address, key); 413: a body over 64 KiB; 429: too many
//	   requests at once.
//
// The agent then talks to the API with its client certificate only.

// nodeCredentialsPath is where a server signs node certificates.
const nodeCredentialsPath = "/v1-kelson/node-credentials"

// maxJoinBody bounds a node credentials request.
const maxJoinBody = 64 << 10

// maxJoinInFlight bounds the node credentials requests served at once
// (each signs two certificates, and a bootstrap token costs a read of
// the API); more get 429.
const maxJoinInFlight = 8

// nodeCredentialsRequest is what a node sends to get its certificates.
type nodeCredentialsRequest struct {
	// NodeName is the Node's name (a DNS-1123 subdomain).
	NodeName string `json:"nodeName"`
	// Hostnames and Addresses are more names of the serving certificate
	// (the node's host name, its InternalIPs).
	Hostnames []string `json:"hostnames,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
	// ClientPublicKey and ServingPublicKey: PEM "PUBLIC KEY" (PKIX),
	// ECDSA P-256/P-384 or RSA 2048-8192.
	ClientPublicKey  string `json:"clientPublicKey"`
	ServingPublicKey string `json:"servingPublicKey"`
}

// nodeCredentialsResponse is the server's answer: PEM certificates.
type nodeCredentialsResponse struct {
	ClientCertificate  string `json:"clientCertificate"`
	ServingCertificate string `json:"servingCertificate"`
	CA                 string `json:"ca"`
	// Dropped lists requested serving names the server left out (they
	// are the API server's own names).
	Dropped []string `json:"dropped,omitempty"`
}

// errForbidden marks a request a valid caller may not make (403).
var errForbidden = errors.New("forbidden")

// signNodeCredentials checks req and signs its keys with ca at now. Names
// and addresses in apiSANs (the API server's own) are left out of the
// serving certificate, so that a node cannot pose as the API server.
func signNodeCredentials(ca *pki.Authority, req nodeCredentialsRequest, apiSANs pki.SANs, now time.Time) (*nodeCredentialsResponse, error) {
	if err := pki.CheckNodeName(req.NodeName); err != nil {
		return nil, err
	}
	var ips []net.IP
	for _, a := range req.Addresses {
		ip := net.ParseIP(strings.TrimSpace(a))
		if ip == nil {
			return nil, fmt.Errorf("%w: address %q is not an IP address", pki.ErrNodeRequest, a)
		}
		ips = append(ips, ip)
	}
	sans, err := pki.NodeServingSANs(req.NodeName, req.Hostnames, ips)
	if err != nil {
		return nil, err
	}
	sans, dropped := withoutSANs(sans, apiSANs)
	if len(sans.DNS) == 0 && len(sans.IPs) == 0 {
		return nil, fmt.Errorf("%w: node %s asks for a serving certificate of the API server's names only (%s)",
			errForbidden, req.NodeName, strings.Join(dropped, ", "))
	}
	clientPub, err := pki.ParsePublicKeyPEM([]byte(req.ClientPublicKey))
	if err != nil {
		return nil, fmt.Errorf("clientPublicKey: %w", err)
	}
	servingPub, err := pki.ParsePublicKeyPEM([]byte(req.ServingPublicKey))
	if err != nil {
		return nil, fmt.Errorf("servingPublicKey: %w", err)
	}
	client, err := ca.SignNodeClient(req.NodeName, clientPub, now)
	if err != nil {
		return nil, err
	}
	serving, err := ca.SignNodeServing(req.NodeName, sans, servingPub, now)
	if err != nil {
		return nil, err
	}
	return &nodeCredentialsResponse{ClientCertificate: string(client), ServingCertificate: string(serving),
		CA: string(ca.CertPEM), Dropped: dropped}, nil
}

// withoutSANs returns s without the names and addresses of drop, and what
// it left out.
func withoutSANs(s, drop pki.SANs) (pki.SANs, []string) {
	var out pki.SANs
	var dropped []string
	for _, d := range s.DNS {
		if slices.Contains(drop.DNS, strings.ToLower(d)) {
			dropped = append(dropped, d)
		} else {
			out.DNS = append(out.DNS, d)
		}
	}
	for _, ip := range s.IPs {
		if slices.ContainsFunc(drop.IPs, ip.Equal) {
			dropped = append(dropped, ip.String())
		} else {
			out.IPs = append(out.IPs, ip)
		}
	}
	return out, dropped
}

// joinCaller is who asks for node certificates.
type joinCaller struct {
	// how: "server token", "bootstrap token <id>" or "node certificate".
	how string
	// node is the node a node certificate belongs to ("" for tokens: they
	// may ask for any node name).
	node string
}

// joinServer serves nodeCredentialsPath. Its fields are set once.
type joinServer struct {
	// authority signs the certificates.
	authority *pki.Authority
	// serverSecret is the server token's secret.
	serverSecret string
	// roots verifies renewing nodes' client certificates.
	roots *x509.CertPool
	// tokenSecret reads kube-system/bootstrap-token-<id> (through the
	// server's in-process admin client).
	tokenSecret func(ctx context.Context, id string) (*corev1.Secret, error)
	// apiSANs are the API server's serving names, never given to a node.
	apiSANs pki.SANs
	now     func() time.Time
	log     *slog.Logger
	// slots bounds the requests in flight (maxJoinInFlight).
	slots chan struct{}
}

func newJoinServer(ca *pki.Authority, serverToken string, tokenSecret func(context.Context, string) (*corev1.Secret, error),
	apiSANs pki.SANs, log *slog.Logger) *joinServer {
	_, secret, _ := strings.Cut(serverToken, "::server:")
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	return &joinServer{authority: ca, serverSecret: secret, roots: roots, tokenSecret: tokenSecret, apiSANs: apiSANs,
		now: time.Now, log: log, slots: make(chan struct{}, maxJoinInFlight)}
}

// httpError is an answer with a status code and a message for the caller.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func unauthorized(format string, args ...any) *httpError {
	return &httpError{http.StatusUnauthorized, fmt.Sprintf(format, args...)}
}

// authenticate finds the caller: a bearer token (the server token's secret
// or a bootstrap token), else a client certificate of a node.
func (j *joinServer) authenticate(r *http.Request) (joinCaller, *httpError) {
	if h := r.Header.Get("Authorization"); h != "" {
		bearer, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || bearer == "" {
			return joinCaller{}, unauthorized("Unauthorized: want Authorization: Bearer <token>")
		}
		if bootstraptoken.IsToken(bearer) {
			return j.authenticateBootstrap(r.Context(), bearer)
		}
		if j.serverSecret != "" && subtle.ConstantTimeCompare([]byte(bearer), []byte(j.serverSecret)) == 1 {
			return joinCaller{how: "server token"}, nil
		}
		return joinCaller{}, unauthorized("Unauthorized: the token is not this cluster's: use the server's DATA_DIR/token or one from `kelson token create`")
	}
	u, ok, err := authn.X509{Roots: j.roots}.Authenticate(r)
	if err != nil {
		return joinCaller{}, unauthorized("Unauthorized: the client certificate is not valid (%v): join again with --token", err)
	}
	if !ok {
		return joinCaller{}, unauthorized("Unauthorized: no credential: send a join token (kelson agent --token) or a node's client certificate")
	}
	node, isNode := strings.CutPrefix(u.Name, pki.NodeUserPrefix)
	if !isNode || !u.InGroup(pki.NodesGroup) || node == "" {
		return joinCaller{}, &httpError{http.StatusForbidden, fmt.Sprintf("Forbidden: user %q is not a node; only nodes renew node certificates", u.Name)}
	}
	return joinCaller{how: "node certificate", node: node}, nil
}

// authenticateBootstrap checks a bootstrap token against its Secret.
func (j *joinServer) authenticateBootstrap(ctx context.Context, bearer string) (joinCaller, *httpError) {
	tok, err := bootstraptoken.Parse(bearer)
	if err != nil {
		return joinCaller{}, unauthorized("Unauthorized: %v", err)
	}
	if j.tokenSecret == nil {
		return joinCaller{}, unauthorized("Unauthorized: this server does not take bootstrap tokens")
	}
	sec, err := j.tokenSecret(ctx, tok.ID)
	if apierrors.IsNotFound(err) {
		return joinCaller{}, unauthorized("Unauthorized: bootstrap token %s does not exist (deleted or expired): create one with `kelson token create`", tok.ID)
	}
	if err != nil {
		j.log.Error("node credentials: read the bootstrap token's Secret", "token_id", tok.ID, "err", err)
		return joinCaller{}, &httpError{http.StatusServiceUnavailable, "Service Unavailable: the bootstrap token cannot be checked now; retry"}
	}
	if _, _, err := bootstraptoken.Authenticate(sec, tok, j.now()); err != nil {
		return joinCaller{}, unauthorized("Unauthorized: %v", err)
	}
	return joinCaller{how: "bootstrap token " + tok.ID}, nil
}

// ServeHTTP answers POST nodeCredentialsPath.
func (j *joinServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJoinError(w, &httpError{http.StatusMethodNotAllowed, "Method Not Allowed: POST a node credentials request"})
		return
	}
	select {
	case j.slots <- struct{}{}:
		defer func() { <-j.slots }()
	default:
		w.Header().Set("Retry-After", "1")
		writeJoinError(w, &httpError{http.StatusTooManyRequests, "Too Many Requests: retry in a second"})
		return
	}
	caller, herr := j.authenticate(r)
	if herr != nil {
		j.log.Info("node credentials refused", "remote", r.RemoteAddr, "code", herr.code, "reason", herr.msg)
		writeJoinError(w, herr)
		return
	}
	var req nodeCredentialsRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJoinBody))
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJoinError(w, &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("Request Entity Too Large: at most %d bytes", maxJoinBody)})
			return
		}
		writeJoinError(w, &httpError{http.StatusBadRequest, "Bad Request: the body is not a node credentials request (JSON): " + err.Error()})
		return
	}
	if caller.node != "" && caller.node != req.NodeName {
		writeJoinError(w, &httpError{http.StatusForbidden, fmt.Sprintf("Forbidden: node %q may renew only its own certificates, not node %q's",
			caller.node, req.NodeName)})
		return
	}
	resp, err := signNodeCredentials(j.authority, req, j.apiSANs, j.now())
	switch {
	case errors.Is(err, errForbidden):
		writeJoinError(w, &httpError{http.StatusForbidden, "Forbidden: " + err.Error()})
		return
	case err != nil:
		writeJoinError(w, &httpError{http.StatusBadRequest, "Bad Request: " + err.Error()})
		return
	}
	j.log.Info("issued node certificates", "node", req.NodeName, "caller", caller.how, "remote", r.RemoteAddr, "dropped", resp.Dropped)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// writeJoinError answers e as text.
func writeJoinError(w http.ResponseWriter, e *httpError) {
	http.Error(w, e.msg, e.code)
}

// withJoin serves the cluster CA's certificate at /cacerts (public:
// joining agents fetch it before they trust the server, and check its
// hash against their token), node certificates at nodeCredentialsPath,
// the cluster's secrets for joining servers at serverSecretsPath, and
// everything else with api.
func withJoin(api http.Handler, caPEM []byte, join, secrets http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/cacerts" && r.Method == http.MethodGet:
			w.Header().Set("Content-Type", "application/x-pem-file")
			_, _ = w.Write(caPEM)
		case r.URL.Path == nodeCredentialsPath && join != nil:
			join.ServeHTTP(w, r)
		case r.URL.Path == serverSecretsPath && secrets != nil:
			secrets.ServeHTTP(w, r)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// joinToken is a parsed --token: the CA's hash and one credential.
type joinToken struct {
	// CAHash is the SHA-256 of the CA's PEM, lower-case hex.
	CAHash string
	// ServerSecret is set for a server token (K10<hash>::server:<secret>).
	ServerSecret string
	// Bootstrap is set for a bootstrap token (K10<hash>::<id>.<secret>).
	Bootstrap *bootstraptoken.Token
}

// bearer is what the token sends as Authorization: Bearer.
func (t joinToken) bearer() string {
	if t.Bootstrap != nil {
		return t.Bootstrap.String()
	}
	return t.ServerSecret
}

// parseToken reads a join token: K10<sha256 of the CA's PEM, hex>::
// followed by server:<secret> (the server's DATA_DIR/token) or
// <id>.<secret> (a bootstrap token from `kelson token create`).
func parseToken(token string) (joinToken, error) {
	const want = "want K10<hash>::server:<secret> (the server's DATA_DIR/token) or K10<hash>::<id>.<secret> (from kelson token create)"
	rest, ok := strings.CutPrefix(strings.TrimSpace(token), "K10")
	hash, cred, ok2 := strings.Cut(rest, "::")
	if !ok || !ok2 || len(hash) != 64 {
		return joinToken{}, usagef("--token: not a kelson join token (%s)", want)
	}
	if _, err := hex.DecodeString(hash); err != nil {
		return joinToken{}, usagef("--token: the CA hash is not hex (%s)", want)
	}
	t := joinToken{CAHash: strings.ToLower(hash)}
	if secret, ok := strings.CutPrefix(cred, "server:"); ok {
		if secret == "" {
			return joinToken{}, usagef("--token: the server secret is empty (%s)", want)
		}
		t.ServerSecret = secret
		return t, nil
	}
	bt, err := bootstraptoken.Parse(cred)
	if err != nil {
		return joinToken{}, usagef("--token: %v (%s)", err, want)
	}
	t.Bootstrap = &bt
	return t, nil
}
