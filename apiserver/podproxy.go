package apiserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kelson-dev/kelson/apiserver/admission"
)

// pods/log and pods/exec are served by the node agent that runs the pod
// (nodeagent/stream, kubelet's port API); the apiserver finds the pod's
// node and proxies:
//
//	GET  .../pods/P/log?container=C&follow=...  ->  GET https://NODEIP:PORT/containerLogs/NS/P/C?follow=...
//	GET|POST .../pods/P/exec?command=...        ->  the same upgrade request to https://NODEIP:PORT/exec/NS/P/C?...
//
// NODEIP is the node's InternalIP (else ExternalIP), PORT its
// status.daemonEndpoints.kubeletEndpoint.Port (10250 when unset). The
// agent's errors come back as the Status of the same code; a log body is
// flushed as it arrives (kubectl logs -f); exec goes through
// httputil.ReverseProxy, which carries the WebSocket upgrade both ways.
//
// The connection is mutually authenticated TLS with Config.AgentTLS: the
// API server presents its client certificate (CN
// kube-apiserver-kubelet-client) and verifies the agent's certificate
// against the cluster CA for NODEIP. An agent whose certificate fails
// that, or that refuses the client certificate, is a 502 saying which;
// an agent that cannot be reached at all is a 503.

// defaultKubeletPort is the agent port of a node that does not report one.
const defaultKubeletPort = 10250

// defaultContainerAnnotation names the container kubectl and the
// apiserver pick when a request names none.
const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// InsecureAgentTLS is the TLS client config the apiserver uses towards
// node agents when Config.AgentTLS is nil — the explicit default of tests
// whose agents serve self-signed certificates: it does NOT verify the
// agent's certificate (InsecureSkipVerify) and presents no client
// certificate, so an agent that authenticates its callers refuses it.
// Anyone who can take over a node's address can read the logs and exec
// sessions sent there. `kelson server` passes a real AgentTLS instead.
func InsecureAgentTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // see the doc comment
}

// agentHandshakeTimeout bounds a TLS handshake with an agent.
const agentHandshakeTimeout = 10 * time.Second

// agentTransport is the apiserver's HTTP client side towards agents:
// HTTP/1.1 (exec upgrades the connection), never through a proxy from
// the environment. tc (Config.AgentTLS) is used as given — its client
// certificate, its RootCAs (the cluster CA) — except ServerName: every
// connection verifies the agent's certificate against the address it
// dials (the node's InternalIP or ExternalIP, matched against the
// certificate's IP SANs; a DNS name against its DNS SANs), so one node's
// certificate cannot answer for another's address.
func agentTransport(tc *tls.Config) *http.Transport {
	if tc == nil {
		tc = InsecureAgentTLS()
	}
	tc = tc.Clone()
	tc.NextProtos = []string{"http/1.1"}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext: dialer.DialContext,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialAgentTLS(ctx, dialer, tc, network, addr)
		},
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   agentHandshakeTimeout,
		ResponseHeaderTimeout: time.Minute,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
}

// dialAgentTLS connects to an agent at addr and completes the TLS
// handshake, verifying the agent's certificate for addr's host. A failed
// handshake is an *agentTLSError.
func dialAgentTLS(ctx context.Context, d *net.Dialer, tc *tls.Config, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := tc.Clone()
	c.ServerName = host
	conn := tls.Client(raw, c)
	hctx, cancel := context.WithTimeout(ctx, agentHandshakeTimeout)
	defer cancel()
	if err := conn.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, &agentTLSError{err: err}
	}
	return conn, nil
}

// agentTLSError is a failed TLS handshake with an agent.
type agentTLSError struct{ err error }

func (e *agentTLSError) Error() string { return "TLS handshake: " + e.err.Error() }
func (e *agentTLSError) Unwrap() error { return e.err }

// servePodStream answers pods/log, pods/exec and pods/attach.
func (s *Server) servePodStream(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) error {
	switch ri.Subresource {
	case "attach":
		return badRequest("pods/attach is not supported yet by Kelson: use kubectl exec (pods/exec) for a shell, kubectl logs -f for the output")
	case "log":
		if ri.Verb != "get" {
			return apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "pods/log"}, r.Method)
		}
	case "exec":
		if ri.Verb != "get" && ri.Verb != "create" {
			return apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "pods/exec"}, r.Method)
		}
	}
	if ri.Subresource != "log" {
		if err := s.admitOther(r.Context(), admission.Connect, res, ri.Subresource, ri.Namespace, ri.Name, nil, nil, false); err != nil {
			return err
		}
	}
	q := r.URL.Query()
	obj, err := s.get(r.Context(), res, ri.Namespace, ri.Name)
	if err != nil {
		return err
	}
	pod := obj.(*corev1.Pod)
	container, err := podContainer(pod, q.Get("container"))
	if err != nil {
		return err
	}
	if ri.Subresource == "exec" && (pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed) {
		return badRequest("cannot exec into a container in a completed pod; current phase is %s", pod.Status.Phase)
	}
	if pod.Spec.NodeName == "" {
		return badRequest("pod %s does not have a host assigned", pod.Name)
	}
	nodes := s.lookup(schema.GroupVersionResource{Version: "v1", Resource: "nodes"})
	nobj, err := s.get(r.Context(), nodes, "", pod.Spec.NodeName)
	if err != nil {
		return err
	}
	base, err := agentURL(nobj.(*corev1.Node))
	if err != nil {
		return err
	}
	path := "/" + url.PathEscape(pod.Namespace) + "/" + url.PathEscape(pod.Name) + "/" + url.PathEscape(container)
	if ri.Subresource == "log" {
		target := base + "/containerLogs" + path + "?" + forwardQuery(q, "follow", "previous", "timestamps", "tailLines", "limitBytes", "sinceSeconds", "sinceTime")
		return s.proxyLog(w, r, pod, target)
	}
	target, err := url.Parse(base + "/exec" + path + "?" + forwardQuery(q, "command", "stdin", "stdout", "stderr", "tty"))
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("the agent URL of node %s: %w", pod.Spec.NodeName, err))
	}
	s.proxyExec(w, r, pod, target)
	return nil
}

// podContainer is the container a request means: the one named (it must
// be in the pod), else the pod's only container, else the one the
// default-container annotation names; otherwise the request must name
// one, as kube-apiserver words it.
func podContainer(pod *corev1.Pod, name string) (string, error) {
	var names, inits []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.InitContainers {
		inits = append(inits, c.Name)
	}
	has := func(n string) bool {
		for _, c := range pod.Spec.Containers {
			if c.Name == n {
				return true
			}
		}
		for _, c := range pod.Spec.InitContainers {
			if c.Name == n {
				return true
			}
		}
		for _, c := range pod.Spec.EphemeralContainers {
			if c.Name == n {
				return true
			}
		}
		return false
	}
	if name != "" {
		if !has(name) {
			return "", badRequest("container %s is not valid for pod %s", name, pod.Name)
		}
		return name, nil
	}
	switch {
	case len(names) == 1:
		return names[0], nil
	case len(names) == 0:
		return "", badRequest("pod %s does not have a container", pod.Name)
	}
	if d := pod.Annotations[defaultContainerAnnotation]; d != "" && has(d) {
		return d, nil
	}
	msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, strings.Join(names, " "))
	if len(inits) > 0 {
		msg += fmt.Sprintf(" or one of the init containers: [%s]", strings.Join(inits, " "))
	}
	return "", badRequest("%s", msg)
}

// agentURL is https://IP:PORT of the node's agent.
func agentURL(node *corev1.Node) (string, error) {
	var ip string
	for _, want := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP} {
		for _, a := range node.Status.Addresses {
			if a.Type == want && net.ParseIP(a.Address) != nil {
				ip = a.Address
				break
			}
		}
		if ip != "" {
			break
		}
	}
	if ip == "" {
		return "", apierrors.NewServiceUnavailable(fmt.Sprintf(
			"node %s reports no InternalIP or ExternalIP address: its agent cannot be reached (is the node's agent running and posting its status?)", node.Name))
	}
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	if port <= 0 || port > 65535 {
		port = defaultKubeletPort
	}
	return "https://" + net.JoinHostPort(ip, strconv.Itoa(int(port))), nil
}

// forwardQuery keeps the named parameters of q (all their values).
func forwardQuery(q url.Values, names ...string) string {
	out := url.Values{}
	for _, n := range names {
		if v, ok := q[n]; ok {
			out[n] = v
		}
	}
	return out.Encode()
}

// proxyLog streams the agent's log response, flushing every chunk.
func (s *Server) proxyLog(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, target string) error {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, target, nil)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("the agent URL of node %s: %w", pod.Spec.NodeName, err))
	}
	resp, err := s.agents.RoundTrip(req)
	if err != nil {
		return unreachableAgent(pod, target, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return agentError(resp, pod)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil // the client went away
			}
			rc.Flush()
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && r.Context().Err() == nil {
				s.log.Debug("pods/log: the agent's stream broke", "pod", pod.Namespace+"/"+pod.Name, "err", err)
			}
			return nil // the status is sent: the client sees the body end
		}
	}
}

// proxyExec hands the (upgrade) request to the agent and, once upgraded,
// copies both directions until either side closes.
func (s *Server) proxyExec(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, target *url.URL) {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = target.Host
			// The user's credentials are for the apiserver, not the agent.
			for _, h := range []string{"Authorization", "Cookie", "Proxy-Authorization"} {
				pr.Out.Header.Del(h)
			}
		},
		Transport:     s.agents,
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode == http.StatusSwitchingProtocols || resp.StatusCode/100 == 2 {
				return nil
			}
			return agentError(resp, pod)
		},
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			var se *apierrors.StatusError
			if !errors.As(err, &se) {
				err = unreachableAgent(pod, target.Scheme+"://"+target.Host, err)
			}
			s.writeError(w, req, err)
		},
	}
	rp.ServeHTTP(w, r)
}

// agentError turns an agent's error response into the Status of the same
// code: the agent's own Status when it sent one, else its text.
func agentError(resp *http.Response, pod *corev1.Pod) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var st metav1.Status
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" && st.Message != "" {
		if st.Code == 0 {
			st.Code = int32(resp.StatusCode)
		}
		st.Status = metav1.StatusFailure
		return &apierrors.StatusError{ErrStatus: st}
	}
	msg := string(bytes.TrimSpace(body))
	if msg == "" {
		msg = fmt.Sprintf("the agent of node %s answered %s", pod.Spec.NodeName, resp.Status)
	}
	reason := metav1.StatusReasonInternalError
	switch resp.StatusCode {
	case http.StatusBadRequest:
		reason = metav1.StatusReasonBadRequest
	case http.StatusNotFound:
		reason = metav1.StatusReasonNotFound
	case http.StatusForbidden:
		reason = metav1.StatusReasonForbidden
	case http.StatusUnauthorized:
		reason = metav1.StatusReasonUnauthorized
	case http.StatusServiceUnavailable:
		reason = metav1.StatusReasonServiceUnavailable
	}
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure,
		Code: int32(resp.StatusCode), Reason: reason, Message: msg}}
}

// unreachableAgent is the error for an agent that did not answer: 502
// when TLS failed — the agent's certificate is not one this server
// trusts for the node's address, or the agent refused this server's
// client certificate — else 503.
func unreachableAgent(pod *corev1.Pod, target string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	switch agentTLSProblem(err) {
	case tlsAgentUntrusted:
		return badGateway(fmt.Sprintf(
			"the agent of node %s at %s presented a certificate this API server does not trust (%v): an agent must serve a certificate signed by the cluster CA for the node's address",
			pod.Spec.NodeName, target, err))
	case tlsClientRefused:
		return badGateway(fmt.Sprintf(
			"the agent of node %s at %s refused this API server's client certificate (%v): the agent accepts only a certificate from the cluster CA with CN kube-apiserver-kubelet-client or group system:masters",
			pod.Spec.NodeName, target, err))
	case tlsOther:
		return badGateway(fmt.Sprintf("TLS with the agent of node %s at %s failed: %v", pod.Spec.NodeName, target, err))
	}
	return apierrors.NewServiceUnavailable(fmt.Sprintf(
		"cannot reach the agent of node %s at %s (is its agent running, and is its port open to the apiserver?): %v",
		pod.Spec.NodeName, target, err))
}

// TLS problems with an agent, as agentTLSProblem tells them apart.
type tlsProblem int

const (
	tlsNone           tlsProblem = iota
	tlsAgentUntrusted            // the agent's certificate failed verification
	tlsClientRefused             // the agent sent an alert about our certificate
	tlsOther                     // another handshake failure
)

// agentTLSProblem classifies an error of a request to an agent.
func agentTLSProblem(err error) tlsProblem {
	var cve *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &cve) || errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid) {
		return tlsAgentUntrusted
	}
	var alert tls.AlertError
	if errors.As(err, &alert) || strings.Contains(err.Error(), "remote error: tls: ") {
		// TLS 1.3: the agent's verdict on our certificate arrives after
		// the handshake, on the first read.
		return tlsClientRefused
	}
	var hs *agentTLSError
	if errors.As(err, &hs) && !errors.Is(err, context.DeadlineExceeded) {
		return tlsOther
	}
	return tlsNone
}

// badGateway is a 502 Status: the agent (upstream of this proxy) could
// not be used.
func badGateway(msg string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure,
		Code: http.StatusBadGateway, Reason: metav1.StatusReasonInternalError, Message: msg}}
}
