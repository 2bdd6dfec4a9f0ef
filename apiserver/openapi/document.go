package openapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/munnerz/goautoneg"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// This file serves built documents. kube-openapi's handler and handler3
// would serve them too, but they keep every built spec object for good (their
// LastSuccess caches), about 13 MiB for the documents of the served kinds
// beside 4 MiB of encodings; a document here keeps only its encodings, each
// made on first use. The behaviour is theirs: the same media types, strong
// ETags of the JSON encoding (SHA-512, upper-case hex), Vary: Accept, 406 for
// no acceptable type, and for v3 the ?hash= scheme (a matching hash is
// cacheable for good; a stale one is redirected to the current URL).

// document is one OpenAPI document, built once on first use. Safe for
// concurrent use.
type document struct {
	// build returns the JSON encoding; called at most once.
	build func() ([]byte, error)
	// toProto converts the JSON encoding to the protobuf one.
	toProto func(json []byte) ([]byte, error)

	json                lazy // JSON encoding; build's result
	proto               lazy // protobuf encoding
	jsonGzip, protoGzip lazy // their gzip encodings
	etagOnce            sync.Once
	etag                string
	builtOnce           sync.Once
	built               time.Time
}

// lazy is a byte slice made once, on first use.
type lazy struct {
	once sync.Once
	b    []byte
	err  error
}

func (l *lazy) get(make func() ([]byte, error)) ([]byte, error) {
	l.once.Do(func() { l.b, l.err = make() })
	return l.b, l.err
}

// JSON returns the JSON encoding and its ETag (unquoted).
func (d *document) JSON() ([]byte, string, error) {
	b, err := d.json.get(func() ([]byte, error) {
		b, err := d.build()
		d.builtOnce.Do(func() { d.built = time.Now() })
		return b, err
	})
	if err != nil {
		return nil, "", err
	}
	d.etagOnce.Do(func() { d.etag = fmt.Sprintf("%X", sha512.Sum512(b)) })
	return b, d.etag, nil
}

// encoding returns the document in the protobuf or JSON encoding,
// gzip-compressed or not, with the ETag of the JSON encoding (responses
// vary by Accept and Accept-Encoding, so one tag serves all).
func (d *document) encoding(protobuf, gzipped bool) ([]byte, string, error) {
	js, etag, err := d.JSON()
	if err != nil {
		return nil, "", err
	}
	var b []byte
	switch {
	case protobuf:
		b, err = d.proto.get(func() ([]byte, error) { return d.toProto(js) })
	default:
		b = js
	}
	if err != nil || !gzipped {
		return b, etag, err
	}
	gz := &d.jsonGzip
	if protobuf {
		gz = &d.protoGzip
	}
	b, err = gz.get(func() ([]byte, error) { return gzipBytes(b) })
	return b, etag, err
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// mediaType is one acceptable response type of a document.
type mediaType struct {
	subType     string // as asked for in Accept, under "application/"
	contentType string // as answered
	protobuf    bool
}

var (
	v2Types = []mediaType{
		{subType: "json", contentType: "application/json"},
		{subType: "com.github.proto-openapi.spec.v2@v1.0+protobuf", contentType: "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", protobuf: true},
		{subType: "com.github.proto-openapi.spec.v2.v1.0+protobuf", contentType: "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", protobuf: true},
	}
	v3Types = []mediaType{
		{subType: "json", contentType: "application/json"},
		{subType: "com.github.proto-openapi.spec.v3.v1.0+protobuf", contentType: "application/com.github.proto-openapi.spec.v3.v1.0+protobuf", protobuf: true},
		{subType: "com.github.proto-openapi.spec.v3@v1.0+protobuf", contentType: "application/com.github.proto-openapi.spec.v3.v1.0+protobuf", protobuf: true},
	}
	// indexTypes is nil: the v3 index is JSON whatever the request
	// accepts, as kube-apiserver serves it.
	indexTypes []mediaType
)

// negotiate picks the first of types that the Accept header takes (in the
// header's order of preference); ok is false if it takes none.
func negotiate(accept string, types []mediaType) (mediaType, bool) {
	if accept == "" {
		accept = "*/*"
	}
	for _, clause := range goautoneg.ParseAccept(accept) {
		for _, t := range types {
			if (clause.Type == "application" || clause.Type == "*") && (clause.SubType == t.subType || clause.SubType == "*") {
				return t, true
			}
		}
	}
	return mediaType{}, false
}

// hashedURL is the URL of a v3 document with its hash, as the index lists it.
func hashedURL(docPath, etag string) string {
	u := url.URL{Path: "/openapi/v3/" + docPath, RawQuery: url.Values{"hash": {etag}}.Encode()}
	return u.String()
}

// serve answers r with d in the type the request accepts (JSON if types
// is nil). docPath is set
// for v3 documents (not the index), which honour ?hash=.
func serve(w http.ResponseWriter, r *http.Request, d *document, types []mediaType, docPath string) {
	mt, ok := mediaType{contentType: "application/json"}, true
	if types != nil {
		w.Header().Add("Vary", "Accept")
		mt, ok = negotiate(r.Header.Get("Accept"), types)
	}
	if !ok {
		writeStatus(w, http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable,
			fmt.Sprintf("cannot serve %s as %q: accept application/json", r.URL.Path, r.Header.Get("Accept")))
		return
	}
	gzipped := acceptsGzip(r)
	body, etag, err := d.encoding(mt.protobuf, gzipped)
	if err != nil {
		writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, err.Error())
		return
	}
	if docPath != "" {
		if hash := r.URL.Query().Get("hash"); hash != "" {
			if hash != etag {
				http.Redirect(w, r, hashedURL(docPath, etag), http.StatusMovedPermanently)
				return
			}
			w.Header().Set("Cache-Control", "public, immutable")
			w.Header().Set("Expires", time.Now().AddDate(1, 0, 0).UTC().Format(http.TimeFormat))
		}
	}
	w.Header().Set("Content-Type", mt.contentType)
	w.Header().Set("Etag", strconv.Quote(etag))
	w.Header().Add("Vary", "Accept-Encoding")
	if gzipped {
		// ServeContent leaves Content-Length (and ranges) to the encoded
		// bytes when Content-Encoding is set.
		w.Header().Set("Content-Encoding", "gzip")
	}
	http.ServeContent(w, r, "", d.built, bytes.NewReader(body))
}

// acceptsGzip reports whether the request's Accept-Encoding takes gzip.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
