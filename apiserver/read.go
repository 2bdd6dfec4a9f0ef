package apiserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/kelson-dev/kelson/apiserver/encryption"
	"github.com/kelson-dev/kelson/apiserver/storage"
	"github.com/kelson-dev/kelson/apiserver/watchcache"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// serveGet: GET of one object. resourceVersion "" reads the store
// (linearizable); any other value may be served from the watch cache —
// unless the store's watch progress is inexact (etcd before 3.4.31 or
// 3.5.13 may report a progress revision before sending older events), when
// only "0" is: the cache's revision then does not prove it holds N.
func (s *Server) serveGet(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) error {
	out, err := s.negotiate(r, res)
	if err != nil {
		return err
	}
	var opts metav1.GetOptions
	if err := s.decodeQuery(r, &opts); err != nil {
		return err
	}
	var obj runtime.Object
	if opts.ResourceVersion == "" || (opts.ResourceVersion != "0" && !s.cacheConsistent.Load()) {
		// The store: a consistent read, or one at least as new as N when
		// the cache cannot tell that it holds N (inexact progress).
		if obj, err = s.get(r.Context(), res, ri.Namespace, ri.Name); err != nil {
			return err
		}
	} else {
		if err := s.waitCache(r.Context(), res, opts.ResourceVersion, ""); err != nil {
			return err
		}
		o, ok, _ := res.cache.Get(res.key(ri.Namespace, ri.Name))
		if !ok {
			return apierrors.NewNotFound(res.groupResource(), ri.Name)
		}
		obj = o.Obj
	}
	return s.respond(w, r, out, http.StatusOK, res, obj)
}

// respond writes one object in the negotiated shape (object, table or
// metadata). obj may be shared: it is not modified.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, out output, code int, res *resource, obj runtime.Object) error {
	switch out.kind {
	case outTable:
		t, err := s.toTable(res, []runtime.Object{obj}, r.URL.Query().Get("includeObject"), true)
		if err != nil {
			return err
		}
		t.ResourceVersion = metaOf(obj).GetResourceVersion()
		obj = t
	case outMetadata:
		obj = partialMetadata(obj)
	case outDiscovery:
		return notAcceptable("discovery documents are served only on /api and /apis")
	}
	s.writeObject(w, r, out, code, obj)
	return nil
}

// waitCache makes the cache as fresh as a read at resourceVersion rv
// needs: "" a consistent read, "0" anything, N at least N.
func (s *Server) waitCache(ctx context.Context, res *resource, rv, match string) error {
	if err := res.cache.WaitReady(ctx); err != nil {
		return cacheError(res, err)
	}
	switch rv {
	case "":
		_, err := res.cache.WaitFresh(ctx)
		if errors.Is(err, watchcache.ErrClosed) {
			return cacheError(res, err)
		}
		if err != nil {
			return storeError(err)
		}
		return nil
	case "0":
		return nil
	}
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return badRequest("invalid resourceVersion %q: a resourceVersion is a non-negative integer", rv)
	}
	if err := res.cache.WaitRev(ctx, n); err != nil {
		if errors.Is(err, watchcache.ErrTooLargeRV) {
			return apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", n, res.cache.Rev()), 1)
		}
		return err
	}
	return nil
}

// cacheError turns a closed cache (its custom resource no longer served:
// the CRD went away during the request) into a 404.
func cacheError(res *resource, err error) error {
	if errors.Is(err, watchcache.ErrClosed) {
		return apierrors.NewNotFound(res.groupResource(), "")
	}
	return err
}

// selector is a list or watch's label and field filter.
type selector struct {
	labels labels.Selector
	fields fields.Selector
}

func (s *Server) parseSelector(res *resource, opts *metav1.ListOptions) (selector, error) {
	sel := selector{labels: labels.Everything(), fields: fields.Everything()}
	var err error
	if opts.LabelSelector != "" {
		if sel.labels, err = labels.Parse(opts.LabelSelector); err != nil {
			return sel, badRequest("unable to parse requirement: %v", err)
		}
	}
	if opts.FieldSelector != "" {
		if sel.fields, err = fields.ParseSelector(opts.FieldSelector); err != nil {
			return sel, badRequest("invalid field selector: %v", err)
		}
		known := fieldsOf(res, res.kind.New())
		for _, req := range sel.fields.Requirements() {
			if _, ok := known[req.Field]; !ok {
				return sel, badRequest("field label not supported: %s", req.Field)
			}
		}
	}
	return sel, nil
}

// fieldsOf is obj's selectable fields: metadata.name and
// metadata.namespace, plus the kind's own.
func fieldsOf(res *resource, obj runtime.Object) fields.Set {
	m := metaOf(obj)
	set := fields.Set{"metadata.name": m.GetName()}
	if res.kind.Namespaced {
		set["metadata.namespace"] = m.GetNamespace()
	}
	if res.kind.Fields != nil {
		for k, v := range res.kind.Fields(obj) {
			set[k] = v
		}
	}
	return set
}

func (sel selector) everything() bool { return sel.labels.Empty() && sel.fields.Empty() }

// matcher returns the predicate of sel, nil when it matches everything.
func (sel selector) matcher(res *resource) func(runtime.Object) bool {
	if sel.everything() {
		return nil
	}
	return func(obj runtime.Object) bool {
		m := metaOf(obj)
		return sel.labels.Matches(labels.Set(m.GetLabels())) && sel.fields.Matches(fieldsOf(res, obj))
	}
}

// serveList: GET of a collection. Served from the watch cache, except a
// paginated list (limit with resourceVersion other than "0", or a
// continue token) and resourceVersionMatch=Exact, which read the store at
// one revision so that every page is of the same snapshot.
func (s *Server) serveList(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) error {
	out, err := s.negotiate(r, res)
	if err != nil {
		return err
	}
	var opts metav1.ListOptions
	if err := s.decodeQuery(r, &opts); err != nil {
		return err
	}
	sel, err := s.parseSelector(res, &opts)
	if err != nil {
		return err
	}
	match := sel.matcher(res)
	var (
		items     []runtime.Object
		rev       int64
		continue_ string
		remaining *int64
	)
	if opts.Continue != "" || (opts.Limit > 0 && opts.ResourceVersion != "0") || opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact ||
		(opts.ResourceVersion != "0" && !s.cacheConsistent.Load()) {
		items, rev, continue_, remaining, err = s.listFromStore(r.Context(), res, ri.Namespace, &opts, match)
		if err != nil {
			return err
		}
	} else {
		if opts.ResourceVersionMatch != "" && opts.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan {
			return badRequest("unknown resourceVersionMatch %q: want NotOlderThan or Exact", opts.ResourceVersionMatch)
		}
		if opts.ResourceVersionMatch != "" && opts.ResourceVersion == "" {
			return badRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
		}
		if err := s.waitCache(r.Context(), res, opts.ResourceVersion, ""); err != nil {
			return err
		}
		var objs []watchcache.Object
		objs, rev = res.cache.List(res.listPrefix(ri.Namespace))
		items = make([]runtime.Object, 0, len(objs))
		for _, o := range objs {
			if match == nil || match(o.Obj) {
				items = append(items, o.Obj)
			}
		}
	}
	return s.respondList(w, r, out, res, items, rev, continue_, remaining)
}

func (s *Server) respondList(w http.ResponseWriter, r *http.Request, out output, res *resource, items []runtime.Object, rev int64, continue_ string, remaining *int64) error {
	lm := metav1.ListMeta{ResourceVersion: strconv.FormatInt(rev, 10), Continue: continue_, RemainingItemCount: remaining}
	switch out.kind {
	case outTable:
		t, err := s.toTable(res, items, r.URL.Query().Get("includeObject"), true)
		if err != nil {
			return err
		}
		t.ListMeta = lm
		s.writeObject(w, r, out, http.StatusOK, t)
		return nil
	case outMetadata:
		l := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadataList"}, ListMeta: lm}
		for _, it := range items {
			l.Items = append(l.Items, *partialMetadata(it))
		}
		s.writeObject(w, r, out, http.StatusOK, l)
		return nil
	case outDiscovery:
		return notAcceptable("discovery documents are served only on /api and /apis")
	}
	list := res.kind.NewList()
	if err := meta.SetList(list, items); err != nil {
		return err
	}
	lacc, err := meta.ListAccessor(list)
	if err != nil {
		return err
	}
	lacc.SetResourceVersion(lm.ResourceVersion)
	lacc.SetContinue(continue_)
	lacc.SetRemainingItemCount(remaining)
	list.GetObjectKind().SetGroupVersionKind(res.listGVK())
	s.writeObject(w, r, out, http.StatusOK, list)
	return nil
}

// continueToken is a paginated list's position: the revision of its
// snapshot and the next key to read.
type continueToken struct {
	APIVersion string `json:"v"`
	Rev        int64  `json:"rv"`
	Start      string `json:"start"`
}

// listFromStore reads one page of a list from the store at one revision,
// reading on until the page holds limit matching items.
func (s *Server) listFromStore(ctx context.Context, res *resource, ns string, opts *metav1.ListOptions, match func(runtime.Object) bool) ([]runtime.Object, int64, string, *int64, error) {
	prefix := res.listPrefix(ns)
	start, rev := prefix, int64(0)
	if opts.Continue != "" {
		tok, err := decodeContinue(opts.Continue, prefix)
		if err != nil {
			return nil, 0, "", nil, err
		}
		start, rev = tok.Start, tok.Rev
	} else if opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
		n, err := strconv.ParseInt(opts.ResourceVersion, 10, 64)
		if err != nil || n < 0 {
			return nil, 0, "", nil, badRequest("invalid resourceVersion %q", opts.ResourceVersion)
		}
		if opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact {
			rev = n
		}
	}
	end := storage.PrefixEnd([]byte(prefix))
	limit := opts.Limit
	var items []runtime.Object
	for {
		req := &pb.RangeRequest{Key: []byte(start), RangeEnd: end, Revision: rev}
		if limit > 0 {
			req.Limit = limit - int64(len(items)) + 1 // one more: is there a next page?
		}
		resp, err := s.cfg.Store.Range(ctx, req)
		if err != nil {
			if errors.Is(err, storage.ErrCompacted) {
				return nil, 0, "", nil, expiredContinue(opts.Continue != "")
			}
			return nil, 0, "", nil, storeError(err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for i, kv := range resp.Kvs {
			if limit > 0 && int64(len(items)) == limit {
				tok := encodeContinue(continueToken{APIVersion: "meta.k8s.io/v1", Rev: rev, Start: string(kv.Key)})
				var remaining *int64
				if match == nil {
					n := resp.Count - int64(i)
					remaining = &n
				}
				return items, rev, tok, remaining, nil
			}
			obj, err := s.decode(res, kv)
			if err != nil {
				if errors.Is(err, encryption.ErrUnknownKey) || errors.Is(err, encryption.ErrDecrypt) || errors.Is(err, encryption.ErrNotEncrypted) {
					return nil, 0, "", nil, err // a 500 naming the key: not an object to leave out silently
				}
				s.log.Error("skipping an undecodable object", "key", string(kv.Key), "err", err)
				continue
			}
			if match == nil || match(obj) {
				items = append(items, obj)
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return items, rev, "", nil, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

func encodeContinue(t continueToken) string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s, prefix string) (continueToken, error) {
	var t continueToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.Rev <= 0 || len(t.Start) < len(prefix) || t.Start[:len(prefix)] != prefix {
		return t, badRequest("invalid continue token: it was not issued by this list")
	}
	return t, nil
}

// expiredContinue is the 410 of a list whose snapshot was compacted.
func expiredContinue(withToken bool) error {
	msg := "The resourceVersion for the provided list is too old."
	if withToken {
		msg = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list."
	}
	return apierrors.NewResourceExpired(msg)
}
