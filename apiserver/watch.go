package apiserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/kelson-dev/kelson/apiserver/watchcache"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
)

// initialEventsEnd annotates the bookmark that ends a watch's initial
// events (sendInitialEvents=true).
const initialEventsEnd = "k8s.io/initial-events-end"

// serveWatch streams the events of a resource from the watch cache, with
// Kubernetes' resourceVersion semantics:
//
//	sendInitialEvents=true (with resourceVersionMatch=NotOlderThan):
//	    the current state as ADDED events (consistent for rv "", at least
//	    rv N), then a bookmark annotated initial-events-end, then changes.
//	rv "" or "0" (legacy): the current state as ADDED events, then changes.
//	rv N: the changes after N; 410 Gone if N is older than the history.
func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) error {
	out, err := s.negotiate(r, res)
	if err != nil {
		return err
	}
	if out.info.StreamSerializer == nil {
		return notAcceptable(fmt.Sprintf("%s does not stream watch events", out.mediaType))
	}
	var opts metav1.ListOptions
	if err := s.decodeQuery(r, &opts); err != nil {
		return err
	}
	if ri.Name != "" { // GET /watch/namespaces/ns/pods/name: a watch of one object
		opts.FieldSelector = joinSelector(opts.FieldSelector, "metadata.name="+ri.Name)
	}
	sel, err := s.parseSelector(res, &opts)
	if err != nil {
		return err
	}
	initial := opts.ResourceVersion == "" || opts.ResourceVersion == "0"
	var fromRev int64
	if opts.SendInitialEvents != nil && *opts.SendInitialEvents {
		if opts.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan {
			return apierrors.NewInvalid(schema.GroupKind{Group: "meta.k8s.io", Kind: "ListOptions"}, "",
				field.ErrorList{field.Forbidden(field.NewPath("resourceVersionMatch"),
					"sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")})
		}
		initial = true
	} else if opts.SendInitialEvents != nil && !*opts.SendInitialEvents {
		initial = false
	}
	if opts.ResourceVersionMatch != "" && opts.SendInitialEvents == nil {
		return badRequest("resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")
	}
	// A consistent start on a store whose progress reports cannot be
	// trusted: the initial state comes from the store at its current
	// revision R, the changes after R from the cache.
	var fromStore []runtime.Object
	if initial && opts.ResourceVersion == "" && !s.cacheConsistent.Load() {
		if err := res.cache.WaitReady(r.Context()); err != nil {
			return cacheError(res, err)
		}
		lopts := metav1.ListOptions{}
		items, rev, _, _, err := s.listFromStore(r.Context(), res, ri.Namespace, &lopts, sel.matcher(res))
		if err != nil {
			return err
		}
		fromStore, fromRev, initial = items, rev, false
		if fromStore == nil {
			fromStore = []runtime.Object{}
		}
	} else if initial {
		if err := s.waitCache(r.Context(), res, opts.ResourceVersion, ""); err != nil {
			return err
		}
	} else if opts.ResourceVersion != "" {
		if fromRev, err = strconv.ParseInt(opts.ResourceVersion, 10, 64); err != nil || fromRev < 0 {
			return badRequest("invalid resourceVersion %q: a resourceVersion is a non-negative integer", opts.ResourceVersion)
		}
		if err := res.cache.WaitReady(r.Context()); err != nil {
			return cacheError(res, err)
		}
	}
	watcher, err := res.cache.Watch(res.listPrefix(ri.Namespace), fromRev, sel.matcher(res), initial, opts.AllowWatchBookmarks)
	if err != nil {
		if errors.Is(err, watchcache.ErrTooOld) {
			return apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", fromRev, res.cache.Rev()))
		}
		return cacheError(res, err)
	}
	defer watcher.Stop()

	// Without timeoutSeconds a watch lasts 30-60 minutes, as
	// kube-apiserver's default, so that clients spread their re-watches.
	timeout := 30*time.Minute + time.Duration(rand.Int64N(int64(30*time.Minute)))
	if opts.TimeoutSeconds != nil && *opts.TimeoutSeconds > 0 {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()

	w.Header().Set("Content-Type", out.mediaType)
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	enc := newEventEncoder(s, res, out, w, r.URL.Query().Get("includeObject"))
	if fromStore != nil {
		for _, obj := range fromStore {
			if err := enc.encode(watchcache.Event{Type: watch.Added, Obj: obj, Rev: revOf(obj)}); err != nil {
				return nil
			}
		}
		if opts.SendInitialEvents != nil && *opts.SendInitialEvents && opts.AllowWatchBookmarks {
			if err := enc.encode(watchcache.Event{Type: watch.Bookmark, Rev: fromRev, InitialEventsEnd: true}); err != nil {
				return nil
			}
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-watcher.Chan():
			if !ok {
				return nil
			}
			if err := enc.encode(ev); err != nil {
				s.log.Debug("watch ended", "resource", res.kind.Resource, "err", err)
				return nil
			}
			if flusher != nil && len(watcher.Chan()) == 0 {
				flusher.Flush()
			}
		}
	}
}

func joinSelector(a, b string) string {
	if a == "" {
		return b
	}
	return a + "," + b
}

// eventEncoder writes watch events in one stream format.
type eventEncoder struct {
	s             *Server
	res           *resource
	out           output
	frames        interface{ Write([]byte) (int, error) }
	includeObject string
	columnsSent   bool
	buf           bytes.Buffer
}

func newEventEncoder(s *Server, res *resource, out output, w http.ResponseWriter, includeObject string) *eventEncoder {
	return &eventEncoder{s: s, res: res, out: out, includeObject: includeObject,
		frames: out.info.StreamSerializer.Framer.NewFrameWriter(w)}
}

func (e *eventEncoder) encode(ev watchcache.Event) error {
	obj := ev.Obj
	switch ev.Type {
	case watch.Bookmark:
		obj = e.bookmark(ev)
	case watch.Deleted:
		// The cache gives the last state before the deletion; clients
		// expect the deletion's revision on it.
		if rv := strconv.FormatInt(ev.Rev, 10); metaOf(obj).GetResourceVersion() != rv {
			obj = obj.DeepCopyObject()
			metaOf(obj).SetResourceVersion(rv)
		}
	}
	switch e.out.kind {
	case outTable:
		if ev.Type != watch.Bookmark {
			t, err := e.s.toTable(e.res, []runtime.Object{obj}, e.includeObject, !e.columnsSent)
			if err != nil {
				return err
			}
			e.columnsSent = true
			t.ResourceVersion = strconv.FormatInt(ev.Rev, 10)
			obj = t
		}
	case outMetadata:
		obj = partialMetadata(obj)
	}
	e.buf.Reset()
	if err := e.out.info.Serializer.Encode(obj, &e.buf); err != nil {
		return err
	}
	we := &metav1.WatchEvent{Type: string(ev.Type), Object: runtime.RawExtension{Raw: bytes.TrimRight(e.buf.Bytes(), "\n")}}
	var frame bytes.Buffer
	if err := e.out.info.StreamSerializer.Serializer.Encode(we, &frame); err != nil {
		return err
	}
	_, err := e.frames.Write(frame.Bytes())
	return err
}

// bookmark is the object of a BOOKMARK event: an empty object of the kind
// carrying only the revision (and the initial-events-end annotation).
func (e *eventEncoder) bookmark(ev watchcache.Event) runtime.Object {
	obj := e.res.kind.New()
	setTypeMeta(obj, e.res)
	m := metaOf(obj)
	m.SetResourceVersion(strconv.FormatInt(ev.Rev, 10))
	if ev.InitialEventsEnd {
		m.SetAnnotations(map[string]string{initialEventsEnd: "true"})
	}
	return obj
}
