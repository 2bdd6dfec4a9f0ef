package apiserver

import (
	"mime"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
)

// outputKind is what shape a response takes, chosen from Accept.
type outputKind int

const (
	outObject    outputKind = iota // the object or list itself
	outTable                       // meta.k8s.io/v1 Table
	outMetadata                    // PartialObjectMetadata(List)
	outDiscovery                   // apidiscovery.k8s.io/v2 APIGroupDiscoveryList
)

// output is a negotiated response format.
type output struct {
	kind      outputKind
	mediaType string
	info      runtime.SerializerInfo
}

// negotiate picks the first acceptable entry of Accept that the server
// can produce (kubectl lists its preferences in order). Empty Accept and
// */* mean JSON. Errors are 406 NotAcceptable. Custom resources (res
// custom) are not served as protobuf, as in Kubernetes, nor are Kelson's
// own kinds (res jsonOnly); res may be nil.
func (s *Server) negotiate(r *http.Request, res *resource) (output, error) {
	custom := res != nil && res.jsonOnly()
	accept := r.Header.Get("Accept")
	if strings.TrimSpace(accept) == "" {
		accept = "*/*"
	}
	for _, clause := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(clause))
		if err != nil {
			continue
		}
		kind := outObject
		switch params["as"] {
		case "":
		case "Table":
			if params["g"] != "meta.k8s.io" || (params["v"] != "v1" && params["v"] != "v1beta1") {
				continue
			}
			kind = outTable
		case "PartialObjectMetadata", "PartialObjectMetadataList":
			if params["g"] != "meta.k8s.io" || params["v"] != "v1" {
				continue
			}
			kind = outMetadata
		case "APIGroupDiscoveryList":
			if params["g"] != "apidiscovery.k8s.io" || params["v"] != "v2" {
				continue
			}
			kind = outDiscovery
		default:
			continue
		}
		switch mt {
		case "*/*", "application/*":
			mt = mediaJSON
		case "application/yml":
			mt = mediaYAML
		}
		if kind == outTable && mt == mediaProtobuf {
			continue // tables are served as JSON or YAML
		}
		if custom && kind == outObject && mt == mediaProtobuf {
			continue
		}
		if info, ok := s.serializer(mt); ok {
			return output{kind: kind, mediaType: mt, info: info}, nil
		}
	}
	if custom {
		return output{}, notAcceptable("only the following media types are accepted: application/json, application/yaml (custom resources are not served as protobuf)")
	}
	return output{}, notAcceptable(
		"only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf")
}

// serializer finds the serializer of a media type (CBOR is not served).
func (s *Server) serializer(mediaType string) (runtime.SerializerInfo, bool) {
	if mediaType == mediaCBOR {
		return runtime.SerializerInfo{}, false
	}
	for _, info := range s.codecs.strict.SupportedMediaTypes() {
		if info.MediaType == mediaType {
			return info, true
		}
	}
	return runtime.SerializerInfo{}, false
}

// requestSerializer finds the serializer for a request body's
// Content-Type; 415 for one the server does not read.
func (s *Server) requestSerializer(r *http.Request) (runtime.SerializerInfo, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = mediaJSON
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		if info, ok := s.serializer(mt); ok {
			return info, nil
		}
	}
	return runtime.SerializerInfo{}, unsupportedMediaType(ct)
}
