package volumes

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestTokenRefreshAt: 80% of the lifetime, or 24 h, whichever first.
func TestTokenRefreshAt(t *testing.T) {
	t0 := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		life   time.Duration
		want   time.Duration // after t0
		dueAt  time.Duration // a moment that is due
		notDue time.Duration // a moment that is not
	}{
		{name: "one hour", life: time.Hour, want: 48 * time.Minute, dueAt: 48 * time.Minute, notDue: 47*time.Minute + 59*time.Second},
		{name: "ten minutes (the minimum)", life: 10 * time.Minute, want: 8 * time.Minute, dueAt: 9 * time.Minute, notDue: 7 * time.Minute},
		{name: "two days: 24 h first", life: 48 * time.Hour, want: 24 * time.Hour, dueAt: 24 * time.Hour, notDue: 23 * time.Hour},
		{name: "a year (extended by the API): 24 h", life: 365 * 24 * time.Hour, want: 24 * time.Hour, dueAt: 25 * time.Hour, notDue: time.Hour},
		{name: "30 h: 24 h is before 80% (24 h)", life: 30 * time.Hour, want: 24 * time.Hour, dueAt: 24 * time.Hour, notDue: 23*time.Hour + 59*time.Minute},
		{name: "already expired at receipt", life: -time.Minute, want: 0, dueAt: 0, notDue: -time.Second},
		{name: "expires at receipt", life: 0, want: 0, dueAt: 0, notDue: -time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := TokenRefreshAt(t0, t0.Add(tc.life))
			if !got.Equal(t0.Add(tc.want)) {
				t.Errorf("refresh at %v after receipt, want %v", got.Sub(t0), tc.want)
			}
			tok := issuedToken{received: t0, expires: t0.Add(tc.life)}
			if !tokenDue(t0.Add(tc.dueAt), tok) {
				t.Errorf("not due %v after receipt", tc.dueAt)
			}
			if tokenDue(t0.Add(tc.notDue), tok) {
				t.Errorf("due already %v after receipt", tc.notDue)
			}
		})
	}
}

func TestTokenSourceOf(t *testing.T) {
	pod := func(sa string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "u1"}, Spec: corev1.PodSpec{ServiceAccountName: sa}}
	}
	for _, tc := range []struct {
		name string
		sa   string
		src  corev1.ServiceAccountTokenProjection
		want TokenSource
	}{
		{"defaults", "", corev1.ServiceAccountTokenProjection{Path: "token"}, TokenSource{"default", "", 3600}},
		{"named account and audience", "builder", corev1.ServiceAccountTokenProjection{Path: "t", Audience: "vault", ExpirationSeconds: ptr(int64(7200))}, TokenSource{"builder", "vault", 7200}},
		{"below the minimum", "a", corev1.ServiceAccountTokenProjection{Path: "t", ExpirationSeconds: ptr(int64(60))}, TokenSource{"a", "", 600}},
		{"zero: the default", "a", corev1.ServiceAccountTokenProjection{Path: "t", ExpirationSeconds: ptr(int64(0))}, TokenSource{"a", "", 3600}},
		{"negative: the default", "a", corev1.ServiceAccountTokenProjection{Path: "t", ExpirationSeconds: ptr(int64(-5))}, TokenSource{"a", "", 3600}},
	} {
		if got := tokenSourceOf(pod(tc.sa), &tc.src); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	// The request: audiences (none for ""), lifetime, bound to the pod.
	p := pod("builder")
	req := tokenRequest(p, TokenSource{"builder", "", 3600})
	if req.Spec.Audiences != nil || *req.Spec.ExpirationSeconds != 3600 {
		t.Errorf("request %+v", req.Spec)
	}
	if b := req.Spec.BoundObjectRef; b == nil || b.Kind != "Pod" || b.APIVersion != "v1" || b.Name != "web" || b.UID != "u1" {
		t.Errorf("bound object %+v", req.Spec.BoundObjectRef)
	}
	if req := tokenRequest(p, TokenSource{"builder", "vault", 600}); len(req.Spec.Audiences) != 1 || req.Spec.Audiences[0] != "vault" {
		t.Errorf("audiences %v", req.Spec.Audiences)
	}
}
