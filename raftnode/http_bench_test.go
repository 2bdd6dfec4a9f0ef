package raftnode

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkPutJSONGateway and BenchmarkPutGRPC compare one client's
// sequential puts through the JSON gateway and through gRPC on the same
// port of a single member.
func BenchmarkPutJSONGateway(b *testing.B) {
	tc := newTestCluster(b, 1, nil)
	url := httpURL(tc.servers[0], "/v3/kv/put")
	body := fmt.Sprintf(`{"key":%q,"value":%q}`, b64("bench"), b64(strings.Repeat("v", 256)))
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	if _, err := tc.client().Put(context.Background(), "warm", "up"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := c.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

func BenchmarkPutGRPC(b *testing.B) {
	tc := newTestCluster(b, 1, nil)
	cli := tc.client()
	v := strings.Repeat("v", 256)
	ctx := context.Background()
	if _, err := cli.Put(ctx, "warm", "up"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := cli.Put(ctx, "bench", v); err != nil {
			b.Fatal(err)
		}
	}
}
