package authn

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
)

// Service account tokens, as Kubernetes' bound tokens: a JWT (ES256)
// naming the issuer, the service account (sub
// system:serviceaccount:<ns>:<name>), the audiences, a lifetime (iat, nbf,
// exp), an ID (jti) and, under "kubernetes.io", the account's and the
// bound objects' names and UIDs. A token is valid while its signature,
// issuer, audience and lifetime check and the service account and the
// bound pod, secret or node still exist with the UIDs it names.

// Defaults of ServiceAccountTokens.
const (
	DefaultIssuer = "https://kubernetes.default.svc.cluster.local"
	// DefaultLeeway is the clock skew allowed on exp and nbf (as the JWT
	// library kube-apiserver uses).
	DefaultLeeway = time.Minute
)

// Keys of User.Extra for service account tokens, as Kubernetes names them.
const (
	ExtraPodName      = "authentication.kubernetes.io/pod-name"
	ExtraPodUID       = "authentication.kubernetes.io/pod-uid"
	ExtraNodeName     = "authentication.kubernetes.io/node-name"
	ExtraNodeUID      = "authentication.kubernetes.io/node-uid"
	ExtraCredentialID = "authentication.kubernetes.io/credential-id"
)

// ErrServiceAccountToken wraps every refusal of a token with our issuer.
var ErrServiceAccountToken = errors.New("authn: service account token")

// ServiceAccountTokens issues and verifies service account tokens with one
// ECDSA P-256 key. Build it with NewServiceAccountTokens; safe for
// concurrent use.
type ServiceAccountTokens struct {
	issuer    string
	audiences []string
	key       crypto.Signer
	pub       *ecdsa.PublicKey
	kid       string
	lookup    Lookup
	now       func() time.Time
	leeway    time.Duration
}

// ServiceAccountConfig configures ServiceAccountTokens.
type ServiceAccountConfig struct {
	// Key signs tokens; an ECDSA P-256 key (ES256). Required.
	Key crypto.Signer
	// Issuer is the iss of issued tokens, and the only one verified.
	// Default DefaultIssuer.
	Issuer string
	// Audiences are the API server's own: a request's token must name
	// one. Default [Issuer].
	Audiences []string
	// Lookup finds the service accounts and bound objects. Required.
	Lookup Lookup
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Leeway is the clock skew allowed on exp and nbf. Default
	// DefaultLeeway; negative: none.
	Leeway time.Duration
}

// NewServiceAccountTokens checks cfg and returns the issuer and verifier.
func NewServiceAccountTokens(cfg ServiceAccountConfig) (*ServiceAccountTokens, error) {
	if cfg.Key == nil || cfg.Lookup == nil {
		return nil, errors.New("authn: service account tokens need a signing key and a lookup")
	}
	pub, err := checkES256Key(cfg.Key)
	if err != nil {
		return nil, err
	}
	kid, err := keyID(pub)
	if err != nil {
		return nil, err
	}
	t := &ServiceAccountTokens{issuer: cfg.Issuer, audiences: cfg.Audiences, key: cfg.Key, pub: pub, kid: kid,
		lookup: cfg.Lookup, now: cfg.Now, leeway: cfg.Leeway}
	if t.issuer == "" {
		t.issuer = DefaultIssuer
	}
	if len(t.audiences) == 0 {
		t.audiences = []string{t.issuer}
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.leeway == 0 {
		t.leeway = DefaultLeeway
	} else if t.leeway < 0 {
		t.leeway = 0
	}
	return t, nil
}

// Issuer is the iss of the tokens.
func (t *ServiceAccountTokens) Issuer() string { return t.issuer }

// Audiences are the API server's audiences (tokens' default aud).
func (t *ServiceAccountTokens) Audiences() []string { return append([]string(nil), t.audiences...) }

// PublicKey is the verification key; KeyID its kid.
func (t *ServiceAccountTokens) PublicKey() *ecdsa.PublicKey { return t.pub }

// KeyID is the kid of the tokens' header.
func (t *ServiceAccountTokens) KeyID() string { return t.kid }

// ObjectRef names an object by name and UID.
type ObjectRef struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// kubernetesClaims is the "kubernetes.io" claim.
type kubernetesClaims struct {
	Namespace      string     `json:"namespace"`
	ServiceAccount ObjectRef  `json:"serviceaccount"`
	Pod            *ObjectRef `json:"pod,omitempty"`
	Secret         *ObjectRef `json:"secret,omitempty"`
	Node           *ObjectRef `json:"node,omitempty"`
}

// claims are a token's payload as issued.
type claims struct {
	Issuer     string           `json:"iss"`
	Subject    string           `json:"sub"`
	Audience   []string         `json:"aud"`
	Expiry     int64            `json:"exp"`
	IssuedAt   int64            `json:"iat"`
	NotBefore  int64            `json:"nbf"`
	ID         string           `json:"jti"`
	Kubernetes kubernetesClaims `json:"kubernetes.io"`
}

// TokenSpec is what Issue puts in a token.
type TokenSpec struct {
	Namespace      string
	ServiceAccount ObjectRef
	// Audiences; default the API audiences.
	Audiences []string
	// Lifetime; must be positive (TokenRequest's defaults and bounds are
	// the caller's).
	Lifetime time.Duration
	// At most one of Pod and Secret; Node alone (a node-bound token) or
	// with Pod (the pod's node).
	Pod, Secret, Node *ObjectRef
}

// Issue signs a token for spec; it returns the token and its expiry.
func (t *ServiceAccountTokens) Issue(spec TokenSpec) (string, time.Time, error) {
	if spec.Namespace == "" || spec.ServiceAccount.Name == "" || spec.ServiceAccount.UID == "" {
		return "", time.Time{}, errors.New("authn: a service account token needs the account's namespace, name and UID")
	}
	if spec.Lifetime <= 0 {
		return "", time.Time{}, errors.New("authn: a service account token needs a positive lifetime")
	}
	if spec.Pod != nil && spec.Secret != nil {
		return "", time.Time{}, errors.New("authn: a token is bound to a pod or a secret, not both")
	}
	auds := spec.Audiences
	if len(auds) == 0 {
		auds = t.audiences
	}
	now := t.now()
	exp := now.Add(spec.Lifetime)
	c := claims{Issuer: t.issuer, Subject: ServiceAccountUser + spec.Namespace + ":" + spec.ServiceAccount.Name,
		Audience: auds, Expiry: exp.Unix(), IssuedAt: now.Unix(), NotBefore: now.Unix(), ID: string(uuid.NewUUID()),
		Kubernetes: kubernetesClaims{Namespace: spec.Namespace, ServiceAccount: spec.ServiceAccount,
			Pod: spec.Pod, Secret: spec.Secret, Node: spec.Node}}
	tok, err := signES256(t.key, t.kid, c)
	if err != nil {
		return "", time.Time{}, err
	}
	return tok, time.Unix(exp.Unix(), 0), nil
}

// AuthenticateToken implements Token for the API server's audiences, or
// those the context asks for (WithAudiences).
func (t *ServiceAccountTokens) AuthenticateToken(ctx context.Context, tok string) (*User, bool, error) {
	auds, ok := AudiencesFrom(ctx)
	if !ok {
		auds = t.audiences
	}
	u, _, claimed, err := t.Verify(ctx, tok, auds)
	return u, claimed, err
}

// Verify checks tok for one of audiences. A token that is not a JWT, or a
// JWT of another issuer, is not claimed (ok false, no error): another
// authenticator may know it. A JWT naming our issuer is claimed and either
// valid (its user, and the audiences of both the token and audiences) or
// an error saying why not.
func (t *ServiceAccountTokens) Verify(ctx context.Context, tok string, audiences []string) (*User, []string, bool, error) {
	j, err := parseJWS(tok)
	if err != nil {
		return nil, nil, false, nil
	}
	var iss struct {
		Iss any `json:"iss"`
	}
	if json.Unmarshal(j.payload, &iss) != nil || iss.Iss != t.issuer {
		return nil, nil, false, nil
	}
	c, err := t.checkToken(j, audiences)
	if err != nil {
		return nil, nil, false, err
	}
	u, err := t.checkObjects(ctx, c.claims)
	if err != nil {
		return nil, nil, false, err
	}
	return u, c.audiences, true, nil
}

type checkedClaims struct {
	claims    claims
	audiences []string
}

// checkToken verifies j's signature and claims (not the objects). Pure.
func (t *ServiceAccountTokens) checkToken(j *jws, audiences []string) (checkedClaims, error) {
	if err := j.verifyES256(t.pub); err != nil {
		return checkedClaims{}, fmt.Errorf("%w: %w", ErrServiceAccountToken, err)
	}
	c, err := decodeClaims(j.payload)
	if err != nil {
		return checkedClaims{}, fmt.Errorf("%w: %w", ErrServiceAccountToken, err)
	}
	now := t.now()
	if c.Expiry == 0 {
		return checkedClaims{}, fmt.Errorf("%w: no expiry (exp)", ErrServiceAccountToken)
	}
	if now.After(time.Unix(c.Expiry, 0).Add(t.leeway)) {
		return checkedClaims{}, fmt.Errorf("%w: expired at %s", ErrServiceAccountToken, time.Unix(c.Expiry, 0).UTC().Format(time.RFC3339))
	}
	if c.NotBefore != 0 && now.Add(t.leeway).Before(time.Unix(c.NotBefore, 0)) {
		return checkedClaims{}, fmt.Errorf("%w: not valid before %s", ErrServiceAccountToken, time.Unix(c.NotBefore, 0).UTC().Format(time.RFC3339))
	}
	auds := Intersect(c.Audience, audiences)
	if len(auds) == 0 {
		return checkedClaims{}, fmt.Errorf("%w: its audiences %q are not among %q", ErrServiceAccountToken, c.Audience, audiences)
	}
	k := &c.Kubernetes
	if k.Namespace == "" || k.ServiceAccount.Name == "" || k.ServiceAccount.UID == "" {
		return checkedClaims{}, fmt.Errorf("%w: no kubernetes.io service account claims", ErrServiceAccountToken)
	}
	if c.Subject != ServiceAccountUser+k.Namespace+":"+k.ServiceAccount.Name {
		return checkedClaims{}, fmt.Errorf("%w: subject %q does not name the service account %s/%s", ErrServiceAccountToken, c.Subject, k.Namespace, k.ServiceAccount.Name)
	}
	if k.Pod != nil && k.Secret != nil {
		return checkedClaims{}, fmt.Errorf("%w: bound to both a pod and a secret", ErrServiceAccountToken)
	}
	for _, r := range []*ObjectRef{k.Pod, k.Secret, k.Node} {
		if r != nil && (r.Name == "" || r.UID == "") {
			return checkedClaims{}, fmt.Errorf("%w: a bound object without name or UID", ErrServiceAccountToken)
		}
	}
	return checkedClaims{claims: c, audiences: auds}, nil
}

// decodeClaims reads a payload; aud may be a string or a list, the times
// JSON numbers (fractions dropped).
func decodeClaims(payload []byte) (claims, error) {
	var raw struct {
		Issuer     string           `json:"iss"`
		Subject    string           `json:"sub"`
		Audience   json.RawMessage  `json:"aud"`
		Expiry     *json.Number     `json:"exp"`
		IssuedAt   *json.Number     `json:"iat"`
		NotBefore  *json.Number     `json:"nbf"`
		ID         string           `json:"jti"`
		Kubernetes kubernetesClaims `json:"kubernetes.io"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return claims{}, fmt.Errorf("claims: %w", err)
	}
	c := claims{Issuer: raw.Issuer, Subject: raw.Subject, ID: raw.ID, Kubernetes: raw.Kubernetes}
	if len(raw.Audience) > 0 {
		var one string
		if json.Unmarshal(raw.Audience, &one) == nil {
			c.Audience = []string{one}
		} else if err := json.Unmarshal(raw.Audience, &c.Audience); err != nil {
			return claims{}, fmt.Errorf("claims: aud is neither a string nor a list of strings")
		}
	}
	for _, f := range []struct {
		n   *json.Number
		out *int64
	}{{raw.Expiry, &c.Expiry}, {raw.IssuedAt, &c.IssuedAt}, {raw.NotBefore, &c.NotBefore}} {
		if f.n == nil {
			continue
		}
		v, err := f.n.Float64()
		if err != nil || math.IsNaN(v) || v < 0 || v > 1<<50 {
			return claims{}, fmt.Errorf("claims: time %q is not a number of seconds", f.n.String())
		}
		*f.out = int64(v)
	}
	return c, nil
}

// checkObjects checks that the service account and bound objects still
// exist with the token's UIDs and returns the token's user.
func (t *ServiceAccountTokens) checkObjects(ctx context.Context, c claims) (*User, error) {
	k := c.Kubernetes
	now := t.now()
	gone := func(m metav1.Object, uid string) bool {
		return string(m.GetUID()) != uid || deleted(m, now)
	}
	fail := func(what string, err error) error {
		if err != nil {
			return fmt.Errorf("%w: %w", ErrServiceAccountToken, err)
		}
		return fmt.Errorf("%w: the %s it names no longer exists (deleted, or recreated with another UID): the token is invalid", ErrServiceAccountToken, what)
	}
	sa, found, err := getChecked(ctx, t.lookup, KindServiceAccount, k.Namespace, k.ServiceAccount.Name,
		func(o *corev1.ServiceAccount) bool { return !gone(o, k.ServiceAccount.UID) })
	if err != nil || !found || gone(sa, k.ServiceAccount.UID) {
		return nil, fail("service account "+k.Namespace+"/"+k.ServiceAccount.Name, err)
	}
	u := &User{Name: c.Subject, UID: k.ServiceAccount.UID,
		Groups: []string{ServiceAccountsAll, ServiceAccountGroup + k.Namespace}, Extra: map[string][]string{}}
	if r := k.Pod; r != nil {
		p, found, err := getChecked(ctx, t.lookup, KindPod, k.Namespace, r.Name,
			func(o *corev1.Pod) bool { return !gone(o, r.UID) })
		if err != nil || !found || gone(p, r.UID) {
			return nil, fail("pod "+k.Namespace+"/"+r.Name, err)
		}
		u.Extra[ExtraPodName] = []string{r.Name}
		u.Extra[ExtraPodUID] = []string{r.UID}
	}
	if r := k.Secret; r != nil {
		s, found, err := getChecked(ctx, t.lookup, KindSecret, k.Namespace, r.Name,
			func(o *corev1.Secret) bool { return !gone(o, r.UID) })
		if err != nil || !found || gone(s, r.UID) {
			return nil, fail("secret "+k.Namespace+"/"+r.Name, err)
		}
	}
	if r := k.Node; r != nil {
		n, found, err := getChecked(ctx, t.lookup, KindNode, "", r.Name,
			func(o *corev1.Node) bool { return !gone(o, r.UID) })
		if err != nil || !found || gone(n, r.UID) {
			return nil, fail("node "+r.Name, err)
		}
		u.Extra[ExtraNodeName] = []string{r.Name}
		u.Extra[ExtraNodeUID] = []string{r.UID}
	}
	if c.ID != "" {
		u.Extra[ExtraCredentialID] = []string{"JTI=" + c.ID}
	}
	return u, nil
}

// deleted: the object's deletion time has passed. An object in its
// graceful-deletion period (deletionTimestamp in the future: a pod
// stopping) keeps its tokens until then, as Kubernetes does.
func deleted(m metav1.Object, now time.Time) bool {
	dt := m.GetDeletionTimestamp()
	return dt != nil && !now.Before(dt.Time)
}

// ServiceAccountName splits a service account user name into namespace
// and name; ok false for other users.
func ServiceAccountName(user string) (namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(user, ServiceAccountUser)
	if !found {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	if !ok || namespace == "" || name == "" {
		return "", "", false
	}
	return namespace, name, true
}
