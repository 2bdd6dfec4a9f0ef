package auth

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Options configures a member's auth Store. The zero value of every field
// means its documented default; New calls EnsureDefaults.
type Options struct {
	// Token is etcd's --auth-token: "simple" (the default), or
	// "jwt,sign-method=RS256,pub-key=FILE,priv-key=FILE[,ttl=5m]" with
	// sign-method one of HS256/384/512 (priv-key is the shared secret),
	// RS256/384/512, PS256/384/512, ES256/384/512, EdDSA. A member given
	// only pub-key verifies tokens but cannot issue them.
	Token string
	// TokenTTL is how long a simple token lives unused
	// [--auth-token-ttl]. Default 300s, as etcd.
	TokenTTL time.Duration
	// BcryptCost hashes passwords [--bcrypt-cost]. Default 10
	// (bcrypt.DefaultCost), as etcd; 4..31.
	BcryptCost int
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock of token expiry. Default time.Now.
	Now func() time.Time
	// AppliedWait returns a channel closed once the member has applied the
	// raft index (a simple token names the index that minted it, which
	// this member may not have applied yet). Default: no waiting.
	AppliedWait func(index uint64) <-chan struct{}
	// ReadFile reads the JWT key files. Default os.ReadFile.
	ReadFile func(name string) ([]byte, error)
}

// DefaultTokenTTL is etcd's --auth-token-ttl default.
const DefaultTokenTTL = 300 * time.Second

// defaultJWTTTL is etcd's default lifetime of a JWT token.
const defaultJWTTTL = 5 * time.Minute

// EnsureDefaults fills zero fields with their defaults and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.Token == "" {
		o.Token = "simple"
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.BcryptCost == 0 {
		o.BcryptCost = bcrypt.DefaultCost
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	return o
}

// tokenSpec is a parsed --auth-token value.
type tokenSpec struct {
	kind string // "simple" or "jwt"
	opts map[string]string
}

// parseTokenSpec splits etcd's --auth-token value: a type, then
// comma-separated key=value options, each at most once.
func parseTokenSpec(s string) (tokenSpec, error) {
	parts := strings.Split(s, ",")
	spec := tokenSpec{kind: parts[0], opts: map[string]string{}}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" || strings.Contains(v, "=") {
			return tokenSpec{}, fmt.Errorf("%w: --auth-token option %q is not key=value", ErrInvalidAuthOpts, p)
		}
		if _, dup := spec.opts[k]; dup {
			return tokenSpec{}, fmt.Errorf("%w: --auth-token option %q given twice", ErrInvalidAuthOpts, k)
		}
		spec.opts[k] = v
	}
	switch spec.kind {
	case "simple":
	case "jwt":
		for k := range spec.opts {
			switch k {
			case "sign-method", "pub-key", "priv-key", "ttl":
			default:
				return tokenSpec{}, fmt.Errorf("%w: unknown --auth-token jwt option %q (sign-method, pub-key, priv-key, ttl)", ErrInvalidAuthOpts, k)
			}
		}
	default:
		return tokenSpec{}, fmt.Errorf("%w: --auth-token type %q is not simple or jwt", ErrInvalidAuthOpts, spec.kind)
	}
	return spec, nil
}

// Validate reports options that cannot work (reading the JWT key files).
func (o *Options) Validate() error {
	if o.BcryptCost < bcrypt.MinCost || o.BcryptCost > bcrypt.MaxCost {
		return fmt.Errorf("%w: --bcrypt-cost %d is outside %d..%d", ErrInvalidAuthOpts, o.BcryptCost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	_, _, err := o.tokenProvider()
	return err
}

// tokenProvider builds what the Token option names.
func (o *Options) tokenProvider() (*simpleTokens, *jwtSigner, error) {
	spec, err := parseTokenSpec(o.Token)
	if err != nil {
		return nil, nil, err
	}
	if spec.kind == "simple" {
		return newSimpleTokens(o.TokenTTL, o.Now, o.AppliedWait), nil, nil
	}
	ttl := defaultJWTTTL
	if v := spec.opts["ttl"]; v != "" {
		if ttl, err = time.ParseDuration(v); err != nil || ttl <= 0 {
			return nil, nil, fmt.Errorf("%w: jwt ttl %q is not a positive duration", ErrInvalidAuthOpts, v)
		}
	}
	var pub, priv []byte
	if f := spec.opts["pub-key"]; f != "" {
		if pub, err = o.ReadFile(f); err != nil {
			return nil, nil, fmt.Errorf("%w: jwt pub-key: %v", ErrInvalidAuthOpts, err)
		}
	}
	if f := spec.opts["priv-key"]; f != "" {
		if priv, err = o.ReadFile(f); err != nil {
			return nil, nil, fmt.Errorf("%w: jwt priv-key: %v", ErrInvalidAuthOpts, err)
		}
	}
	j, err := newJWTSigner(spec.opts["sign-method"], pub, priv, ttl, o.Now)
	if err != nil {
		return nil, nil, err
	}
	return nil, j, nil
}
