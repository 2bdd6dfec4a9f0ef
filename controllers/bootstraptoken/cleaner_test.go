package bootstraptoken

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/internal/bootstraptoken"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestCleaner: an expired token Secret is deleted; a live one, one
// without expiration and an Opaque Secret of the same name pattern in
// another namespace stay.
func TestCleaner(t *testing.T) {
	now := time.Now()
	mk := func(id string, ttl time.Duration, created time.Time) *corev1.Secret {
		s, err := bootstraptoken.Secret(bootstraptoken.Token{ID: id, Secret: "0123456789abcdef"}, bootstraptoken.Options{TTL: ttl, Now: created})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	expired := mk("aaaaaa", time.Minute, now.Add(-time.Hour))
	live := mk("bbbbbb", time.Hour, now)
	forever := mk("cccccc", 0, now)
	elsewhere := mk("dddddd", time.Minute, now.Add(-time.Hour))
	elsewhere.Namespace = "default"
	client := fake.NewClientset(expired, live, forever, elsewhere)
	cctx := controllers.NewContext(client, "test", slog.New(slog.DiscardHandler))
	defer cctx.Close()
	c := NewCleaner(cctx)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cctx.Start(ctx)
	go c.Run(ctx)
	for {
		_, err := client.CoreV1().Secrets(bootstraptoken.Namespace).Get(ctx, expired.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the expired token Secret was not deleted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, s := range []*corev1.Secret{live, forever, elsewhere} {
		if _, err := client.CoreV1().Secrets(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s/%s: %v", s.Namespace, s.Name, err)
		}
	}
}

func TestDue(t *testing.T) {
	tok := bootstraptoken.Token{ID: "abc123", Secret: "0123456789abcdef"}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s, _ := bootstraptoken.Secret(tok, bootstraptoken.Options{TTL: time.Hour, Now: now})
	if remove, wait := Due(s, now); remove || wait != time.Hour {
		t.Errorf("fresh: %v %v", remove, wait)
	}
	if remove, _ := Due(s, now.Add(time.Hour)); !remove {
		t.Error("expired token kept")
	}
	forever, _ := bootstraptoken.Secret(tok, bootstraptoken.Options{Now: now})
	if remove, wait := Due(forever, now.Add(1000*time.Hour)); remove || wait != 0 {
		t.Errorf("TTL 0: %v %v", remove, wait)
	}
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: bootstraptoken.Namespace}, Type: bootstraptoken.SecretType}
	if remove, _ := Due(other, now); remove {
		t.Error("a malformed token Secret is deleted")
	}
}
