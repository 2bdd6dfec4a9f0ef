package authn

import (
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
)

func TestTokenRequestSpec(t *testing.T) {
	secs := func(n int64) *int64 { return &n }
	api := []string{"https://kubernetes.default.svc.cluster.local"}
	for _, tc := range []struct {
		name     string
		in       authenticationv1.TokenRequestSpec
		wantSecs int64
		wantAuds []string
		wantErr  string
	}{
		{name: "defaults", wantSecs: 3600, wantAuds: api},
		{name: "given", in: authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}, ExpirationSeconds: secs(7200)},
			wantSecs: 7200, wantAuds: []string{"vault"}},
		{name: "the minimum", in: authenticationv1.TokenRequestSpec{ExpirationSeconds: secs(600)}, wantSecs: 600, wantAuds: api},
		{name: "below the minimum", in: authenticationv1.TokenRequestSpec{ExpirationSeconds: secs(599)},
			wantErr: "spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes"},
		{name: "negative", in: authenticationv1.TokenRequestSpec{ExpirationSeconds: secs(-1)}, wantErr: "less than 10 minutes"},
		{name: "cut to the maximum", in: authenticationv1.TokenRequestSpec{ExpirationSeconds: secs(3 * 24 * 3600)},
			wantSecs: 48 * 3600, wantAuds: api},
		{name: "beyond 2^32", in: authenticationv1.TokenRequestSpec{ExpirationSeconds: secs(1<<32 + 1)}, wantErr: "larger than 2^32 seconds"},
		{name: "empty audience", in: authenticationv1.TokenRequestSpec{Audiences: []string{"a", ""}}, wantErr: "spec.audiences[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := *tc.in.DeepCopy()
			got, errs := TokenRequestSpec(tc.in, api, 48*time.Hour)
			if tc.wantErr != "" {
				if errs == nil || !strings.Contains(errs.ToAggregate().Error(), tc.wantErr) {
					t.Fatalf("errs %v, want %q", errs, tc.wantErr)
				}
				return
			}
			if errs != nil {
				t.Fatal(errs)
			}
			if *got.ExpirationSeconds != tc.wantSecs || !slices.Equal(got.Audiences, tc.wantAuds) {
				t.Fatalf("got %d %v", *got.ExpirationSeconds, got.Audiences)
			}
			if (in.ExpirationSeconds == nil) != (tc.in.ExpirationSeconds == nil) || len(in.Audiences) != len(tc.in.Audiences) {
				t.Fatal("the input was modified")
			}
		})
	}
}
