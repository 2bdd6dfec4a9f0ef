package stream

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrBadRequest is returned (wrapped) for a request whose path or query
// is invalid; the handlers answer it with 400.
var ErrBadRequest = errors.New("bad request")

// LogOptions are the query parameters of GET /containerLogs, as
// kubelet (and pods/log) take them.
type LogOptions struct {
	// Follow keeps the response open and streams new lines.
	Follow bool
	// Previous reads the instance before the current one.
	Previous bool
	// Timestamps prefixes every line with its time.
	Timestamps bool
	// TailLines, when >= 0, keeps only that many last lines of what is
	// already logged (following then streams every new line). -1: all.
	TailLines int64
	// LimitBytes, when > 0, ends the response after that many bytes.
	LimitBytes int64
	// Since, when not zero, drops lines logged before it (from sinceTime,
	// or now - sinceSeconds).
	Since time.Time
}

// ParseLogOptions reads the query of a containerLogs request. now turns
// sinceSeconds into a time.
func ParseLogOptions(q url.Values, now time.Time) (LogOptions, error) {
	o := LogOptions{TailLines: -1}
	var err error
	if o.Follow, err = parseBool(q, "follow"); err != nil {
		return o, err
	}
	if o.Previous, err = parseBool(q, "previous"); err != nil {
		return o, err
	}
	if o.Timestamps, err = parseBool(q, "timestamps"); err != nil {
		return o, err
	}
	if v := q.Get("tailLines"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return o, kindErrorf(ErrBadRequest, "tailLines %q: must be an integer greater than or equal to 0", v)
		}
		o.TailLines = n
	}
	if v := q.Get("limitBytes"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return o, kindErrorf(ErrBadRequest, "limitBytes %q: must be an integer greater than 0", v)
		}
		o.LimitBytes = n
	}
	secs, stime := q.Get("sinceSeconds"), q.Get("sinceTime")
	if secs != "" && stime != "" {
		return o, kindErrorf(ErrBadRequest, "at most one of sinceTime or sinceSeconds may be specified")
	}
	if secs != "" {
		n, err := strconv.ParseInt(secs, 10, 64)
		if err != nil || n < 1 {
			return o, kindErrorf(ErrBadRequest, "sinceSeconds %q: must be an integer greater than 0", secs)
		}
		if n > int64(100*365*24*time.Hour/time.Second) {
			n = int64(100 * 365 * 24 * time.Hour / time.Second) // no overflow: a century is "everything"
		}
		o.Since = now.Add(-time.Duration(n) * time.Second)
	}
	if stime != "" {
		t, err := time.Parse(time.RFC3339, stime)
		if err != nil {
			return o, kindErrorf(ErrBadRequest, "sinceTime %q: must be an RFC 3339 time (2006-01-02T15:04:05Z): %v", stime, err)
		}
		o.Since = t
	}
	return o, nil
}

// parseBool reads a boolean parameter: absent or "" is false; "1",
// "true", "0", "false" (and strconv.ParseBool's other spellings) as
// written.
func parseBool(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, kindErrorf(ErrBadRequest, "%s %q: must be true or false", name, v)
	}
	return b, nil
}

// ExecOptions are the query parameters of /exec.
type ExecOptions struct {
	Command                    []string
	Stdin, Stdout, Stderr, TTY bool
}

// ParseExecOptions reads the query of an exec request. With TTY, stderr
// is merged into stdout, so Stderr is cleared.
func ParseExecOptions(q url.Values) (ExecOptions, error) {
	var o ExecOptions
	o.Command = q["command"]
	if len(o.Command) == 0 {
		return o, kindErrorf(ErrBadRequest, "you must specify at least one command for the container (command=...)")
	}
	for _, p := range []struct {
		name string
		dst  *bool
	}{{"stdin", &o.Stdin}, {"stdout", &o.Stdout}, {"stderr", &o.Stderr}, {"tty", &o.TTY}} {
		v, err := parseBool(q, p.name)
		if err != nil {
			return o, err
		}
		*p.dst = v
	}
	if !o.Stdin && !o.Stdout && !o.Stderr {
		return o, kindErrorf(ErrBadRequest, "you must specify at least 1 of stdin, stdout, stderr")
	}
	if o.TTY {
		o.Stderr = false
	}
	return o, nil
}

// podPath splits "/containerLogs/NS/POD/CONTAINER" after its prefix into
// its three names.
func podPath(rest string) (ns, pod, container string, err error) {
	parts := splitPath(rest)
	if len(parts) != 3 {
		return "", "", "", kindErrorf(ErrBadRequest, "the path must be /<prefix>/<namespace>/<pod>/<container>")
	}
	for _, p := range parts {
		if p == "" {
			return "", "", "", kindErrorf(ErrBadRequest, "empty namespace, pod or container name in the path")
		}
	}
	return parts[0], parts[1], parts[2], nil
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
