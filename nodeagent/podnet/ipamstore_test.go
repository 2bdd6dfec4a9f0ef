package podnet

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

func TestIPAMStore(t *testing.T) {
	s := ipamStore{dir: t.TempDir()}
	a, b := netip.MustParseAddr("10.244.1.2"), netip.MustParseAddr("10.244.1.3")
	if err := s.claim(a, "uid-a"); err != nil {
		t.Fatal(err)
	}
	if err := s.claim(a, "uid-b"); !errors.Is(err, errTaken) {
		t.Fatalf("second claim of %v: %v, want errTaken", a, err)
	}
	if err := s.claim(b, "uid-b"); err != nil {
		t.Fatal(err)
	}
	// Debris: a temporary file from a crash, a file of another name.
	os.WriteFile(filepath.Join(s.dir, tmpPrefix+"123"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(s.dir, "junk"), []byte("x"), 0o600)
	used, bad, err := s.load()
	if err != nil {
		t.Fatal(err)
	}
	if want := map[netip.Addr]types.UID{a: "uid-a", b: "uid-b"}; !reflect.DeepEqual(used, want) {
		t.Fatalf("load = %v, want %v", used, want)
	}
	if len(bad) != 1 {
		t.Fatalf("bad = %v, want the junk file", bad)
	}
	if _, err := os.Stat(filepath.Join(s.dir, tmpPrefix+"123")); !os.IsNotExist(err) {
		t.Fatal("temporary file not removed")
	}
	if err := s.release("uid-a"); err != nil {
		t.Fatal(err)
	}
	if err := s.release("uid-unknown"); err != nil {
		t.Fatal(err)
	}
	used, _, _ = s.load()
	if want := map[netip.Addr]types.UID{b: "uid-b"}; !reflect.DeepEqual(used, want) {
		t.Fatalf("after release: %v, want %v", used, want)
	}
	if err := s.claim(a, "uid-c"); err != nil {
		t.Fatalf("claiming a freed address: %v", err)
	}
}
