package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// httpPoller asks addr for /name.html over a fresh connection each time
// (so that every request goes through the Service's rules again, as a new
// client's would), each request bounded by timeout.
type httpPoller struct {
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	addr    string
	timeout time.Duration
}

// get returns the page's body, trimmed; an error for anything but 200.
func (p *httpPoller) get(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	c, err := p.dial(ctx, "tcp", p.addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := fmt.Fprintf(c, "GET /name.html HTTP/1.0\r\nHost: %s\r\n\r\n", p.addr); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET http://%s/name.html: %s", p.addr, resp.Status)
	}
	return strings.TrimSpace(string(b)), nil
}
