package testnet

import (
	"os"
	"testing"
)

// The testing.TB binding: New makes the namespace and cleanup deletes
// it; Link joins two (the namespaces themselves are tested in
// internal/netns).
func TestNewAndLinkCleanUp(t *testing.T) {
	var paths []string
	t.Run("use", func(t *testing.T) {
		a, b := New(t, "tn"), New(t, "tn")
		Link(t, a, b, "192.168.251.1/24", "192.168.251.2/24")
		if err := a.RouteLocal("192.168.251.2"); err != nil {
			t.Fatal(err)
		}
		paths = []string{a.Path(), b.Path()}
	})
	for _, p := range paths {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s outlives its test: %v", p, err)
		}
	}
}
