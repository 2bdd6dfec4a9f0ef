package authn

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseTokenFile(t *testing.T) {
	good := `# tokens for the walkthrough
s3cret,alice,1001,"dev,ops"
t0ken,bob,1002

  spaced,carol,1003,solo
`
	st, err := ParseTokenFile([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if st.Len() != 3 {
		t.Fatalf("%d tokens", st.Len())
	}
	for _, tc := range []struct {
		tok, user, uid string
		groups         []string
	}{
		{"s3cret", "alice", "1001", []string{"dev", "ops"}},
		{"t0ken", "bob", "1002", nil},
		{"spaced", "carol", "1003", []string{"solo"}},
	} {
		u, ok, err := st.AuthenticateToken(context.Background(), tc.tok)
		if !ok || err != nil || u.Name != tc.user || u.UID != tc.uid || !slices.Equal(u.Groups, tc.groups) {
			t.Errorf("%s: %+v %v %v", tc.tok, u, ok, err)
		}
	}
	for _, bad := range []string{"", "s3cre", "s3cret ", "S3CRET", "t0ken,bob"} {
		if u, ok, err := st.AuthenticateToken(context.Background(), bad); ok || err != nil {
			t.Errorf("%q: %+v %v %v", bad, u, ok, err)
		}
	}

	for _, tc := range []struct{ file, want string }{
		{"a,alice,1\nb,bob\n", "line 2: 2 columns"},
		{"a,alice,1\n,bob,2\n", "line 2: empty token"},
		{"a,,1\n", "line 1: empty token or user"},
		{"a,alice,1\nx,y,z\na,bob,2\n", "line 3: the same token as line 1"},
		{"a,alice,1,\"dev\n", "line 1"},
	} {
		_, err := ParseTokenFile([]byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.file, err, tc.want)
		}
	}
}

func TestTokenFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := TokenFile(filepath.Join(dir, "missing.csv")); !errors.Is(err, ErrTokenFile) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	p := filepath.Join(dir, "tokens.csv")
	os.WriteFile(p, []byte("topsecret,alice\n"), 0o600)
	_, err := TokenFile(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("bad file: %v", err)
	}
	if strings.Contains(err.Error(), "topsecret") {
		t.Fatal("the error holds the token")
	}
}

func TestBearer(t *testing.T) {
	st, _ := ParseTokenFile([]byte("tok,alice,1\n"))
	a := Bearer(st)
	for _, tc := range []struct {
		header string
		ok     bool
	}{
		{"Bearer tok", true},
		{"bearer tok", true},
		{"  Bearer   tok  ", true},
		{"Bearer tok extra", true},
		{"Basic dG9rOg==", false},
		{"Bearer", false},
		{"Bearer ", false},
		{"Bearer other", false},
		{"tok", false},
		{"", false},
	} {
		r := httptest.NewRequest("GET", "/api", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		u, ok, err := a.Authenticate(r)
		if ok != tc.ok || err != nil || (ok && u.Name != "alice") {
			t.Errorf("%q: %+v %v %v", tc.header, u, ok, err)
		}
	}
}

func TestTokensChain(t *testing.T) {
	boom := errors.New("boom")
	never := TokenFunc(func(context.Context, string) (*User, bool, error) {
		t.Fatal("asked after a claim")
		return nil, false, nil
	})
	pass := TokenFunc(func(context.Context, string) (*User, bool, error) { return nil, false, nil })
	fail := TokenFunc(func(context.Context, string) (*User, bool, error) { return nil, false, boom })
	if _, ok, err := Tokens(pass, fail, never).AuthenticateToken(context.Background(), "x"); ok || !errors.Is(err, boom) {
		t.Fatalf("error did not stop the chain: %v %v", ok, err)
	}
	if _, ok, err := Tokens(pass, pass).AuthenticateToken(context.Background(), "x"); ok || err != nil {
		t.Fatalf("nobody claimed: %v %v", ok, err)
	}
	if got := Intersect([]string{"a", "b", "c"}, []string{"c", "a"}); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("Intersect %v", got)
	}
}
