package apiserver

import (
	"bytes"
	"net/http"
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// writeObject encodes obj in the negotiated format. obj may be shared
// (from the watch cache): it is never modified; its TypeMeta must be set.
func (s *Server) writeObject(w http.ResponseWriter, req *http.Request, out output, code int, obj runtime.Object) {
	info := out.info
	if req.URL.Query().Get("pretty") == "true" && info.PrettySerializer != nil {
		info.Serializer = info.PrettySerializer
	}
	var buf bytes.Buffer
	if err := info.Serializer.Encode(obj, &buf); err != nil {
		s.writeError(w, req, err)
		return
	}
	w.Header().Set("Content-Type", out.mediaType)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(code)
	if req.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// writeError answers with the error's Status, as JSON.
func (s *Server) writeError(w http.ResponseWriter, req *http.Request, err error) {
	st := toStatus(err)
	st.Kind, st.APIVersion = "Status", "v1"
	if st.Status == "" {
		st.Status = metav1.StatusFailure
	}
	switch {
	case req.Context().Err() != nil:
		// The client went away (or the server is stopping): not the
		// server's failure.
		s.log.Debug("request abandoned", "method", req.Method, "path", req.URL.Path, "err", err)
	case st.Code >= 500 && st.Code != http.StatusServiceUnavailable && st.Code != http.StatusGatewayTimeout:
		s.log.Error("request failed", "method", req.Method, "path", req.URL.Path, "err", err)
	}
	info, _ := s.serializer(mediaJSON)
	var buf bytes.Buffer
	if e := info.Serializer.Encode(&st, &buf); e != nil {
		http.Error(w, st.Message, int(st.Code))
		return
	}
	w.Header().Set("Content-Type", mediaJSON)
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(int(st.Code))
	w.Write(buf.Bytes())
}

// setTypeMeta sets obj's apiVersion and kind (obj must be the caller's).
func setTypeMeta(obj runtime.Object, r *resource) {
	obj.GetObjectKind().SetGroupVersionKind(r.gvk())
}

// metaOf returns obj's metadata accessor; every served type has one.
func metaOf(obj runtime.Object) metav1.Object {
	acc, err := meta.Accessor(obj)
	if err != nil {
		panic("apiserver: object without metadata: " + err.Error()) // programming error: served kinds all have ObjectMeta
	}
	return acc
}
