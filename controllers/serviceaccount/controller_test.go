package serviceaccount_test

import (
	"context"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/serviceaccount"
	"github.com/kelson-dev/kelson/internal/testcluster"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMissing(t *testing.T) {
	now := metav1.Now()
	cases := []struct {
		name string
		ns   corev1.Namespace
		has  []string
		want []string
	}{
		{"new namespace", corev1.Namespace{Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}, nil, []string{"default", "builder"}},
		{"has one", corev1.Namespace{}, []string{"default"}, []string{"builder"}},
		{"has both", corev1.Namespace{}, []string{"builder", "default", "x"}, nil},
		{"terminating phase", corev1.Namespace{Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}, nil, nil},
		{"being deleted", corev1.Namespace{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}}, nil, nil},
	}
	for _, c := range cases {
		got := serviceaccount.Missing(&c.ns, []string{"default", "builder"}, func(n string) bool {
			for _, h := range c.has {
				if h == n {
					return true
				}
			}
			return false
		})
		if len(got) != len(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: %v, want %v", c.name, got, c.want)
			}
		}
	}
}

func TestDefaultServiceAccount(t *testing.T) {
	c := testcluster.Start(t)
	cs := c.Client
	ctx, cancel := context.WithCancel(context.Background())
	cctx := controllers.NewContext(cs, "test", testcluster.Logger())
	defer func() { cancel(); cctx.Close() }()
	ctrl := serviceaccount.New(cctx)
	cctx.Start(ctx)
	go ctrl.Run(ctx)

	has := func(ns string) func() error {
		return func() error {
			_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
			return err
		}
	}
	// The system namespaces, and a new one.
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		testcluster.Eventually(t, 30*time.Second, has(ns))
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 30*time.Second, has("team-a"))
	first, err := cs.CoreV1().ServiceAccounts("team-a").Get(ctx, "default", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Deleted, it comes back (a new object).
	if err := cs.CoreV1().ServiceAccounts("team-a").Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 30*time.Second, func() error {
		sa, err := cs.CoreV1().ServiceAccounts("team-a").Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if sa.UID == first.UID {
			return errNotRecreated
		}
		return nil
	})
}

var errNotRecreated = &notRecreated{}

type notRecreated struct{}

func (*notRecreated) Error() string { return "still the deleted service account" }
