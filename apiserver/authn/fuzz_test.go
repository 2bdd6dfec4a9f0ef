package authn

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/bootstraptoken"
)

// Whatever a client sends as a bearer token, the token authenticators
// answer without panicking, and accept nothing they did not issue: a
// mutation of a valid token is never valid, except with the same claims.
func FuzzBearerTokens(f *testing.F) {
	fx := newSAFixture(f)
	valid := fx.issue(f, TokenSpec{Pod: &ObjectRef{Name: "web", UID: "pod-uid"}})
	parts := strings.Split(valid, ".")
	for _, seed := range []string{
		valid, "", ".", "..", "a.b.c", "abcdef.0123456789abcdef", parts[0] + "." + parts[1] + ".",
		b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".",
		parts[0] + "." + b64.EncodeToString([]byte(`{"iss":"`+DefaultIssuer+`","exp":1e308,"aud":7}`)) + "." + parts[2],
	} {
		f.Add(seed)
	}
	boot := &BootstrapTokens{Lookup: fx.objs, Now: func() time.Time { return fx.now }}
	fx.objs.put(KindSecret, "kube-system", "bootstrap-token-abcdef", bootstrapSecret("abcdef", "0123456789abcdef", nil))
	static, _ := ParseTokenFile([]byte("static,alice,1\n"))
	chain := Tokens(static, boot, fx.sa)
	f.Fuzz(func(t *testing.T, tok string) {
		u, ok, err := chain.AuthenticateToken(context.Background(), tok)
		if ok && (u == nil || err != nil) {
			t.Fatalf("ok with user %v err %v", u, err)
		}
		if !ok {
			return
		}
		switch tok {
		case valid, "static":
		default:
			if bootstraptoken.IsToken(tok) && u.Name == "system:bootstrap:abcdef" {
				return
			}
			// An ECDSA signature has a twin, (r, n-s), that verifies
			// too: the same header and claims, so the same user.
			if strings.HasPrefix(tok, parts[0]+"."+parts[1]+".") && u.Name == "system:serviceaccount:ns:robot" {
				return
			}
			t.Fatalf("accepted %q as %+v", tok, u)
		}
	})
}
