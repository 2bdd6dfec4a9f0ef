package manager

import (
	"slices"
	"testing"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/rootcacert"
	"k8s.io/client-go/kubernetes/fake"
)

// TestRootCAPublisherEntry: --disable knows root-ca-cert-publisher; it
// runs only when Config.RootCA is given.
func TestRootCAPublisherEntry(t *testing.T) {
	if !slices.Contains(Names(), rootcacert.Name) {
		t.Fatalf("Names() %v lacks %s", Names(), rootcacert.Name)
	}
	i := slices.IndexFunc(registry, func(e entry) bool { return e.name == rootcacert.Name })
	cctx := controllers.NewContext(fake.NewClientset(), "test", nil)
	defer cctx.Close()
	if r := registry[i].newWith(cctx, Config{}); r != nil {
		t.Errorf("without RootCA: %T, want nil (not run)", r)
	}
	if r := registry[i].newWith(cctx, Config{RootCA: []byte("PEM")}); r == nil {
		t.Error("with RootCA: nil, want the publisher")
	}
}
