package stream

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
	"k8s.io/apimachinery/pkg/types"
)

func TestParseEntry(t *testing.T) {
	ts := "2024-05-01T10:00:00.123456789Z"
	t0, _ := time.Parse(time.RFC3339Nano, ts)
	for _, tc := range []struct {
		in      string
		want    Entry
		wantErr bool
	}{
		{in: ts + " stdout F hello world", want: Entry{Time: t0, Stream: "stdout", Text: []byte("hello world")}},
		{in: ts + " stderr P half", want: Entry{Time: t0, Stream: "stderr", Partial: true, Text: []byte("half")}},
		{in: ts + " stdout F ", want: Entry{Time: t0, Stream: "stdout", Text: []byte{}}},
		{in: ts + " stdout F", want: Entry{Time: t0, Stream: "stdout"}},
		{in: ts + " stdout F  two spaces kept ", want: Entry{Time: t0, Stream: "stdout", Text: []byte(" two spaces kept ")}},
		{in: ts + " stdout P:x more", want: Entry{Time: t0, Stream: "stdout", Partial: true, Text: []byte("more")}},
		{in: "2024-05-01T12:00:00+02:00 stdout F tz", want: Entry{Time: t0.Add(-123456789).Add(0), Stream: "stdout", Text: []byte("tz")}},
		{in: "", wantErr: true},
		{in: "garbage", wantErr: true},
		{in: "notatime stdout F x", wantErr: true},
		{in: ts + " stdin F x", wantErr: true},
		{in: ts + " stdout", wantErr: true},
		{in: ts + " stdout X x", wantErr: true},
	} {
		got, err := ParseEntry([]byte(tc.in))
		if tc.wantErr {
			if !errors.Is(err, ErrBadLogLine) {
				t.Errorf("%q: err %v, want ErrBadLogLine", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !got.Time.Equal(tc.want.Time) || got.Stream != tc.want.Stream || got.Partial != tc.want.Partial || string(got.Text) != string(tc.want.Text) {
			t.Errorf("%q: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestJoiner(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	e := func(ms int, stream string, partial bool, text string) Entry {
		return Entry{Time: t0.Add(time.Duration(ms) * time.Millisecond), Stream: stream, Partial: partial, Text: []byte(text)}
	}
	var j joiner
	var got []string
	for _, en := range []Entry{
		e(1, "stdout", true, "lo"),
		e(2, "stderr", false, "err line"),
		e(3, "stdout", true, "ng "),
		e(4, "stdout", false, "line"),
		e(5, "stderr", true, "cut"),
		e(6, "stdout", true, "also cut"),
	} {
		if l := j.add(en); l != nil {
			got = append(got, fmt.Sprintf("%d %s %s", l.Time.Sub(t0).Milliseconds(), l.Stream, l.Text))
		}
	}
	for _, l := range j.flush() {
		got = append(got, fmt.Sprintf("flush %d %s %s", l.Time.Sub(t0).Milliseconds(), l.Stream, l.Text))
	}
	want := []string{"2 stderr err line", "1 stdout long line", "flush 5 stderr cut", "flush 6 stdout also cut"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if len(j.flush()) != 0 {
		t.Fatal("flush twice returned lines")
	}
}

func TestAppendLine(t *testing.T) {
	l := &Line{Time: time.Date(2024, 5, 1, 10, 0, 0, 1000, time.UTC), Stream: "stdout", Text: []byte("hi")}
	if got := string(appendLine(nil, l, false)); got != "hi\n" {
		t.Errorf("plain: %q", got)
	}
	if got := string(appendLine(nil, l, true)); got != "2024-05-01T10:00:00.000001000Z hi\n" {
		t.Errorf("timestamps: %q", got)
	}
}

func TestParseLogOptions(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		q       string
		want    LogOptions
		wantErr string
	}{
		{q: "", want: LogOptions{TailLines: -1}},
		{q: "follow=true&previous=1&timestamps=true", want: LogOptions{Follow: true, Previous: true, Timestamps: true, TailLines: -1}},
		{q: "follow=false", want: LogOptions{TailLines: -1}},
		{q: "tailLines=0", want: LogOptions{TailLines: 0}},
		{q: "tailLines=10&limitBytes=5", want: LogOptions{TailLines: 10, LimitBytes: 5}},
		{q: "sinceSeconds=60", want: LogOptions{TailLines: -1, Since: now.Add(-time.Minute)}},
		{q: "sinceTime=2024-05-01T09:00:00Z", want: LogOptions{TailLines: -1, Since: now.Add(-time.Hour)}},
		{q: "sinceSeconds=99999999999999", want: LogOptions{TailLines: -1, Since: now.Add(-100 * 365 * 24 * time.Hour)}},
		{q: "follow=yes", wantErr: "follow"},
		{q: "tailLines=-1", wantErr: "tailLines"},
		{q: "tailLines=x", wantErr: "tailLines"},
		{q: "limitBytes=0", wantErr: "limitBytes"},
		{q: "sinceSeconds=0", wantErr: "sinceSeconds"},
		{q: "sinceSeconds=1&sinceTime=2024-05-01T09:00:00Z", wantErr: "at most one"},
		{q: "sinceTime=yesterday", wantErr: "sinceTime"},
	} {
		q, _ := url.ParseQuery(tc.q)
		got, err := ParseLogOptions(q, now)
		if tc.wantErr != "" {
			if err == nil || !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err %v, want a bad request about %s", tc.q, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !got.Since.Equal(tc.want.Since) {
			t.Errorf("%q: got %+v, %v; want %+v", tc.q, got, err, tc.want)
			continue
		}
		got.Since, tc.want.Since = time.Time{}, time.Time{}
		if got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.q, got, tc.want)
		}
	}
}

func TestParseExecOptions(t *testing.T) {
	for _, tc := range []struct {
		q       string
		want    ExecOptions
		wantErr string
	}{
		{q: "command=ls&command=-l&stdout=true", want: ExecOptions{Command: []string{"ls", "-l"}, Stdout: true}},
		{q: "command=sh&stdin=1&stdout=1&stderr=1&tty=1", want: ExecOptions{Command: []string{"sh"}, Stdin: true, Stdout: true, TTY: true}},
		{q: "command=sh&stderr=true", want: ExecOptions{Command: []string{"sh"}, Stderr: true}},
		{q: "stdout=true", wantErr: "at least one command"},
		{q: "command=ls", wantErr: "at least 1 of stdin, stdout, stderr"},
		{q: "command=ls&stdout=maybe", wantErr: "stdout"},
	} {
		q, _ := url.ParseQuery(tc.q)
		got, err := ParseExecOptions(q)
		if tc.wantErr != "" {
			if err == nil || statusOf(err) != 400 || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err %v, want a 400 about %s", tc.q, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %+v, %v; want %+v", tc.q, got, err, tc.want)
		}
	}
}

func TestPodPath(t *testing.T) {
	for _, tc := range []struct {
		in, ns, pod, c string
		ok             bool
	}{
		{"default/web/httpd", "default", "web", "httpd", true},
		{"/default/web/httpd/", "default", "web", "httpd", true},
		{"default/web", "", "", "", false},
		{"default//httpd", "", "", "", false},
		{"a/b/c/d", "", "", "", false},
		{"", "", "", "", false},
	} {
		ns, pod, c, err := podPath(tc.in)
		if (err == nil) != tc.ok || ns != tc.ns || pod != tc.pod || c != tc.c {
			t.Errorf("%q: got %q %q %q %v", tc.in, ns, pod, c, err)
		}
	}
}

func TestPickInstance(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	mk := func(ns, pod string, uid types.UID, name string, attempt int, created int) runtime.ContainerStatus {
		return instance("/logs", ns, pod, uid, name, attempt, runtime.StateExited, at(created))
	}
	list := []runtime.ContainerStatus{
		mk("default", "web", "u1", "httpd", 0, 1),
		mk("default", "web", "u1", "httpd", 2, 5),
		mk("default", "web", "u1", "httpd", 1, 3),
		mk("default", "web", "u1", "sidecar", 0, 1),
		mk("other", "web", "u9", "httpd", 7, 9),     // same pod name, other namespace
		mk("default", "db", "u2", "postgres", 0, 2), // one instance only
		// a pod deleted and made again under the same name: the newer UID wins
		mk("default", "sts-0", "old", "app", 3, 1),
		mk("default", "sts-0", "new", "app", 0, 8),
	}
	for _, tc := range []struct {
		ns, pod, c string
		previous   bool
		wantID     string
		wantErr    error
		wantMsg    string
	}{
		{ns: "default", pod: "web", c: "httpd", wantID: "u1-httpd-2"},
		{ns: "default", pod: "web", c: "httpd", previous: true, wantID: "u1-httpd-1"},
		{ns: "default", pod: "web", c: "sidecar", wantID: "u1-sidecar-0"},
		{ns: "other", pod: "web", c: "httpd", wantID: "u9-httpd-7"},
		{ns: "default", pod: "db", c: "postgres", wantID: "u2-postgres-0"},
		{ns: "default", pod: "db", c: "postgres", previous: true, wantErr: ErrNoPrevious,
			wantMsg: `previous terminated container "postgres" in pod "db" not found`},
		{ns: "default", pod: "sts-0", c: "app", wantID: "new-app-0"},
		{ns: "default", pod: "sts-0", c: "app", previous: true, wantErr: ErrNoPrevious},
		{ns: "default", pod: "web", c: "nope", wantErr: ErrContainerNotFound, wantMsg: `container "nope" in pod "web" not found`},
		{ns: "default", pod: "gone", c: "httpd", wantErr: ErrPodNotFound},
	} {
		name := fmt.Sprintf("%s/%s/%s previous=%v", tc.ns, tc.pod, tc.c, tc.previous)
		got, err := pickInstance(list, tc.ns, tc.pod, tc.c, tc.previous)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("%s: err %v, want %v with %q", name, err, tc.wantErr, tc.wantMsg)
			}
			continue
		}
		if err != nil || got.ID != tc.wantID {
			t.Errorf("%s: got %s, %v; want %s", name, got.ID, err, tc.wantID)
		}
	}
	if statusOf(kindErrorf(ErrNoPrevious, "x")) != 400 || statusOf(kindErrorf(ErrContainerNotFound, "x")) != 404 ||
		statusOf(kindErrorf(ErrPodNotFound, "x")) != 404 || statusOf(errors.New("x")) != 500 {
		t.Error("statusOf maps the error kinds wrong")
	}
}

func TestSelector(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	line := func(s int) *Line {
		return &Line{Time: t0.Add(time.Duration(s) * time.Second), Text: []byte(fmt.Sprint(s))}
	}
	texts := func(ls []*Line) (out []string) {
		for _, l := range ls {
			out = append(out, string(l.Text))
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		opts    LogOptions
		backlog int // lines 1..backlog before goLive, then 2 more live
		want    []string
	}{
		{"all", LogOptions{TailLines: -1}, 4, []string{"1", "2", "3", "4", "|", "5", "6"}},
		{"tail 2", LogOptions{TailLines: 2}, 4, []string{"|", "3", "4", "5", "6"}},
		{"tail 0", LogOptions{TailLines: 0}, 4, []string{"|", "5", "6"}},
		{"tail more than there is", LogOptions{TailLines: 10}, 3, []string{"|", "1", "2", "3", "4", "5"}},
		{"since", LogOptions{TailLines: -1, Since: t0.Add(3 * time.Second)}, 4, []string{"3", "4", "|", "5", "6"}},
		{"since and tail", LogOptions{TailLines: 3, Since: t0.Add(3 * time.Second)}, 4, []string{"|", "3", "4", "5", "6"}},
		{"since in the future", LogOptions{TailLines: -1, Since: t0.Add(time.Hour)}, 4, nil},
	} {
		s := newSelector(tc.opts)
		var got []string
		for i := 1; i <= tc.backlog; i++ {
			got = append(got, texts(s.add(line(i)))...)
		}
		got = append(got, "|")
		got = append(got, texts(s.goLive())...)
		for i := tc.backlog + 1; i <= tc.backlog+2; i++ {
			got = append(got, texts(s.add(line(i)))...)
		}
		if tc.want == nil {
			tc.want = []string{"|"}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestLimitWriter(t *testing.T) {
	var b strings.Builder
	lw := &limitWriter{w: &b, left: 5}
	if n, err := lw.Write([]byte("abc")); n != 3 || err != nil {
		t.Fatalf("first write: %d %v", n, err)
	}
	if n, err := lw.Write([]byte("defg")); n != 2 || !errors.Is(err, errLimitReached) {
		t.Fatalf("second write: %d %v", n, err)
	}
	if n, err := lw.Write([]byte("h")); n != 0 || !errors.Is(err, errLimitReached) {
		t.Fatalf("third write: %d %v", n, err)
	}
	if b.String() != "abcde" {
		t.Fatalf("wrote %q", b.String())
	}
	var u strings.Builder
	if _, err := (&limitWriter{w: &u, left: -1}).Write([]byte("unlimited")); err != nil || u.String() != "unlimited" {
		t.Fatalf("unlimited: %v %q", err, u.String())
	}
}

func TestExitStatus(t *testing.T) {
	if st := exitStatus([]string{"true"}, 0, nil); st.Status != "Success" {
		t.Errorf("exit 0: %+v", st)
	}
	st := exitStatus([]string{"false"}, 3, nil)
	if st.Status != "Failure" || st.Reason != "NonZeroExitCode" || st.Details == nil || len(st.Details.Causes) != 1 ||
		st.Details.Causes[0].Type != "ExitCode" || st.Details.Causes[0].Message != "3" {
		t.Errorf("exit 3: %+v", st)
	}
	if st := exitStatus([]string{"x"}, 0, errors.New("boom")); st.Status != "Failure" || !strings.Contains(st.Message, "boom") || st.Details != nil {
		t.Errorf("exec error: %+v", st)
	}
}

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		offered []string
		want    string
		ok      bool
	}{
		{[]string{"v5.channel.k8s.io"}, "v5.channel.k8s.io", true},
		{[]string{"v4.channel.k8s.io, v5.channel.k8s.io"}, "v4.channel.k8s.io", true},
		{[]string{"channel.k8s.io", "v5.channel.k8s.io"}, "v5.channel.k8s.io", true},
		{[]string{"SPDY/3.1+portforward.k8s.io"}, "", false},
		{nil, "", false},
	} {
		got, ok := negotiate(tc.offered)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: got %q %v", tc.offered, got, ok)
		}
	}
}

// FuzzParseEntry: any bytes parse or fail with ErrBadLogLine, never
// panic; a parsed entry printed back parses to the same entry.
func FuzzParseEntry(f *testing.F) {
	for _, s := range []string{
		"2024-05-01T10:00:00.123456789Z stdout F hello",
		"2024-05-01T10:00:00Z stderr P ",
		"2024-05-01T10:00:00+02:00 stdout F:x a b",
		"x y z", "", " ", "2024-05-01T10:00:00Z stdout",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEntry(b)
		if err != nil {
			if !errors.Is(err, ErrBadLogLine) {
				t.Fatalf("%q: %v is not ErrBadLogLine", b, err)
			}
			return
		}
		tag := "F"
		if e.Partial {
			tag = "P"
		}
		again, err := ParseEntry([]byte(e.Time.Format(time.RFC3339Nano) + " " + e.Stream + " " + tag + " " + string(e.Text)))
		if err != nil || !again.Time.Equal(e.Time) || again.Stream != e.Stream || again.Partial != e.Partial || string(again.Text) != string(e.Text) {
			t.Fatalf("%q: %+v printed back parses to %+v, %v", b, e, again, err)
		}
	})
}
