package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kelson-dev/kelson/internal/pki"
)

// Servers of one cluster share the cluster CA, the store CA and the
// service account key: `kelson server --server URL --token SERVERTOKEN`
// fetches them from a running server before it makes its certificates, so
// every server's certificates and kubeconfig are trusted by every other,
// and the store members (each trusting only the store CA) by each other:
//
//	POST /v1-kelson/server-secrets   Authorization: Bearer <the server token's secret>
//	-> {"ca": PEM, "caKey": PEM, "serviceAccountKey": PEM, "storeCA": PEM, "storeCAKey": PEM}
//
// Only the server token (DATA_DIR/token) is accepted, never a bootstrap
// token or a certificate: it hands out the CAs' keys.
//
// Compatibility: a server of a kelson from before the store CA answers
// without storeCA; a joining server then fails, naming the cause (upgrade
// and restart that server: it makes its store CA at start), since the
// members of one store need one store CA and a CA made by the joining
// server would be refused by the others. A server that joined before the
// store CA (its DATA_DIR/tls holds the cluster CA but no etcd-ca.crt)
// fetches the store CA alone at its next start with --server.

const serverSecretsPath = "/v1-kelson/server-secrets"

// serverSecrets is the answer of serverSecretsPath.
type serverSecrets struct {
	CA                string `json:"ca"`
	CAKey             string `json:"caKey"`
	ServiceAccountKey string `json:"serviceAccountKey"`
	// StoreCA and StoreCAKey: the store CA (etcd-ca.crt, .key); absent
	// from a server older than the store CA.
	StoreCA    string `json:"storeCA,omitempty"`
	StoreCAKey string `json:"storeCAKey,omitempty"`
}

// serverSecretsHandler serves serverSecretsPath from the files in tlsDir.
type serverSecretsHandler struct {
	tlsDir string
	secret string
	log    *slog.Logger
	slots  chan struct{}
}

func newServerSecretsHandler(tlsDir, serverToken string, log *slog.Logger) *serverSecretsHandler {
	_, secret, _ := strings.Cut(serverToken, "::server:")
	return &serverSecretsHandler{tlsDir: tlsDir, secret: secret, log: log, slots: make(chan struct{}, 2)}
}

func (h *serverSecretsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Method Not Allowed: POST with the server token", http.StatusMethodNotAllowed)
		return
	}
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	default:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "Too Many Requests: retry in a second", http.StatusTooManyRequests)
		return
	}
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || h.secret == "" || subtle.ConstantTimeCompare([]byte(bearer), []byte(h.secret)) != 1 {
		h.log.Warn("server secrets refused", "remote", r.RemoteAddr)
		http.Error(w, "Unauthorized: only the server token (the first server's DATA_DIR/token) joins a server", http.StatusUnauthorized)
		return
	}
	var out serverSecrets
	for _, f := range []struct {
		name     string
		dst      *string
		optional bool
	}{{pki.CACertFile, &out.CA, false}, {pki.CAKeyFile, &out.CAKey, false}, {pki.ServiceAccountKeyFile, &out.ServiceAccountKey, false},
		{pki.StoreCACertFile, &out.StoreCA, true}, {pki.StoreCAKeyFile, &out.StoreCAKey, true}} {
		b, err := os.ReadFile(filepath.Join(h.tlsDir, f.name))
		if err != nil && !(f.optional && errors.Is(err, fs.ErrNotExist)) {
			h.log.Error("server secrets: read", "file", f.name, "err", err)
			http.Error(w, "Internal Server Error: the server cannot read its CA", http.StatusInternalServerError)
			return
		}
		*f.dst = string(b)
	}
	if (out.StoreCA == "") != (out.StoreCAKey == "") {
		h.log.Error("server secrets: the store CA is half present", "dir", h.tlsDir)
		http.Error(w, "Internal Server Error: the server cannot read its store CA", http.StatusInternalServerError)
		return
	}
	h.log.Info("handed the cluster CA, store CA and service account key to a joining server", "remote", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out)
}

// joinRetry bounds how long a joining server waits for the first one.
const joinRetry = 2 * time.Minute

// fetchServerSecrets writes the cluster CA, its key, the store CA, its
// key and the service account key of the server at url into tlsDir, and
// the token into DATA_DIR/token, unless tlsDir holds that CA already (then
// only a missing store CA is fetched). A CA of another cluster in tlsDir
// is an error, and so is a server that hands out no store CA.
func fetchServerSecrets(ctx context.Context, url, token, dataDir string, log *slog.Logger) error {
	tok, err := parseToken(token)
	if err != nil {
		return err
	}
	if tok.ServerSecret == "" {
		return usagef("--token: a server joins with the server token (the first server's DATA_DIR/token, K10...::server:...), not a bootstrap token")
	}
	tlsDir := filepath.Join(dataDir, "tls")
	storeOnly := false
	if have, err := os.ReadFile(filepath.Join(tlsDir, pki.CACertFile)); err == nil {
		if caHashOf(have) != tok.CAHash {
			return fmt.Errorf("%s holds another cluster's CA than the token's: remove %s to join %s", filepath.Join(tlsDir, pki.CACertFile), dataDir, url)
		}
		if !storeCAMissing(tlsDir) {
			return writeTokenOnce(dataDir, token)
		}
		storeOnly = true // joined before the store CA: fetch it now
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the cluster CA: %w", err)
	}
	sec, caPEM, err := askServerSecretsRetry(ctx, url, tok, tlsDir, log)
	if err != nil {
		return err
	}
	if err := checkServerSecrets(sec, caPEM, storeOnly); err != nil {
		return fmt.Errorf("join %s: %w", url, err)
	}
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		return fmt.Errorf("join %s: %w", url, err)
	}
	// Keys before certificates, the cluster CA's certificate last: a crash
	// before it leaves no CA, and the next start fetches again.
	type file struct {
		name, data string
		mode       os.FileMode
	}
	files := []file{{pki.StoreCAKeyFile, sec.StoreCAKey, 0o600}, {pki.StoreCACertFile, sec.StoreCA, 0o644}}
	if !storeOnly {
		files = append(files, file{pki.CAKeyFile, sec.CAKey, 0o600}, file{pki.ServiceAccountKeyFile, sec.ServiceAccountKey, 0o600},
			file{pki.CACertFile, sec.CA, 0o644})
	}
	for _, f := range files {
		if err := pki.WriteFileAtomic(filepath.Join(tlsDir, f.name), []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	if storeOnly {
		log.Info("fetched the cluster's store CA (this server joined before it existed)", "server", url, "dir", tlsDir)
	} else {
		log.Info("joined the cluster: its CAs and service account key are in place", "server", url, "dir", tlsDir)
	}
	return writeTokenOnce(dataDir, token)
}

// storeCAMissing reports whether neither file of the store CA is in
// tlsDir (a half present one is left to pki.EnsureStoreCA to refuse).
func storeCAMissing(tlsDir string) bool {
	_, certErr := os.Stat(filepath.Join(tlsDir, pki.StoreCACertFile))
	_, keyErr := os.Stat(filepath.Join(tlsDir, pki.StoreCAKeyFile))
	return errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist)
}

// errNoStoreCA: the server answered without a store CA.
var errNoStoreCA = errors.New("the server handed out no store CA: it runs a kelson from before the store CA; " +
	"upgrade it and restart it (it makes its store CA, DATA_DIR/tls/etcd-ca.crt, at start), then start this server again. " +
	"The members of one store need one store CA, so this server makes none of its own")

// checkServerSecrets checks an answer of serverSecretsPath: the cluster CA
// is the one of /cacerts (caPEM) and every CA and key reads; with
// storeOnly, only the store CA is checked. Pure.
func checkServerSecrets(sec *serverSecrets, caPEM []byte, storeOnly bool) error {
	if !bytes.Equal(bytes.TrimSpace([]byte(sec.CA)), bytes.TrimSpace(caPEM)) {
		return errors.New("it answered with another CA than its /cacerts")
	}
	if sec.StoreCA == "" && sec.StoreCAKey == "" {
		return errNoStoreCA
	}
	if _, err := pki.NewStoreAuthority([]byte(sec.StoreCA), []byte(sec.StoreCAKey)); err != nil {
		return fmt.Errorf("its store CA: %w", err)
	}
	if bytes.Equal(bytes.TrimSpace([]byte(sec.StoreCA)), bytes.TrimSpace(caPEM)) {
		return errors.New("its store CA is the cluster CA: the store would trust every certificate of the cluster CA; " +
			"remove DATA_DIR/tls/etcd-ca.crt and etcd-ca.key on that server and restart it to make a store CA of its own")
	}
	if storeOnly {
		return nil
	}
	if _, err := pki.NewAuthority([]byte(sec.CA), []byte(sec.CAKey)); err != nil {
		return fmt.Errorf("its CA: %w", err)
	}
	if _, err := pki.ParseServiceAccountKey([]byte(sec.ServiceAccountKey)); err != nil {
		return fmt.Errorf("its service account key: %w", err)
	}
	return nil
}

// askServerSecretsRetry asks the server at url for the secrets, retrying
// for joinRetry while it does not answer; it returns them with the
// cluster CA of its /cacerts.
func askServerSecretsRetry(ctx context.Context, url string, tok joinToken, tlsDir string, log *slog.Logger) (*serverSecrets, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, joinRetry)
	defer cancel()
	var sec *serverSecrets
	var caPEM []byte
	var err error
	for logged := false; ; logged = true {
		caPEM, err = fetchCA(ctx, url, tok.CAHash, tlsDir)
		if err == nil {
			sec, err = askServerSecrets(ctx, url, caPEM, tok.ServerSecret)
		}
		if err == nil || errors.Is(err, errJoinRefused) || strings.Contains(err.Error(), "does not match") {
			break
		}
		if !logged {
			log.Info("waiting for the server to join", "server", url, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("join %s: %w (is the first server running?)", url, err)
		case <-time.After(time.Second):
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("join %s: %w", url, err)
	}
	return sec, caPEM, nil
}

// writeTokenOnce makes DATA_DIR/token the cluster's server token, so that
// agents join this server with the same token.
func writeTokenOnce(dataDir, token string) error {
	path := filepath.Join(dataDir, "token")
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return pki.WriteFileAtomic(path, []byte(strings.TrimSpace(token)+"\n"), 0o600)
}

// askServerSecrets posts to serverSecretsPath over TLS verified with caPEM.
func askServerSecrets(ctx context.Context, url string, caPEM []byte, secret string) (*serverSecrets, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the cluster CA is not PEM")
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+serverSecretsPath, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%w: %s: %s", errJoinRefused, resp.Status, strings.TrimSpace(string(b)))
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var out serverSecrets
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("the answer is not JSON: %w", err)
	}
	return &out, nil
}
