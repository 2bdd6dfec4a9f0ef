package apiserver

// The server's own authenticators and the authentication.k8s.io API.
//
// After Config.Authenticators (client certificates and whatever the
// command adds), the server authenticates bearer tokens itself, in this
// order: the static token file (Config.TokenAuthFile), bootstrap tokens
// (Secrets kube-system/bootstrap-token-<id>) and service account JWTs
// (signed with Config.ServiceAccountSigningKey). The objects tokens name
// are read through serverLookup: the watch caches, then the store when a
// cached answer would refuse the token.
//
// It serves:
//   - POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token: a
//     TokenRequest (authentication.k8s.io/v1) → a signed token (kubectl
//     create token);
//   - POST /apis/authentication.k8s.io/v1/tokenreviews: TokenReview,
//     a token reviewed with the server's authenticators;
//   - POST /apis/authentication.k8s.io/v1/selfsubjectreviews: the
//     caller's own user (kubectl auth whoami);
//   - GET /.well-known/openid-configuration and /openid/v1/jwks: the
//     issuer's discovery document and verification key, as
//     kube-apiserver's service account issuer discovery.
//
// The reviews are create-only virtual resources: nothing is stored.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/kelson-dev/kelson/apiserver/authn"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// authenticationGroup is the group this file serves.
const authenticationGroup = authenticationv1.GroupName

// DefaultServiceAccountMaxTokenExpiration is Config's default cap on a
// TokenRequest's lifetime.
const DefaultServiceAccountMaxTokenExpiration = 48 * time.Hour

// authentication is the server's own token authentication.
type authentication struct {
	// configured is the union of Config.Authenticators.
	configured authn.Authenticator
	// agnostic are the audience-agnostic token authenticators (static
	// file, bootstrap), in order.
	agnostic []authn.Token
	sa       *authn.ServiceAccountTokens
	// audiences are the API audiences; maxExpiration caps TokenRequests.
	audiences     []string
	maxExpiration time.Duration
}

// newAuthentication builds the server's own authenticators from cfg and
// returns the union of all of them, Config.Authenticators first.
func (s *Server) newAuthentication(cfg *Config) (authn.Authenticator, error) {
	a := &authentication{configured: authn.Union(cfg.Authenticators...), maxExpiration: cfg.ServiceAccountMaxTokenExpiration}
	if a.maxExpiration == 0 {
		a.maxExpiration = DefaultServiceAccountMaxTokenExpiration
	}
	if a.maxExpiration < authn.MinTokenLifetime {
		return nil, fmt.Errorf("%w: service account max token expiration %s is below the 10 minutes a TokenRequest may ask for", ErrBadConfig, a.maxExpiration)
	}
	if cfg.TokenAuthFile != "" {
		st, err := authn.TokenFile(cfg.TokenAuthFile)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
		a.agnostic = append(a.agnostic, st)
	}
	lookup := serverLookup{s}
	a.agnostic = append(a.agnostic, &authn.BootstrapTokens{Lookup: lookup})
	key := cfg.ServiceAccountSigningKey
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("apiserver: service account signing key: %w", err)
		}
		key = k
		s.log.Warn("no service account signing key configured: using one generated for this process; its tokens do not survive a restart and are refused by other servers")
	}
	sa, err := authn.NewServiceAccountTokens(authn.ServiceAccountConfig{Key: key, Issuer: cfg.ServiceAccountIssuer,
		Audiences: cfg.APIAudiences, Lookup: lookup})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	a.sa, a.audiences = sa, sa.Audiences()
	s.tokens = a
	own := append(slices.Clip(a.agnostic), authn.Token(sa))
	return authn.Union(append(slices.Clip(cfg.Authenticators), authn.Bearer(own...))...), nil
}

// serverLookup reads the objects tokens name: the watch cache (when it
// has loaded) unless fresh, the store otherwise.
type serverLookup struct{ s *Server }

var lookupGVR = map[string]schema.GroupVersionResource{
	authn.KindServiceAccount: corev1.SchemeGroupVersion.WithResource("serviceaccounts"),
	authn.KindPod:            corev1.SchemeGroupVersion.WithResource("pods"),
	authn.KindSecret:         corev1.SchemeGroupVersion.WithResource("secrets"),
	authn.KindNode:           corev1.SchemeGroupVersion.WithResource("nodes"),
}

// Get implements authn.Lookup.
func (l serverLookup) Get(ctx context.Context, kind, ns, name string, fresh bool) (any, bool, error) {
	res := l.s.lookup(lookupGVR[kind])
	if res == nil {
		return nil, false, fmt.Errorf("no resource for kind %q", kind)
	}
	if !fresh && res.cache.Rev() > 0 {
		o, ok, _ := res.cache.Get(res.key(ns, name))
		return o.Obj, ok, nil
	}
	obj, err := l.s.get(ctx, res, ns, name)
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return obj, true, nil
}

// review authenticates a token for TokenReview: the configured
// authenticators (given the token as a bearer header), then the server's
// own. Audience-agnostic authenticators are valid for the API audiences;
// auds (default the API audiences) must meet them.
func (a *authentication) review(ctx context.Context, token string, auds []string) (*authn.User, []string, error) {
	if len(auds) == 0 {
		auds = a.audiences
	}
	req, err := http.NewRequestWithContext(authn.WithAudiences(ctx, auds), http.MethodPost, "/", nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	agnostic := authn.Intersect(auds, a.audiences)
	u, ok, err := a.configured.Authenticate(req)
	if err == nil && !ok {
		u, ok, err = authn.Tokens(a.agnostic...).AuthenticateToken(req.Context(), token)
	}
	switch {
	case err != nil:
		return nil, nil, err
	case ok && len(agnostic) == 0:
		return nil, nil, fmt.Errorf("the token is valid only for the API audiences %q, not %q", a.audiences, auds)
	case ok:
		return u, agnostic, nil
	}
	u, got, ok, err := a.sa.Verify(req.Context(), token, auds)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, errors.New("invalid bearer token")
	}
	return u, got, nil
}

// userInfo renders u as authentication.k8s.io/v1 UserInfo, in the group
// system:authenticated as every authenticated user.
func userInfo(u *authn.User) authenticationv1.UserInfo {
	ui := authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: append([]string(nil), u.Groups...)}
	if u.Name != authn.Anonymous && !slices.Contains(ui.Groups, authn.AllAuthenticated) {
		ui.Groups = append(ui.Groups, authn.AllAuthenticated)
	}
	if len(u.Extra) > 0 {
		ui.Extra = map[string]authenticationv1.ExtraValue{}
		for k, v := range u.Extra {
			ui.Extra[k] = append(authenticationv1.ExtraValue(nil), v...)
		}
	}
	return ui
}

// serveTokenRequest: POST serviceaccounts/<name>/token.
func (s *Server) serveTokenRequest(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) error {
	out, opts, o, err := s.decodePost(w, r, res, ri, authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"), &authenticationv1.TokenRequest{})
	if err != nil {
		return err
	}
	tr := o.(*authenticationv1.TokenRequest)
	if tr.Name != "" && tr.Name != ri.Name {
		return badRequest("the name of the TokenRequest (%s) does not match the service account's (%s)", tr.Name, ri.Name)
	}
	if tr.Namespace != "" && tr.Namespace != ri.Namespace {
		return badRequest("the namespace of the TokenRequest (%s) does not match the request's (%s)", tr.Namespace, ri.Namespace)
	}
	a := s.tokens
	spec, errs := authn.TokenRequestSpec(tr.Spec, a.audiences, a.maxExpiration)
	if len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Group: authenticationGroup, Kind: "TokenRequest"}, ri.Name, errs)
	}
	ctx := r.Context()
	saObj, err := s.get(ctx, res, ri.Namespace, ri.Name)
	if err != nil {
		return err
	}
	sa := saObj.(*corev1.ServiceAccount)
	if sa.DeletionTimestamp != nil {
		return apierrors.NewConflict(res.groupResource(), ri.Name, errors.New("the service account is being deleted: no token can be issued for it"))
	}
	ts := authn.TokenSpec{Namespace: ri.Namespace, ServiceAccount: authn.ObjectRef{Name: sa.Name, UID: string(sa.UID)},
		Audiences: spec.Audiences, Lifetime: time.Duration(*spec.ExpirationSeconds) * time.Second}
	if ref := spec.BoundObjectRef; ref != nil {
		if err := s.bindToken(ctx, ri, ref, &ts); err != nil {
			return err
		}
	}
	resp := &authenticationv1.TokenRequest{
		TypeMeta:   metav1.TypeMeta{APIVersion: authenticationv1.SchemeGroupVersion.String(), Kind: "TokenRequest"},
		ObjectMeta: metav1.ObjectMeta{Name: sa.Name, Namespace: sa.Namespace, CreationTimestamp: metav1.Now()},
		Spec:       spec,
	}
	if !opts.dryRun {
		tok, exp, err := a.sa.Issue(ts)
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		resp.Status = authenticationv1.TokenRequestStatus{Token: tok, ExpirationTimestamp: metav1.NewTime(exp)}
	}
	s.writeObject(w, r, out, http.StatusCreated, resp)
	return nil
}

// bindToken checks a TokenRequest's boundObjectRef and records the bound
// object (and a pod's node) in ts; it fills ref.UID when not given.
func (s *Server) bindToken(ctx context.Context, ri requestInfo, ref *authenticationv1.BoundObjectReference, ts *authn.TokenSpec) error {
	if ref.APIVersion != "" && ref.APIVersion != "v1" {
		return badRequest("cannot bind token to object of type %s, %s (only v1 Pod, Secret and Node)", ref.APIVersion, ref.Kind)
	}
	if ref.Name == "" {
		return badRequest("boundObjectRef.name is required")
	}
	gvr, ok := lookupGVR[ref.Kind]
	if !ok || ref.Kind == authn.KindServiceAccount {
		return badRequest("cannot bind token to object of type /v1, Kind=%s (only Pod, Secret and Node)", ref.Kind)
	}
	res := s.lookup(gvr)
	ns := ri.Namespace
	if ref.Kind == authn.KindNode {
		ns = ""
	}
	obj, err := s.get(ctx, res, ns, ref.Name)
	if err != nil {
		return err
	}
	m := metaOf(obj)
	if ref.UID != "" && ref.UID != m.GetUID() {
		return apierrors.NewConflict(schema.GroupResource{Resource: ref.Kind}, ref.Name,
			fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	ref.UID = m.GetUID()
	bound := &authn.ObjectRef{Name: m.GetName(), UID: string(m.GetUID())}
	switch ref.Kind {
	case authn.KindPod:
		pod := obj.(*corev1.Pod)
		if pod.Spec.ServiceAccountName != ri.Name {
			return badRequest("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", ri.Name)
		}
		ts.Pod = bound
		if node := pod.Spec.NodeName; node != "" {
			if n, err := s.get(ctx, s.lookup(lookupGVR[authn.KindNode]), "", node); err == nil {
				ts.Node = &authn.ObjectRef{Name: node, UID: string(metaOf(n).GetUID())}
			} else if !apierrors.IsNotFound(err) {
				return err
			}
		}
	case authn.KindSecret:
		ts.Secret = bound
	case authn.KindNode:
		ts.Node = bound
	}
	return nil
}

// serveAuthenticationAPI serves /apis/authentication.k8s.io/v1/...:
// tokenreviews and selfsubjectreviews, create only.
func (s *Server) serveAuthenticationAPI(w http.ResponseWriter, r *http.Request, ri requestInfo) error {
	if ri.Version != authenticationv1.SchemeGroupVersion.Version || ri.Subresource != "" || ri.namespacedPath {
		return notFoundPath(r.URL.Path)
	}
	var want schema.GroupVersionKind
	var into runtime.Object
	switch ri.Resource {
	case "tokenreviews":
		want, into = authenticationv1.SchemeGroupVersion.WithKind("TokenReview"), &authenticationv1.TokenReview{}
	case "selfsubjectreviews":
		want, into = authenticationv1.SchemeGroupVersion.WithKind("SelfSubjectReview"), &authenticationv1.SelfSubjectReview{}
	default:
		return notFoundPath(r.URL.Path)
	}
	gr := authenticationv1.Resource(ri.Resource)
	if ri.Verb != "create" {
		return apierrors.NewMethodNotSupported(gr, ri.Verb)
	}
	if ri.Name != "" {
		return apierrors.NewMethodNotSupported(gr, "create on a named path")
	}
	out, err := s.negotiate(r, nil)
	if err != nil {
		return err
	}
	opts, err := parseWriteOptions(r)
	if err != nil {
		return err
	}
	info, err := s.requestSerializer(r)
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	obj, err := s.decodeInto(w, info, body, want, into, opts)
	if err != nil {
		return err
	}
	switch o := obj.(type) {
	case *authenticationv1.TokenReview:
		if o.Spec.Token == "" {
			return apierrors.NewBadRequest("token is required for TokenReview in authentication")
		}
		u, auds, err := s.tokens.review(r.Context(), o.Spec.Token, o.Spec.Audiences)
		o.Status = authenticationv1.TokenReviewStatus{}
		if err != nil {
			o.Status.Error = err.Error()
		} else {
			o.Status.Authenticated, o.Status.User, o.Status.Audiences = true, userInfo(u), auds
		}
		o.Spec.Token = "" // not echoed back
		o.CreationTimestamp = metav1.Now()
	case *authenticationv1.SelfSubjectReview:
		u, ok := authn.UserFrom(r.Context())
		if !ok {
			return apierrors.NewUnauthorized("Unauthorized")
		}
		o.Status.UserInfo = userInfo(u)
		o.CreationTimestamp = metav1.Now()
	}
	s.writeObject(w, r, out, http.StatusCreated, obj)
	return nil
}

// authenticationDiscovery: the discovery documents of
// authentication.k8s.io/v1.
func authenticationDiscovery() virtualGroup {
	return virtualGroup{gv: authenticationv1.SchemeGroupVersion, verbs: metav1.Verbs{"create"}, resources: []virtualResource{
		{"selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview", false},
		{"tokenreviews", "tokenreview", "TokenReview", false},
	}}
}

// serveOIDCDiscovery serves the issuer's OpenID discovery document.
func (s *Server) serveOIDCDiscovery(w http.ResponseWriter, r *http.Request) {
	iss := s.tokens.sa.Issuer()
	doc := map[string]any{
		"issuer": iss, "jwks_uri": iss + "/openid/v1/jwks",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
	}
	writeJSON(w, r, "application/json", doc)
}

// serveJWKS serves the service account verification key as a JWK set.
func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	pub := s.tokens.sa.PublicKey()
	coord := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	raw, err := pub.Bytes() // 0x04 || X || Y
	if err != nil || len(raw) != 65 {
		s.writeError(w, r, apierrors.NewInternalError(fmt.Errorf("service account public key: %v", err)))
		return
	}
	set := map[string]any{"keys": []map[string]string{{
		"use": "sig", "kty": "EC", "kid": s.tokens.sa.KeyID(), "crv": "P-256", "alg": "ES256",
		"x": coord(raw[1:33]), "y": coord(raw[33:]),
	}}}
	writeJSON(w, r, "application/jwk-set+json", set)
}

func writeJSON(w http.ResponseWriter, r *http.Request, contentType string, v any) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}
