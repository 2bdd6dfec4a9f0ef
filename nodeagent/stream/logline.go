package stream

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// A CRI-format log file holds one entry per line:
//
//	2024-05-01T10:00:00.123456789Z stdout F hello world
//	2024-05-01T10:00:00.200000000Z stderr P first half of a long li
//	2024-05-01T10:00:00.200000001Z stderr F ne, and its second half
//
// The tag is F (full: the entry ends a line) or P (partial: the line
// goes on in the next entry of the same stream). The CRI allows more
// tags after the first, separated by ':'; only the first one counts.

// ErrBadLogLine is returned (wrapped) for a log file line that is not a
// CRI log entry.
var ErrBadLogLine = errors.New("stream: not a CRI log line")

// Entry is one parsed line of a CRI log file.
type Entry struct {
	Time time.Time
	// Stream is "stdout" or "stderr".
	Stream string
	// Partial: the log line continues in the next entry of this stream.
	Partial bool
	// Text is the entry's content (no newline); it aliases the parsed
	// buffer.
	Text []byte
}

// ParseEntry parses one CRI log line, without its trailing newline.
func ParseEntry(b []byte) (Entry, error) {
	var e Entry
	ts, rest, ok := bytes.Cut(b, []byte{' '})
	if !ok {
		return e, fmt.Errorf("%w: no space after the timestamp in %q", ErrBadLogLine, trim(b))
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return e, fmt.Errorf("%w: timestamp %q: %v", ErrBadLogLine, trim(ts), err)
	}
	e.Time = t
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return e, fmt.Errorf("%w: no tag after the stream in %q", ErrBadLogLine, trim(b))
	}
	switch string(stream) {
	case "stdout", "stderr":
		e.Stream = string(stream)
	default:
		return e, fmt.Errorf("%w: stream %q is neither stdout nor stderr", ErrBadLogLine, trim(stream))
	}
	tags, text, _ := bytes.Cut(rest, []byte{' '}) // "F" alone: an empty line
	first, _, _ := bytes.Cut(tags, []byte{':'})
	switch string(first) {
	case "F":
	case "P":
		e.Partial = true
	default:
		return e, fmt.Errorf("%w: tag %q is neither F nor P", ErrBadLogLine, trim(tags))
	}
	e.Text = text
	return e, nil
}

func trim(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

// Line is one logical log line: its partial entries joined.
type Line struct {
	// Time is the time of the line's first entry.
	Time   time.Time
	Stream string
	// Text without the newline; owned by the Line.
	Text []byte
}

// joiner joins partial entries into lines, per stream: a P entry of
// stdout continues with the next entry of stdout, whatever stderr wrote
// in between. The zero value is ready.
type joiner struct {
	pending [2]*Line // stdout, stderr
}

func streamIndex(s string) int {
	if s == "stderr" {
		return 1
	}
	return 0
}

// add takes the next entry; it returns the line the entry completes, or
// nil when the entry is partial.
func (j *joiner) add(e Entry) *Line {
	i := streamIndex(e.Stream)
	p := j.pending[i]
	if p == nil {
		p = &Line{Time: e.Time, Stream: e.Stream}
	}
	p.Text = append(p.Text, e.Text...)
	if e.Partial {
		j.pending[i] = p
		return nil
	}
	j.pending[i] = nil
	return p
}

// flush returns the unfinished lines (at the end of a log that will not
// grow), oldest first, and forgets them.
func (j *joiner) flush() []*Line {
	var out []*Line
	for i, p := range j.pending {
		if p != nil {
			out = append(out, p)
			j.pending[i] = nil
		}
	}
	if len(out) == 2 && out[1].Time.Before(out[0].Time) {
		out[0], out[1] = out[1], out[0]
	}
	return out
}

// timeFormat is how timestamps=true prints a line's time: RFC 3339 with
// nine fraction digits always, so that prefixes line up and sort.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// appendLine appends l as the client sees it: the text and a newline,
// after the time and a space when timestamps.
func appendLine(dst []byte, l *Line, timestamps bool) []byte {
	if timestamps {
		dst = l.Time.AppendFormat(dst, timeFormat)
		dst = append(dst, ' ')
	}
	dst = append(dst, l.Text...)
	return append(dst, '\n')
}
