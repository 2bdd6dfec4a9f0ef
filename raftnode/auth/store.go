package auth

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/kelson-dev/kelson/kvstore"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"golang.org/x/crypto/bcrypt"
)

// Store is one member's auth: the replicated State (replaced whole on each
// change, read without locks) and the member's tokens. The raft loop alone
// calls Load and Apply; anything may call the rest concurrently.
type Store struct {
	opts   Options
	log    *slog.Logger
	state  atomic.Pointer[State]
	simple *simpleTokens // nil with JWT tokens
	jwt    *jwtSigner    // nil with simple tokens
}

// New returns a Store with NewState() (call Load to read a store's).
func New(opts Options) (*Store, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	simple, jwt, err := opts.tokenProvider()
	if err != nil {
		return nil, err
	}
	s := &Store{opts: opts, log: opts.Logger, simple: simple, jwt: jwt}
	s.state.Store(NewState())
	return s, nil
}

// State is the current auth state.
func (s *Store) State() *State { return s.state.Load() }

// Enabled reports whether authentication is on.
func (s *Store) Enabled() bool { return s.state.Load().Enabled }

// Load replaces the state by the one recorded in src: at start and when a
// snapshot replaces the member's store. Simple tokens are dropped when auth
// is now off.
func (s *Store) Load(src Source) error {
	st, err := LoadState(src)
	if err != nil {
		return err
	}
	s.state.Store(st)
	if !st.Enabled && s.simple != nil {
		s.simple.dropAll()
	}
	return nil
}

// Apply applies one replicated auth request at raft index (every member
// applies it alike). persist writes the records the change makes together
// with index; Apply installs the new state only once that succeeded. The
// result carries the response or the request's error (a denied or invalid
// request changes nothing); the returned error is persist's, after which
// the member cannot go on.
func (s *Store) Apply(index uint64, req *pb.InternalRaftRequest, persist func([]kvstore.AuxWrite) error) (kvstore.Result, error) {
	st := s.state.Load()
	if req.Authenticate != nil {
		resp, err := s.authenticate(st, index, req.Authenticate)
		if err != nil {
			return kvstore.Result{Err: err}, nil
		}
		return kvstore.Result{Resp: resp}, nil
	}
	c, err := Apply(st, InfoFromHeader(req.Header), req)
	if err != nil {
		return kvstore.Result{Err: err}, nil
	}
	if c.Next != nil {
		if err := persist(c.Writes); err != nil {
			return kvstore.Result{}, fmt.Errorf("auth: persist change at index %d: %w", index, err)
		}
		s.state.Store(c.Next)
		if st.Enabled != c.Next.Enabled {
			s.log.Info("authentication "+map[bool]string{true: "enabled", false: "disabled"}[c.Next.Enabled], "auth_revision", c.Next.Revision)
		}
	}
	if s.simple != nil {
		if c.DropAllTokens {
			s.simple.dropAll()
		}
		if c.DropUserTokens != "" {
			s.simple.dropUser(c.DropUserTokens)
		}
	}
	return kvstore.Result{Resp: c.Resp}, nil
}

// authenticate issues a token to a user whose password the proposer
// checked (the log never holds passwords).
func (s *Store) authenticate(st *State, index uint64, r *pb.InternalAuthenticateRequest) (*pb.AuthenticateResponse, error) {
	if !st.Enabled {
		return nil, ErrAuthNotEnabled
	}
	u := st.users[r.Name]
	if u == nil || u.NoPassword {
		return nil, ErrAuthFailed
	}
	if s.simple != nil {
		if r.SimpleToken == "" {
			return nil, ErrAuthFailed
		}
		return &pb.AuthenticateResponse{Token: s.simple.assign(r.SimpleToken, index, r.Name)}, nil
	}
	tok, err := s.jwt.sign(r.Name, st.Revision)
	if err != nil {
		return nil, err
	}
	return &pb.AuthenticateResponse{Token: tok}, nil
}

// CheckPassword verifies a user's password against the current state, as
// etcd does before proposing Authenticate, and returns the auth revision it
// was checked at (the proposer retries when it moved meanwhile). It costs
// one bcrypt comparison.
func (s *Store) CheckPassword(name, password string) (uint64, error) {
	st := s.state.Load()
	if !st.Enabled {
		return 0, ErrAuthNotEnabled
	}
	u := st.users[name]
	if u == nil || u.NoPassword || u.Password == nil {
		return 0, ErrAuthFailed
	}
	if bcrypt.CompareHashAndPassword(u.Password, []byte(password)) != nil {
		s.log.Info("invalid password", "user", name)
		return 0, ErrAuthFailed
	}
	return st.Revision, nil
}

// TokenPrefix draws the random part of a simple token, which the proposer
// puts into the Authenticate entry ("" with JWT tokens).
func (s *Store) TokenPrefix() (string, error) {
	if s.simple == nil {
		return "", nil
	}
	return genSimplePrefix()
}

// HashPassword hashes a password with the configured bcrypt cost, in the
// form a UserAdd or UserChangePassword entry carries (base64).
func (s *Store) HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.opts.BcryptCost)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return base64.StdEncoding.EncodeToString(h), nil
}

// InfoFromToken resolves a token: a simple token to its user at the current
// auth revision, a JWT to the user and revision it names. A token that is
// unknown, expired, forged or malformed gives ErrInvalidAuthToken. An
// "Authorization: Bearer" prefix is ignored.
func (s *Store) InfoFromToken(ctx context.Context, token string) (Info, error) {
	token = strings.TrimPrefix(token, "Bearer ")
	if s.simple != nil {
		user, ok := s.simple.lookup(ctx, token)
		if !ok {
			return Info{}, ErrInvalidAuthToken
		}
		return Info{User: user, Revision: s.state.Load().Revision}, nil
	}
	ai, ok := s.jwt.verify(token)
	if !ok {
		return Info{}, ErrInvalidAuthToken
	}
	return ai, nil
}

// InfoFromCommonName is the identity of a client authenticated by its TLS
// certificate (--client-cert-auth, no token given): the certificate's CN is
// the user name, checked at the current auth revision.
func (s *Store) InfoFromCommonName(cn string) Info {
	if cn == "" {
		return Info{}
	}
	return Info{User: cn, Revision: s.state.Load().Revision}
}

// Tokens counts the simple tokens the member holds (metrics, tests).
func (s *Store) Tokens() int {
	if s.simple == nil {
		return 0
	}
	return s.simple.len()
}
