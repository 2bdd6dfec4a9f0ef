package authn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// Token authenticates a bearer token, with the three answers of
// Authenticator: (user, true, nil) valid; (nil, false, nil) not a token of
// this kind, ask the next; (nil, false, err) a token of this kind that is
// invalid (401). Implementations compare secrets in constant time and
// never put a token in an error.
type Token interface {
	AuthenticateToken(ctx context.Context, token string) (*User, bool, error)
}

// TokenFunc adapts a function to Token.
type TokenFunc func(ctx context.Context, token string) (*User, bool, error)

// AuthenticateToken calls f.
func (f TokenFunc) AuthenticateToken(ctx context.Context, token string) (*User, bool, error) {
	return f(ctx, token)
}

// BearerToken returns the token of an "Authorization: Bearer <token>"
// header; ok is false when there is none (no header, another scheme, an
// empty token), as kube-apiserver reads it.
func BearerToken(r *http.Request) (string, bool) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, rest, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	tok, _, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
	return tok, tok != ""
}

// Bearer authenticates requests by their bearer token, asking each Token
// in order; the first that claims the token (ok or error) decides.
func Bearer(ts ...Token) Authenticator {
	return Func(func(r *http.Request) (*User, bool, error) {
		tok, ok := BearerToken(r)
		if !ok {
			return nil, false, nil
		}
		return Tokens(ts...).AuthenticateToken(r.Context(), tok)
	})
}

// Tokens chains Token authenticators as Bearer does, for callers that hold
// a token rather than a request (TokenReview).
func Tokens(ts ...Token) Token {
	return TokenFunc(func(ctx context.Context, tok string) (*User, bool, error) {
		for _, t := range ts {
			u, ok, err := t.AuthenticateToken(ctx, tok)
			if err != nil || ok {
				return u, ok, err
			}
		}
		return nil, false, nil
	})
}

type audiencesKey struct{}

// WithAudiences returns ctx asking audience-aware authenticators (service
// account tokens) for a token valid for one of auds rather than for the
// API server's own audiences: a TokenReview's spec.audiences.
func WithAudiences(ctx context.Context, auds []string) context.Context {
	return context.WithValue(ctx, audiencesKey{}, auds)
}

// AudiencesFrom returns the audiences ctx asks for, if any.
func AudiencesFrom(ctx context.Context) ([]string, bool) {
	a, ok := ctx.Value(audiencesKey{}).([]string)
	return a, ok && len(a) > 0
}

// Intersect returns the members of a that are also in b, in a's order.
func Intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		for _, y := range b {
			if x == y {
				out = append(out, x)
				break
			}
		}
	}
	return out
}

// ErrTokenFile wraps every error of reading a static token file.
var ErrTokenFile = errors.New("authn: token file")

// staticToken is one line of a token file; the token is kept only as its
// SHA-256, compared in constant time.
type staticToken struct {
	sum  [sha256.Size]byte
	user *User
}

// StaticTokens authenticates the bearer tokens of a token file.
type StaticTokens struct {
	tokens []staticToken
}

// TokenFile reads kube-apiserver's --token-auth-file: CSV lines
//
//	token,user,uid,"group1,group2"
//
// (the groups column optional; blank lines and lines starting with # are
// skipped). A line with fewer than three columns, an empty token or user,
// or a token given twice is an error naming the line: fix the file and
// restart. The file is read once.
func TokenFile(path string) (*StaticTokens, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenFile, err)
	}
	st, err := ParseTokenFile(data)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrTokenFile, path, err)
	}
	return st, nil
}

// ParseTokenFile parses a token file's contents (see TokenFile).
func ParseTokenFile(data []byte) (*StaticTokens, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	r.Comment = '#'
	st := &StaticTokens{}
	seen := map[[sha256.Size]byte]int{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			// csv.ParseError names the line itself; the token is not in it.
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("line %d: %w (quote a groups column holding commas)", pe.Line, pe.Err)
			}
			return nil, err
		}
		if len(rec) < 3 {
			return nil, fmt.Errorf("line %d: %d columns, want at least 3 (token,user,uid[,\"group1,group2\"])", line, len(rec))
		}
		tok, name, uid := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1]), strings.TrimSpace(rec[2])
		if tok == "" || name == "" {
			return nil, fmt.Errorf("line %d: empty token or user name", line)
		}
		sum := sha256.Sum256([]byte(tok))
		if prev, dup := seen[sum]; dup {
			return nil, fmt.Errorf("line %d: the same token as line %d: each token names one user", line, prev)
		}
		seen[sum] = line
		u := &User{Name: name, UID: uid}
		if len(rec) > 3 {
			for _, g := range strings.Split(rec[3], ",") {
				if g = strings.TrimSpace(g); g != "" {
					u.Groups = append(u.Groups, g)
				}
			}
		}
		st.tokens = append(st.tokens, staticToken{sum: sum, user: u})
	}
	return st, nil
}

// Len is the number of tokens.
func (s *StaticTokens) Len() int { return len(s.tokens) }

// AuthenticateToken implements Token. It compares the token's hash with
// every entry, in constant time, without stopping at a match. A token not
// in the file is not claimed (other authenticators may know it).
func (s *StaticTokens) AuthenticateToken(_ context.Context, token string) (*User, bool, error) {
	sum := sha256.Sum256([]byte(token))
	var found *User
	for i := range s.tokens {
		if subtle.ConstantTimeCompare(sum[:], s.tokens[i].sum[:]) == 1 {
			found = s.tokens[i].user
		}
	}
	if found == nil {
		return nil, false, nil
	}
	return found, true, nil
}
