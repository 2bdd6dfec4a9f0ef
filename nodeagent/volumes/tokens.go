package volumes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ErrTokenRequest: the API refused or failed a service account token
// request (wrapped with the API's error). The pod worker reports
// FailedMount and retries, as for a missing Secret.
var ErrTokenRequest = errors.New("service account token request failed")

// Service account token projections, as kubelet treats them.
const (
	// DefaultTokenExpiration is a source's expirationSeconds when it names
	// none (the API's default too).
	DefaultTokenExpiration int64 = 3600
	// MinTokenExpiration is the shortest lifetime the agent asks for; a
	// source asking for less (the API validation refuses it) gets this.
	MinTokenExpiration int64 = 600
	// MaxTokenAge is how long a token is used at most before it is
	// replaced, however long it is valid.
	MaxTokenAge = 24 * time.Hour
)

// TokenSource is what one serviceAccountToken projection asks the API
// for, for the pod being set up: the token of ServiceAccount for Audience
// ("": the API's own audiences), valid ExpirationSeconds, bound to the
// pod. Two sources of one pod asking the same share one token.
type TokenSource struct {
	ServiceAccount    string
	Audience          string
	ExpirationSeconds int64
}

// tokenSourceOf is the request a projection makes for pod: the pod's
// service account ("default" when the pod names none), the source's
// audience, its expirationSeconds defaulted and raised to the minimum.
func tokenSourceOf(pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) TokenSource {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	exp := DefaultTokenExpiration
	if p.ExpirationSeconds != nil && *p.ExpirationSeconds > 0 {
		exp = *p.ExpirationSeconds
	}
	exp = max(exp, MinTokenExpiration)
	return TokenSource{ServiceAccount: sa, Audience: p.Audience, ExpirationSeconds: exp}
}

// tokenRequest is the TokenRequest for src, bound to pod.
func tokenRequest(pod *corev1.Pod, src TokenSource) *authenticationv1.TokenRequest {
	exp := src.ExpirationSeconds
	var aud []string
	if src.Audience != "" {
		aud = []string{src.Audience}
	}
	return &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         aud,
		ExpirationSeconds: &exp,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
}

// issuedToken is a token the API gave and what the agent knows of its
// lifetime. The token is a credential: it is never logged, and never put
// into an error or an Event.
type issuedToken struct {
	token string
	// received is when the answer arrived (the agent's clock); expires
	// is the API's expirationTimestamp (else received plus the
	// requested lifetime).
	received, expires time.Time
}

// TokenRefreshAt is when a token received at received and expiring at
// expires is replaced: once 80% of its lifetime has passed, or MaxTokenAge
// after it was received, whichever comes first. A token whose expiry is
// not after its receipt is replaced at once.
func TokenRefreshAt(received, expires time.Time) time.Time {
	life := expires.Sub(received)
	if life <= 0 {
		return received
	}
	at := received.Add(life / 10 * 8)
	if limit := received.Add(MaxTokenAge); limit.Before(at) {
		at = limit
	}
	return at
}

// tokenDue says whether t must be replaced at now.
func tokenDue(now time.Time, t issuedToken) bool {
	return !now.Before(TokenRefreshAt(t.received, t.expires))
}

// readTokens finds the pod's serviceAccountToken projections and puts a
// token for each into objs: the one issued before while it is not due,
// else a new one from the API. A request that fails while the previous
// token is still valid keeps that token (logged; retried at the next
// Setup); without a valid token the failure is recorded in
// objs.TokenErrors and fails the volume.
func (m *Manager) readTokens(ctx context.Context, pod *corev1.Pod, objs *Objects) {
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken == nil {
				continue
			}
			src := tokenSourceOf(pod, s.ServiceAccountToken)
			if _, done := objs.Tokens[src]; done {
				continue
			}
			if _, done := objs.TokenErrors[src]; done {
				continue
			}
			tok, err := m.token(ctx, pod, src)
			if err != nil {
				objs.TokenErrors[src] = err
				continue
			}
			objs.Tokens[src] = tok
		}
	}
}

// token returns the pod's token for src, asking the API when the cached
// one is missing or due. Called with the pod's lock held (one Setup per
// pod at a time), never with m.mu held across the request.
func (m *Manager) token(ctx context.Context, pod *corev1.Pod, src TokenSource) (string, error) {
	now := m.cfg.Now()
	m.mu.Lock()
	cur, ok := m.tokens[pod.UID][src]
	m.mu.Unlock()
	if ok && !tokenDue(now, cur) {
		return cur.token, nil
	}
	req := tokenRequest(pod, src)
	tr, err := m.cfg.Client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, src.ServiceAccount, req, metav1.CreateOptions{})
	if err == nil && (tr == nil || tr.Status.Token == "") {
		err = errors.New("the API answered without a token")
	}
	if err != nil {
		err = fmt.Errorf("%w: serviceaccount %s/%s (audience %q, %ds): %w", ErrTokenRequest, pod.Namespace, src.ServiceAccount, audienceName(src.Audience), src.ExpirationSeconds, err)
		if ok && now.Before(cur.expires) {
			m.log.Warn("refreshing a service account token failed; the current token stays until it expires",
				"pod", pod.Namespace+"/"+pod.Name, "expires", cur.expires.UTC().Format(time.RFC3339), "err", err)
			return cur.token, nil
		}
		return "", err
	}
	received := m.cfg.Now()
	expires := tr.Status.ExpirationTimestamp.Time
	if expires.IsZero() {
		expires = received.Add(time.Duration(src.ExpirationSeconds) * time.Second)
	}
	it := issuedToken{token: tr.Status.Token, received: received, expires: expires}
	m.mu.Lock()
	if m.tokens[pod.UID] == nil {
		m.tokens[pod.UID] = map[TokenSource]issuedToken{}
	}
	m.tokens[pod.UID][src] = it
	m.mu.Unlock()
	m.log.Debug("service account token issued", "pod", pod.Namespace+"/"+pod.Name, "serviceaccount", src.ServiceAccount,
		"audience", audienceName(src.Audience), "expires", expires.UTC().Format(time.RFC3339),
		"refresh_at", TokenRefreshAt(received, expires).UTC().Format(time.RFC3339))
	return it.token, nil
}

// forgetTokens drops the tokens issued for the pod with uid.
func (m *Manager) forgetTokens(uid types.UID) {
	m.mu.Lock()
	delete(m.tokens, uid)
	m.mu.Unlock()
}

func audienceName(a string) string {
	if a == "" {
		return "(the API's)"
	}
	return a
}

// tokenPayload is a serviceAccountToken source's file: the token objs
// holds for it, at its path with the volume's mode.
func tokenPayload(pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection, def fs.FileMode, objs Objects) (Payload, error) {
	if p.Path == "" {
		return nil, errors.New("serviceAccountToken source has no path")
	}
	src := tokenSourceOf(pod, p)
	if err, failed := objs.TokenErrors[src]; failed {
		return nil, fmt.Errorf("serviceAccountToken source (path %q): %w", p.Path, err)
	}
	tok, ok := objs.Tokens[src]
	if !ok {
		return nil, fmt.Errorf("serviceAccountToken source (path %q): %w: no token was requested for serviceaccount %s/%s", p.Path, ErrTokenRequest, pod.Namespace, src.ServiceAccount)
	}
	return Payload{p.Path: File{Data: []byte(tok), Mode: def}}, nil
}
