package apiserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"os/exec"
	"strings"
	"testing"

	"github.com/kelson-dev/kelson/apiserver/encryption"
	"github.com/kelson-dev/kelson/apiserver/storage"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

func encKey(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

func encConfig(t *testing.T, providers string) *encryption.Config {
	t.Helper()
	c, err := encryption.Parse([]byte("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n" + providers))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// storedValue reads a key straight from the store.
func storedValue(t *testing.T, st storage.Store, key string) []byte {
	t.Helper()
	resp, err := st.Range(context.Background(), &pb.RangeRequest{Key: []byte(key)})
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("read %s from the store: %v (%d values)", key, err, len(resp.GetKvs()))
	}
	return resp.Kvs[0].Value
}

func putStored(t *testing.T, st storage.Store, key string, val []byte) {
	t.Helper()
	if _, err := st.Txn(context.Background(), &pb.TxnRequest{Success: []*pb.RequestOp{putOp(key, val)}}); err != nil {
		t.Fatal(err)
	}
}

const plainMarker = "this-is-the-plain-secret-value"

func newSecret(name string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name},
		StringData: map[string]string{"password": plainMarker}}
}

func checkSecret(t *testing.T, s *corev1.Secret, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Data["password"]) != plainMarker {
		t.Fatalf("secret %s: data %q", s.Name, s.Data)
	}
}

// TestEncryptionAtRest: secrets written through the API are stored with
// the first provider's envelope and never in plain text; gets, lists and
// watch events return them decrypted; other resources stay plain.
func TestEncryptionAtRest(t *testing.T) {
	forEachBackendStore(t, func(t *testing.T, st storage.Store) {
		ts := startServerWith(t, Config{Store: st, Encryption: encConfig(t, "  - aescbc: {keys: [{name: key1, secret: "+encKey(1)+"}]}\n  - identity: {}\n")})
		ctx := context.Background()
		secrets := ts.client.CoreV1().Secrets("default")
		w, err := secrets.Watch(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		created, err := secrets.Create(ctx, newSecret("s1"), metav1.CreateOptions{})
		checkSecret(t, created, err)

		v := storedValue(t, st, "/registry/secrets/default/s1")
		if !bytes.HasPrefix(v, []byte("k8s:enc:aescbc:v1:key1:")) || bytes.Contains(v, []byte(plainMarker)) || bytes.Contains(v, []byte(base64.StdEncoding.EncodeToString([]byte(plainMarker)))) {
			t.Fatalf("stored secret: %q", v[:min(len(v), 40)])
		}
		got, err := secrets.Get(ctx, "s1", metav1.GetOptions{})
		checkSecret(t, got, err)
		list, err := secrets.List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) != 1 {
			t.Fatalf("list: %v (want 1 item)", err)
		}
		checkSecret(t, &list.Items[0], nil)
		list, err = secrets.List(ctx, metav1.ListOptions{Limit: 10}) // paged: from the store
		if err != nil || len(list.Items) != 1 {
			t.Fatalf("paged list: %v", err)
		}
		checkSecret(t, &list.Items[0], nil)
		ev := nextEvent(t, w)
		s, ok := ev.Object.(*corev1.Secret)
		if ev.Type != watch.Added || !ok {
			t.Fatalf("watch: %s %T", ev.Type, ev.Object)
		}
		checkSecret(t, s, nil)
		// After the event, the watch cache has it (a read at a
		// resourceVersion is served from the cache).
		got, err = secrets.Get(ctx, "s1", metav1.GetOptions{ResourceVersion: created.ResourceVersion})
		checkSecret(t, got, err)
		// An update is encrypted too.
		got.StringData = map[string]string{"other": "x"}
		if _, err := secrets.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if v := storedValue(t, st, "/registry/secrets/default/s1"); !bytes.HasPrefix(v, []byte("k8s:enc:aescbc:v1:key1:")) {
			t.Fatalf("updated secret stored as %q", v[:20])
		}
		if ev := nextEvent(t, w); ev.Type != watch.Modified || string(ev.Object.(*corev1.Secret).Data["other"]) != "x" {
			t.Fatalf("watch: %s", ev.Type)
		}

		// ConfigMaps are not listed: stored as they are.
		if _, err := ts.client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"},
			Data: map[string]string{"k": plainMarker}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if v := storedValue(t, st, "/registry/configmaps/default/c"); !bytes.HasPrefix(v, []byte("k8s\x00")) || !bytes.Contains(v, []byte(plainMarker)) {
			t.Fatalf("configmap stored as %q", v[:20])
		}

		// A tampered value is an error, never an object.
		tampered := storedValue(t, st, "/registry/secrets/default/s1")
		tampered[len(tampered)-17] ^= 0x80
		putStored(t, st, "/registry/secrets/default/s1", tampered)
		_, err = secrets.Get(ctx, "s1", metav1.GetOptions{})
		if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "cannot decrypt") || !strings.Contains(err.Error(), `key "key1"`) {
			t.Fatalf("tampered: %v", err)
		}
		if _, err := secrets.List(ctx, metav1.ListOptions{Limit: 10}); !apierrors.IsInternalError(err) {
			t.Fatalf("a list from the store over a tampered value: %v, want 500", err)
		}
	})
}

// forEachBackendStore runs f on each backend's fresh store.
func forEachBackendStore(t *testing.T, f func(t *testing.T, st storage.Store)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { f(t, b.start(t)) })
	}
}

// TestEncryptionRotation: Kubernetes' procedure. key1 writes; a server
// with key2 first (key1 second) reads them and rewrites them on an
// unchanged replace; then a server with key2 alone reads everything. A
// server without key1 reports the old values' provider and key.
func TestEncryptionRotation(t *testing.T) {
	st := startMember(t)
	ctx := context.Background()
	key1 := "{name: key1, secret: " + encKey(1) + "}"
	key2 := "{name: key2, secret: " + encKey(2) + "}"

	one := startServerWith(t, Config{Store: st, Encryption: encConfig(t, "  - aescbc: {keys: ["+key1+"]}\n")})
	names := []string{"a", "b", "c"}
	for _, n := range names {
		if _, err := one.client.CoreV1().Secrets("default").Create(ctx, newSecret(n), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// key2 only: the old values name a key it does not have.
	only2 := startServerWith(t, Config{Store: st, Encryption: encConfig(t, "  - aescbc: {keys: ["+key2+"]}\n")})
	_, err := only2.client.CoreV1().Secrets("default").Get(ctx, "a", metav1.GetOptions{})
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), `aescbc (v1) key "key1"`) || !strings.Contains(err.Error(), "does not list") {
		t.Fatalf("without key1: %v", err)
	}

	// key2 first, key1 second: reads all; `kubectl get -o json | kubectl
	// replace -f -` rewrites each with key2.
	both := startServerWith(t, Config{Store: st, Encryption: encConfig(t, "  - aescbc: {keys: ["+key2+", "+key1+"]}\n")})
	secrets := both.client.CoreV1().Secrets("default")
	list, err := secrets.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("kubectl"); err == nil {
		// The real pipeline, for the first two; the client for the rest.
		k := newKubectl(t, both)
		out := k.run(false, "get", "secrets", "a", "b", "-o", "json")
		k.run(false, "replace", "-f", k.file("secrets.json", out))
		for _, n := range []string{"a", "b"} {
			if v := storedValue(t, st, "/registry/secrets/default/"+n); !bytes.HasPrefix(v, []byte("k8s:enc:aescbc:v1:key2:")) {
				t.Fatalf("%s after kubectl replace: %q", n, v[:24])
			}
		}
		list.Items = list.Items[2:]
	} else {
		t.Log("kubectl is not on the PATH: the rewrite goes through client-go's Update (the PUT kubectl replace sends)")
	}
	for i := range list.Items {
		checkSecret(t, &list.Items[i], nil)
		before := list.Items[i].ResourceVersion
		out, err := secrets.Update(ctx, &list.Items[i], metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if out.ResourceVersion == before {
			t.Fatalf("%s: an unchanged replace of a key1 value was not rewritten", out.Name)
		}
		// Once rewritten, an unchanged replace is a no-op again.
		again, err := secrets.Update(ctx, out, metav1.UpdateOptions{})
		if err != nil || again.ResourceVersion != out.ResourceVersion {
			t.Fatalf("%s: second replace: %v, rv %s -> %s", out.Name, err, out.ResourceVersion, again.ResourceVersion)
		}
	}
	for _, n := range names {
		if v := storedValue(t, st, "/registry/secrets/default/"+n); !bytes.HasPrefix(v, []byte("k8s:enc:aescbc:v1:key2:")) {
			t.Fatalf("%s after the rewrite: %q", n, v[:24])
		}
	}
	// key1 removed: everything still reads.
	final := startServerWith(t, Config{Store: st, Encryption: encConfig(t, "  - aescbc: {keys: ["+key2+"]}\n")})
	for _, n := range names {
		s, err := final.client.CoreV1().Secrets("default").Get(ctx, n, metav1.GetOptions{})
		checkSecret(t, s, err)
	}
}

// TestEncryptionProviders: each provider as the writer; identity first
// with aescbc second reads the values aescbc wrote (decryption's way
// back); aesgcm with the right name and a wrong secret fails clearly; an
// aesgcm value copied to another key fails.
func TestEncryptionProviders(t *testing.T) {
	st := startMember(t)
	ctx := context.Background()
	for _, p := range []string{"aescbc", "aesgcm", "secretbox"} {
		ts := startServerWith(t, Config{Store: st, Encryption: encConfig(t, "  - "+p+": {keys: [{name: k, secret: "+encKey(3)+"}]}\n  - identity: {}\n")})
		s, err := ts.client.CoreV1().Secrets("default").Create(ctx, newSecret(p), metav1.CreateOptions{})
		checkSecret(t, s, err)
		if v := storedValue(t, st, "/registry/secrets/default/"+p); !bytes.HasPrefix(v, []byte("k8s:enc:"+p+":v1:k:")) {
			t.Fatalf("%s: stored %q", p, v[:20])
		}
		s, err = ts.client.CoreV1().Secrets("default").Get(ctx, p, metav1.GetOptions{})
		checkSecret(t, s, err)
	}
	back := startServerWith(t, Config{Store: st, Encryption: encConfig(t, "  - identity: {}\n  - aescbc: {keys: [{name: k, secret: "+encKey(3)+"}]}\n")})
	s, err := back.client.CoreV1().Secrets("default").Get(ctx, "aescbc", metav1.GetOptions{})
	checkSecret(t, s, err)
	if _, err := back.client.CoreV1().Secrets("default").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if v := storedValue(t, st, "/registry/secrets/default/aescbc"); !bytes.HasPrefix(v, []byte("k8s\x00")) {
		t.Fatalf("identity first: the rewrite stored %q", v[:20])
	}

	wrong := startServerWith(t, Config{Store: st, Encryption: encConfig(t, "  - aesgcm: {keys: [{name: k, secret: "+encKey(4)+"}]}\n")})
	_, err = wrong.client.CoreV1().Secrets("default").Get(ctx, "aesgcm", metav1.GetOptions{})
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), `aesgcm (v1) key "k"`) || strings.Contains(err.Error(), encKey(4)) {
		t.Fatalf("wrong aesgcm secret: %v", err)
	}
	// Copied to another key: aesgcm binds the value to its key.
	putStored(t, st, "/registry/secrets/default/copy", storedValue(t, st, "/registry/secrets/default/aesgcm"))
	gcm := startServerWith(t, Config{Store: st, Encryption: encConfig(t, "  - aesgcm: {keys: [{name: k, secret: "+encKey(3)+"}]}\n  - identity: {}\n")})
	if _, err := gcm.client.CoreV1().Secrets("default").Get(ctx, "copy", metav1.GetOptions{}); !apierrors.IsInternalError(err) {
		t.Fatalf("an aesgcm value copied to another key: %v", err)
	}
}
