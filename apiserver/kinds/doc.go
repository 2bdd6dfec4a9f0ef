// Package kinds describes every resource the API server serves: names,
// storage layout, and the pure per-kind functions — defaulting, validation,
// table columns, selectable fields, scale — that Kubernetes keeps in each
// kind's strategy. One file per kind (or per small family of kinds); All
// lists them.
//
// # Model
//
// A Kind is data plus hooks. The API server calls the hooks in the order
// kube-apiserver's generic registry does:
//
//	create: decode -> Normalize -> Default -> (generate name, set uid) -> PrepareForCreate
//	        -> ValidateName + ObjectMeta checks (caller) -> Validate
//	update: decode/patch -> Normalize -> Default -> PrepareForUpdate(obj, stored)
//	        -> Validate -> ValidateUpdate(obj, stored)
//	read:   Columns + Cells for Table output, Fields for field selectors,
//	        Scale for the /scale subresource.
//
// Shared pieces: podspec_defaults.go and podspec_validate.go default and
// validate a PodSpec the same way for pods and for every pod template
// (Deployment, ReplicaSet, DaemonSet, StatefulSet, Job, CronJob);
// workload.go holds the selector/template rules and the CONTAINERS,
// IMAGES and SELECTOR cells of workloads; helpers.go the age rendering,
// name rules and small validators.
//
// # Custom resources
//
// apiextensions_crd.go is the CustomResourceDefinition kind itself
// (defaults from the apiextensions v1 package, kube-apiserver's validation
// rules and messages, the customresourcecleanup finalizer on create).
// CustomKinds (custom.go) turns one CRD into one Kind per served version:
// objects are *unstructured.Unstructured; Kind.Custom says so and carries
// the storage version; Normalize prunes unknown fields (metadata to
// ObjectMeta's) and applies the schema's defaults (custom_schema.go);
// Validate runs kube-openapi's validator over the openAPIV3Schema with
// kube-apiserver's field errors ("spec.replicas: Invalid value: "string":
// spec.replicas in body must be of type integer: "string""); Columns and
// Cells render the additionalPrinterColumns through client-go's jsonpath.
//
// metrics_nodeusage.go is Kelson's own kind NodeUsage
// (metrics.kelson.dev/v1alpha1, types in package api/metrics/v1alpha1):
// Kind.JSON marks it as stored and served as JSON only.
//
// # Invariants
//
//   - Pure: no IO, no mutable package state. Hooks change only the object
//     they are given. The one clock read is Cells rendering an AGE (via
//     time.Now); the rendering itself is humanAge, a pure function of a
//     duration (Kubernetes' duration.HumanDuration: "45s", "5m30s", "3h",
//     "2d3h", "400d").
//   - Defaults are the ones kube-apiserver v1.37 applies to v1 objects;
//     the pod-only defaults (enableServiceLinks, requests from limits,
//     host-network ports) are not applied to pod templates, as upstream.
//   - Validation errors carry Kubernetes' field paths and messages
//     (field.Required, field.Invalid, field.NotSupported, ...), e.g.
//     "spec.selector: Required value" or "spec.template.metadata.labels:
//     Invalid value: ...: `selector` does not match template `labels`".
//     ObjectMeta is the caller's to validate; ValidateName is set only
//     where a kind's name rule is not a DNS-1123 subdomain.
//   - Cells returns exactly one cell per column. Name is the first column
//     (Format "name") except for events, whose table starts with LAST SEEN
//     and ends with the -o wide NAME column, as kube-apiserver's.
//
// # Example
//
//	k := deploymentKind()
//	d := &appsv1.Deployment{ /* decoded body */ }
//	k.Default(d)          // replicas 1, RollingUpdate 25%/25%, ...
//	k.PrepareForCreate(d) // status cleared
//	if errs := k.Validate(d); len(errs) > 0 {
//		// errs.ToAggregate(): "spec.selector: Required value"
//	}
package kinds
