package apiserver

import (
	"net/http"

	usagev1alpha1 "github.com/kelson-dev/kelson/api/metrics/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// codecs holds the scheme of every served type and the serializers built
// on it. Built once per Server; read-only afterwards.
type codecs struct {
	scheme *runtime.Scheme
	// strict decodes request bodies, reporting unknown and duplicate
	// fields as a strict decoding error beside the decoded object.
	strict serializer.CodecFactory
	// storage encodes stored values: Kubernetes' protobuf envelope.
	storage runtime.Serializer
	// decoder decodes stored values (protobuf, or JSON written by others).
	decoder runtime.Decoder
	// params decodes query parameters into option structs.
	params runtime.ParameterCodec
}

func newCodecs() (*codecs, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := usagev1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := metricsv1beta1.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := metav1.AddMetaToScheme(s); err != nil {
		return nil, err
	}
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	// Option bodies (DeleteOptions...) come as v1 or as meta.k8s.io/v1.
	s.AddKnownTypes(metav1.SchemeGroupVersion, &metav1.DeleteOptions{}, &metav1.CreateOptions{},
		&metav1.UpdateOptions{}, &metav1.PatchOptions{}, &metav1.GetOptions{}, &metav1.ListOptions{})
	plain := serializer.NewCodecFactory(s)
	return &codecs{
		scheme:  s,
		strict:  serializer.NewCodecFactory(s, serializer.EnableStrict),
		storage: protobuf.NewSerializer(s, s),
		decoder: plain.UniversalDeserializer(),
		params:  runtime.NewParameterCodec(s),
	}, nil
}

// Media types the server speaks.
const (
	mediaJSON     = "application/json"
	mediaYAML     = "application/yaml"
	mediaProtobuf = "application/vnd.kubernetes.protobuf"
	mediaCBOR     = "application/cbor"
)

// decodeQuery decodes a request's query into options (ListOptions,
// GetOptions, DeleteOptions...); errors are 400.
func (s *Server) decodeQuery(r *http.Request, into runtime.Object) error {
	if err := s.codecs.params.DecodeParameters(r.URL.Query(), schema.GroupVersion{Version: "v1"}, into); err != nil {
		return badRequest("bad query: %v", err)
	}
	return nil
}
