package auth

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Simple tokens, as etcd's: "<16 random letters>.<raft index>". The
// proposing member draws the letters; every member, applying the
// Authenticate entry at that index, records token -> user, so the token
// works on every member once it has applied the index. A token is dropped
// after TTL unused (each use restarts the TTL), when its user is deleted or
// changes password, when auth is disabled, and when the member restarts
// (tokens live in memory only; clients authenticate again on
// ErrInvalidAuthToken). They are not signed: anyone who sees one can use it
// until it expires, so use them over TLS.

const (
	simpleTokenLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	simpleTokenLength  = 16
	// sweepEvery bounds how often expired tokens are looked for.
	sweepEvery = time.Second
	// maxTokenWait bounds the wait for the index a simple token names.
	maxTokenWait = 5 * time.Second
)

type simpleEntry struct {
	user    string
	expires time.Time
}

// simpleTokens is the member's table of simple tokens. Safe for concurrent
// use; mu guards everything.
type simpleTokens struct {
	ttl  time.Duration
	now  func() time.Time
	wait func(index uint64) <-chan struct{}

	mu        sync.Mutex
	tokens    map[string]simpleEntry
	lastSweep time.Time
}

func newSimpleTokens(ttl time.Duration, now func() time.Time, wait func(uint64) <-chan struct{}) *simpleTokens {
	return &simpleTokens{ttl: ttl, now: now, wait: wait, tokens: map[string]simpleEntry{}}
}

// genPrefix draws the random part of a token.
func genSimplePrefix() (string, error) {
	out := make([]byte, 0, simpleTokenLength)
	buf := make([]byte, 2*simpleTokenLength)
	// Bytes past the largest multiple of 52 are skipped: no letter is
	// likelier than another.
	const limit = 256 / len(simpleTokenLetters) * len(simpleTokenLetters)
	for len(out) < simpleTokenLength {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("auth: token randomness: %w", err)
		}
		for _, c := range buf {
			if int(c) < limit && len(out) < simpleTokenLength {
				out = append(out, simpleTokenLetters[int(c)%len(simpleTokenLetters)])
			}
		}
	}
	return string(out), nil
}

// assign records the token made of prefix and index for user.
func (t *simpleTokens) assign(prefix string, index uint64, user string) string {
	tok := prefix + "." + strconv.FormatUint(index, 10)
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tokens[tok] = simpleEntry{user: user, expires: now.Add(t.ttl)}
	if now.Sub(t.lastSweep) >= sweepEvery {
		t.lastSweep = now
		for k, e := range t.tokens {
			if now.After(e.expires) {
				delete(t.tokens, k)
			}
		}
	}
	return tok
}

// lookup returns the user of a live token and restarts its TTL. A token
// minted at an index this member has not applied yet is waited for (until
// ctx ends).
func (t *simpleTokens) lookup(ctx context.Context, tok string) (string, bool) {
	if user, ok := t.get(tok); ok {
		return user, true
	}
	dot := strings.LastIndexByte(tok, '.')
	if dot < 0 || len(tok)-dot-1 > 20 {
		return "", false
	}
	index, err := strconv.ParseUint(tok[dot+1:], 10, 64)
	if err != nil || t.wait == nil {
		return "", false
	}
	// A token names an index that committed on the member that issued it;
	// this member applies it soon. One that names an index never reached
	// (a forged token) is not waited for longer than maxTokenWait.
	timer := time.NewTimer(maxTokenWait)
	defer timer.Stop()
	select {
	case <-t.wait(index):
	case <-ctx.Done():
		return "", false
	case <-timer.C:
		return "", false
	}
	return t.get(tok)
}

func (t *simpleTokens) get(tok string) (string, bool) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.tokens[tok]
	if !ok {
		return "", false
	}
	if now.After(e.expires) {
		delete(t.tokens, tok)
		return "", false
	}
	e.expires = now.Add(t.ttl)
	t.tokens[tok] = e
	return e.user, true
}

func (t *simpleTokens) dropUser(user string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, e := range t.tokens {
		if e.user == user {
			delete(t.tokens, k)
		}
	}
}

func (t *simpleTokens) dropAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.tokens)
}

func (t *simpleTokens) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.tokens)
}
