package kinds

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Kind describes one served resource: its names, how it is stored, and the
// pure functions the API server calls around every write and read of it.
// Every func field may be nil, meaning "nothing to do" (or, for Cells, the
// default Name/Age table). The API server owns the generic parts: object
// metadata validation, generation, status/spec separation, uid,
// timestamps; a Kind supplies only what is particular to it.
type Kind struct {
	// GVK is the served group, version and kind (one version per group).
	GVK schema.GroupVersionKind
	// Resource is the lower-case plural used in URLs ("deployments");
	// Singular the lower-case singular ("deployment").
	Resource, Singular string
	// Namespaced: objects live in a namespace.
	Namespaced bool
	// ShortNames ("deploy") and Categories ("all") for discovery.
	ShortNames, Categories []string
	// StoragePrefix is the key prefix under "/registry/" where
	// kube-apiserver keeps this resource ("deployments",
	// "services/specs", "minions"): keys are
	// /registry/<StoragePrefix>/<namespace>/<name>, or without the
	// namespace for cluster-scoped kinds.
	StoragePrefix string
	// New returns an empty object; NewList an empty list of the kind.
	New, NewList func() runtime.Object
	// HasStatus: the kind has a status subresource (a write to the main
	// resource keeps the stored status; a write to /status keeps the
	// rest).
	HasStatus bool
	// Scale is set for kinds with a scale subresource.
	Scale *Scale

	// Default sets Kubernetes' defaults in place, after a create or update
	// body has been decoded (and after a patch has been applied).
	Default func(obj runtime.Object)
	// Validate checks a new object's kind-specific fields (not its
	// metadata: the caller validates ObjectMeta).
	Validate func(obj runtime.Object) field.ErrorList
	// ValidateUpdate checks an update against the stored object (e.g.
	// immutable fields); Validate is called too, before it.
	ValidateUpdate func(obj, old runtime.Object) field.ErrorList
	// PrepareForCreate clears or sets fields the server owns on create
	// (e.g. a pod's status.phase Pending), after Default.
	PrepareForCreate func(obj runtime.Object)
	// ValidateName checks metadata.name (prefix: it is a generateName
	// prefix). nil: a DNS-1123 subdomain, as most kinds.
	ValidateName func(name string, prefix bool) []string

	// Columns are the table columns, Name first, as kubectl shows them;
	// Priority 1 marks the extra columns of -o wide.
	Columns []metav1.TableColumnDefinition
	// Cells returns one cell per column for one object.
	Cells func(obj runtime.Object) []interface{}

	// Fields returns the kind's selectable fields beyond metadata.name
	// and metadata.namespace (which the caller adds): e.g. a pod's
	// spec.nodeName and status.phase.
	Fields func(obj runtime.Object) fields.Set

	// PrepareForUpdate copies into an update the server-owned values the
	// client may leave out, from the stored object, after Default and
	// before Validate/ValidateUpdate: e.g. a Service keeps its allocated
	// clusterIP and nodePorts when a replace leaves them empty, and a
	// Namespace keeps its spec.finalizers (changed only through
	// /finalize). nil: nothing to do.
	PrepareForUpdate func(obj, old runtime.Object)

	// Normalize runs first on every write of an object (create, update,
	// patch, apply, and writes to /status): custom resources prune
	// unknown fields and apply their schema's defaults here. nil: nothing.
	Normalize func(obj runtime.Object)

	// Stored is set on kinds whose objects are kept in the store as another
	// kind (events.k8s.io/v1 Events live in /registry/events as core/v1
	// Events, as kube-apiserver keeps them): the server converts on every
	// read and write. nil: stored as GVK.
	Stored *StoredAs

	// JSON is set on Kelson's own kinds (metrics.kelson.dev NodeUsage):
	// they have Go types but no protobuf encoding and no generated OpenAPI
	// schema, so the server stores them as JSON and serves them as JSON or
	// YAML only (as custom resources), leaves them out of the OpenAPI
	// documents, and server-side apply deduces their structure (every
	// list atomic). false for Kubernetes' kinds.
	JSON bool

	// Custom is set on the kinds of custom resources (one per served
	// version of a CustomResourceDefinition): their objects are
	// *unstructured.Unstructured, stored as JSON. nil for built-in kinds.
	Custom *Custom
}

// Custom is what the API server needs to know of a custom resource's kind
// beyond the generic hooks.
type Custom struct {
	// CRD is the name of the defining CustomResourceDefinition; UID its
	// uid (a CRD deleted and recreated under the same name is another).
	CRD string
	UID string
	// Generation is the CRD's metadata.generation the kind was built from.
	Generation int64
	// StorageVersion is the version objects are stored at (conversion is
	// "None": only apiVersion changes between versions).
	StorageVersion string
	// Terminating: the CRD is being deleted; new objects are refused.
	Terminating bool
	// Schema is the version's openAPIV3Schema (nil if none), for the
	// OpenAPI documents. Shared: read-only.
	Schema *apiextensionsv1.JSONSchemaProps
	// Unknown returns the paths of the fields of an object that its
	// schema does not declare (which Normalize prunes); nil: none ever.
	Unknown func(obj runtime.Object) []string
}

// StoredAs converts between a served kind and the kind it is stored as.
// Both directions are total: every field of one has a place in the other,
// so a read after a write through either kind loses nothing.
type StoredAs struct {
	// GVK of the stored objects; New returns an empty one.
	GVK schema.GroupVersionKind
	New func() runtime.Object
	// ToStored converts a served object (the caller's) into a new stored
	// one; FromStored the reverse.
	ToStored, FromStored func(runtime.Object) runtime.Object
}

// Scale reads and writes the replica counts of a kind with a scale
// subresource (served as autoscaling/v1 Scale).
type Scale struct {
	SpecReplicas    func(obj runtime.Object) int32
	SetSpecReplicas func(obj runtime.Object, n int32)
	StatusReplicas  func(obj runtime.Object) int32
	// Selector is the label selector of the pods, as a string.
	Selector func(obj runtime.Object) string
}

// GVR returns the kind's group, version and resource.
func (k *Kind) GVR() schema.GroupVersionResource {
	return k.GVK.GroupVersion().WithResource(k.Resource)
}
