package apiserver

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/apiserver/storage"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"k8s.io/apimachinery/pkg/runtime"
)

// noStore fails every call: the fuzz targets exercise what happens before
// a request reaches the store.
type noStore struct{}

var errNoStore = errors.New("no store in this test")

func (noStore) Range(context.Context, *pb.RangeRequest) (*pb.RangeResponse, error) {
	return nil, errNoStore
}
func (noStore) Txn(context.Context, *pb.TxnRequest) (*pb.TxnResponse, error) { return nil, errNoStore }
func (noStore) Compact(context.Context, int64) error                         { return errNoStore }
func (noStore) Close() error                                                 { return nil }
func (noStore) Watch(context.Context, []byte, []byte, int64) storage.Watch   { return nil }

// FuzzDecodeCreate feeds arbitrary bodies, in each media type, as each
// kind through the create path's pure steps: decode, defaults, validation,
// the table row and the storage encoding. None may panic.
func FuzzDecodeCreate(f *testing.F) {
	s, err := New(Config{Store: noStore{}, Logger: testLogger(), Authenticators: testAdmin, AuthorizationModes: []string{"AlwaysAllow"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(httpdDeployment), uint8(builtinIndex(f, s, "deployments")), uint8(1))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i","ports":[{"containerPort":80}]}]}}`), uint8(1), uint8(0))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":1}]}}`), uint8(2), uint8(0))
	f.Add([]byte("k8s\x00\n\x0a\n\x02v1\x12\x04Pod\x12\x00"), uint8(1), uint8(2))
	media := []string{mediaJSON, mediaYAML, mediaProtobuf}
	f.Fuzz(func(t *testing.T, body []byte, kindIdx, mediaIdx uint8) {
		res := s.builtin[int(kindIdx)%len(s.builtin)]
		info, ok := s.serializer(media[int(mediaIdx)%len(media)])
		if !ok {
			t.Fatal("no serializer")
		}
		w := httptest.NewRecorder()
		obj, err := s.decodeInto(w, info, body, res.gvk(), res.kind.New(), writeOptions{fieldValidation: "Warn"})
		if err != nil {
			return
		}
		exercise(t, s, res, obj)
	})
}

// builtinIndex is the index of a built-in resource in s.builtin.
func builtinIndex(f *testing.F, s *Server, resource string) int {
	for i, r := range s.builtin {
		if r.kind.Resource == resource && r.kind.GVK.Group != "events.k8s.io" {
			return i
		}
	}
	f.Fatalf("no built-in resource %s", resource)
	return 0
}

func exercise(t *testing.T, s *Server, res *resource, obj runtime.Object) {
	prepareCreate(res.kind, obj, time.Unix(1700000000, 0))
	validateCreate(res.kind, obj)
	old := obj.DeepCopyObject()
	prepareUpdate(res.kind, obj, old, "")
	validateUpdate(res.kind, obj, old, "")
	if _, err := s.toTable(res, []runtime.Object{obj}, "", true); err != nil {
		t.Logf("table: %v", err)
	}
	if _, err := s.encodePlain(res, obj); err != nil {
		t.Logf("encode: %v", err)
	}
}

// FuzzPatch applies arbitrary patches of each type to a deployment and
// runs the result through the update path's pure steps.
func FuzzPatch(f *testing.F) {
	s, err := New(Config{Store: noStore{}, Logger: testLogger(), Authenticators: testAdmin, AuthorizationModes: []string{"AlwaysAllow"}})
	if err != nil {
		f.Fatal(err)
	}
	res := s.builtin[builtinIndex(f, s, "deployments")]
	f.Add([]byte(`{"spec":{"replicas":3}}`), uint8(1))
	f.Add([]byte(`[{"op":"replace","path":"/spec/replicas","value":3}]`), uint8(0))
	f.Add([]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"httpd","$patch":"delete"}]}}}}`), uint8(2))
	f.Add([]byte(`{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"x"}]}}}}`), uint8(2))
	types := []string{patchJSON, patchMerge, patchStrategic}
	info, _ := s.serializer(mediaYAML)
	base, err := s.decodeInto(httptest.NewRecorder(), info, []byte(httpdDeployment), res.gvk(), res.kind.New(), writeOptions{})
	if err != nil {
		f.Fatal(err)
	}
	doc, err := s.encodeJSON(base)
	if err != nil {
		f.Fatal(err)
	}
	jsonInfo := s.jsonInfo()
	f.Fuzz(func(t *testing.T, patch []byte, typeIdx uint8) {
		out, err := applyPatch(types[int(typeIdx)%len(types)], doc, patch, res.kind.New())
		if err != nil {
			return
		}
		obj, err := s.decodeInto(httptest.NewRecorder(), jsonInfo, out, res.gvk(), res.kind.New(), writeOptions{fieldValidation: "Ignore"})
		if err != nil {
			return
		}
		exercise(t, s, res, obj)
	})
}

// FuzzParseRequest: any method and path parse without a panic, and a
// parsed request names a resource.
func FuzzParseRequest(f *testing.F) {
	for _, p := range []string{"/api/v1/namespaces/default/pods/p/status", "/apis/apps/v1/watch/deployments", "/api/v1/namespaces/x", "//api//v1/"} {
		f.Add("GET", p, "1")
	}
	f.Fuzz(func(t *testing.T, method, path, watch string) {
		ri, ok := parseRequest(method, path, func(k string) string { return watch })
		if ok && ri.Resource == "" {
			t.Fatalf("parsed %q with no resource: %+v", path, ri)
		}
	})
}
