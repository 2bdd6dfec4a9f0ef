package openapi

import (
	"k8s.io/kube-openapi/pkg/common"
)

// This file holds the small value types that describe operations to
// kube-openapi's builders, which read routes through the interfaces of
// k8s.io/kube-openapi/pkg/common (RouteContainer, Route, Parameter,
// StatusCodeResponse) rather than through go-restful.

// container is one group version's routes (or one discovery document's).
type container struct {
	root   string
	routes []common.Route
}

func (c *container) RootPath() string                   { return c.root }
func (c *container) PathParameters() []common.Parameter { return nil }
func (c *container) Routes() []common.Route             { return c.routes }

// route is one operation: a method on a path.
type route struct {
	method      string
	path        string
	operationID string
	tags        []string
	description string
	params      []common.Parameter
	consumes    []string
	produces    []string
	extensions  map[string]interface{}
	// body names the request body's model (nil: no body).
	body interface{}
	// responses by status code; models are modelName values or "string".
	responses []common.StatusCodeResponse
}

func (r *route) Method() string                                   { return r.method }
func (r *route) Path() string                                     { return r.path }
func (r *route) OperationName() string                            { return r.operationID }
func (r *route) Parameters() []common.Parameter                   { return r.params }
func (r *route) Description() string                              { return r.description }
func (r *route) Consumes() []string                               { return r.consumes }
func (r *route) Produces() []string                               { return r.produces }
func (r *route) Metadata() map[string]interface{}                 { return r.extensions }
func (r *route) RequestPayloadSample() interface{}                { return r.body }
func (r *route) ResponsePayloadSample() interface{}               { return nil }
func (r *route) StatusCodeResponses() []common.StatusCodeResponse { return r.responses }

// operationIDAndTags is the builders' GetOperationIDAndTagsFromRoute.
func operationIDAndTags(r common.Route) (string, []string, error) {
	if rt, ok := r.(*route); ok {
		return rt.operationID, rt.tags, nil
	}
	return r.OperationName(), nil, nil
}

// param is one path, query or body parameter.
type param struct {
	name        string
	description string
	kind        common.ParameterKind
	dataType    string // "string", "boolean", "integer"; empty for a body
	required    bool
}

func (p *param) Name() string               { return p.name }
func (p *param) Description() string        { return p.description }
func (p *param) Required() bool             { return p.required }
func (p *param) Kind() common.ParameterKind { return p.kind }
func (p *param) DataType() string           { return p.dataType }
func (p *param) AllowMultiple() bool        { return false }

// response is one status code's response.
type response struct {
	code    int
	message string
	model   interface{}
}

func (r *response) Code() int          { return r.code }
func (r *response) Message() string    { return r.message }
func (r *response) Model() interface{} { return r.model }

// modelName stands for a definition in a route: kube-openapi's builders ask a
// sample object for its model name (util.GetCanonicalTypeName), and a
// modelName answers with itself, so no Go value of the type is needed (and a
// custom resource, which has no Go type, can be described the same way).
type modelName string

// OpenAPIModelName implements kube-openapi's util.OpenAPIModelNamer.
func (m modelName) OpenAPIModelName() string { return string(m) }

// stringModel is the model of a plain-text response (a pod's log): the
// builders map the Go type name "string" to {type: string}.
const stringModel = ""
