package stream

import (
	"errors"
	"io"
	"time"
)

// selector decides which lines reach the client, in the order kubelet
// applies the options: lines before Since are dropped; of what the file
// held when the request came (the backlog), only the last TailLines
// lines go out; once the backlog is read (goLive), every new line goes
// out at once. It is pure: lines in, lines out.
type selector struct {
	since time.Time
	tail  int64 // -1: all
	live  bool
	held  []*Line // the backlog's last lines, while tail >= 0 and not live
}

func newSelector(o LogOptions) *selector {
	return &selector{since: o.Since, tail: o.TailLines}
}

// add takes the next line and returns the lines to send now.
func (s *selector) add(l *Line) []*Line {
	if !s.since.IsZero() && l.Time.Before(s.since) {
		return nil
	}
	if s.live || s.tail < 0 {
		return []*Line{l}
	}
	if s.tail == 0 {
		return nil
	}
	s.held = append(s.held, l)
	if int64(len(s.held)) > s.tail {
		s.held[0] = nil
		s.held = s.held[1:]
	}
	return nil
}

// goLive ends the backlog: it returns the held tail, and lets every later
// line through.
func (s *selector) goLive() []*Line {
	s.live = true
	out := s.held
	s.held = nil
	return out
}

// errLimitReached ends a response that has sent limitBytes.
var errLimitReached = errors.New("stream: limitBytes reached")

// limitWriter passes at most left bytes (left < 0: no limit) and then
// fails with errLimitReached.
type limitWriter struct {
	w    io.Writer
	left int64
}

func (lw *limitWriter) Write(p []byte) (int, error) {
	if lw.left < 0 {
		return lw.w.Write(p)
	}
	if lw.left == 0 {
		return 0, errLimitReached
	}
	short := false
	if int64(len(p)) > lw.left {
		p, short = p[:lw.left], true
	}
	n, err := lw.w.Write(p)
	lw.left -= int64(n)
	if err == nil && (short || lw.left == 0) {
		err = errLimitReached
	}
	return n, err
}
