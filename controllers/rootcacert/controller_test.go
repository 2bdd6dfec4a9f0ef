package rootcacert_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/rootcacert"
	"github.com/kelson-dev/kelson/internal/testcluster"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

const caPEM = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"

func TestNewWithoutCA(t *testing.T) {
	cctx := controllers.NewContext(fake.NewClientset(), "test", testcluster.Logger())
	defer cctx.Close()
	if c := rootcacert.New(cctx, nil); c != nil {
		t.Errorf("a controller with nothing to publish: %+v", c)
	}
}

// TestPublisher: every namespace gets kube-root-ca.crt; a changed one is
// fixed, a deleted one comes back.
func TestPublisher(t *testing.T) {
	c := testcluster.Start(t)
	cs := c.Client
	ctx, cancel := context.WithCancel(context.Background())
	cctx := controllers.NewContext(cs, "test", testcluster.Logger())
	defer func() { cancel(); cctx.Close() }()
	ctrl := rootcacert.New(cctx, []byte(caPEM))
	cctx.Start(ctx)
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx) }()
	defer func() { cancel(); <-done }()

	published := func(ns string) func() error {
		return func() error {
			cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, rootcacert.ConfigMapName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(cm.Data) != 1 || cm.Data["ca.crt"] != caPEM || cm.Annotations["kubernetes.io/description"] != rootcacert.Description {
				return fmt.Errorf("%s/kube-root-ca.crt: data %v, annotations %v", ns, cm.Data, cm.Annotations)
			}
			return nil
		}
	}
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		testcluster.Eventually(t, 30*time.Second, published(ns))
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 30*time.Second, published("team-a"))

	// Changed: fixed.
	cm, err := cs.CoreV1().ConfigMaps("team-a").Get(ctx, rootcacert.ConfigMapName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{"ca.crt": "forged", "extra": "x"}
	if _, err := cs.CoreV1().ConfigMaps("team-a").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 30*time.Second, published("team-a"))

	// Deleted: recreated (a new object).
	if err := cs.CoreV1().ConfigMaps("team-a").Delete(ctx, rootcacert.ConfigMapName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 30*time.Second, func() error {
		got, err := cs.CoreV1().ConfigMaps("team-a").Get(ctx, rootcacert.ConfigMapName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if got.UID == cm.UID {
			return fmt.Errorf("still the deleted ConfigMap")
		}
		return published("team-a")()
	})
}
