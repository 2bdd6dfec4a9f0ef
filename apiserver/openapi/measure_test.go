package openapi

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// heapAfterGC returns the live heap after a full collection.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestBuildCost logs what the first requests cost: the time to build and
// serve the documents and the heap they keep (the test client asks for gzip,
// so the gzip encodings are counted too). It asserts nothing about the
// numbers (they depend on the machine); run with -v to read them.
func TestBuildCost(t *testing.T) {
	if testing.Short() {
		t.Skip("measures; skipped with -short")
	}
	svc := New(testResources())
	srv := httptest.NewServer(svc)
	defer srv.Close()

	base := heapAfterGC()
	step := func(what string, paths []string, accept string) {
		start := time.Now()
		for _, p := range paths {
			want := http.StatusOK
			if p == "/openapi/v3/apis/none/v1" {
				want = http.StatusNotFound
			}
			get(t, srv, p, accept, want)
		}
		took := time.Since(start)
		heap := heapAfterGC()
		t.Logf("%-40s %8v  live heap +%5.1f MiB (total since idle)", what, took.Round(time.Millisecond), float64(heap-base)/(1<<20))
	}
	step("first request (set-up, a 404)", []string{"/openapi/v3/apis/none/v1"}, "")
	step("GET /openapi/v3/apis/apps/v1 (one doc)", []string{"/openapi/v3/apis/apps/v1"}, "application/json")
	step("GET /openapi/v3 (index: all v3 docs)", []string{"/openapi/v3"}, "application/json")
	step("GET /openapi/v2 JSON", []string{"/openapi/v2"}, "application/json")
	step("GET /openapi/v2 protobuf", []string{"/openapi/v2"}, "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
	step("GET /openapi/v2 again (cached)", []string{"/openapi/v2"}, "application/json")
}

// BenchmarkBuildV2 measures building the v2 document alone.
func BenchmarkBuildV2(b *testing.B) {
	p := newPlan(testResources(), nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.buildV2(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildV3AppsV1 measures building the apps/v1 v3 document alone.
func BenchmarkBuildV3AppsV1(b *testing.B) {
	p := newPlan(testResources(), nil)
	b.ReportAllocs()
	for b.Loop() {
		c, err := p.groupVersionContainer(p.groupVersions[1])
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.buildV3("apis/apps/v1", c); err != nil {
			b.Fatal(err)
		}
	}
}
