package openapi

import (
	"k8s.io/kube-openapi/pkg/common"
)

// The parameters operations declare, by name and type as kube-apiserver
// declares them (clients key on the names: kubectl looks for fieldValidation
// on a PATCH before it asks the server to validate fields).

func query(name, dataType, description string) *param {
	return &param{name: name, dataType: dataType, kind: common.QueryParameterKind, description: description}
}

var (
	paramPretty = query("pretty", "string",
		"If 'true', the output is pretty printed.")

	paramNamespace = &param{name: "namespace", dataType: "string", kind: common.PathParameterKind, required: true,
		description: "object name and auth scope, such as for teams and projects"}

	paramDryRun = query("dryRun", "string",
		"When present, modifications are not persisted. The only valid value is 'All': all dry run stages are processed.")
	paramFieldManager = query("fieldManager", "string",
		"The name of the actor making the change, recorded in managedFields. At most 128 printable characters. Required for apply patches.")
	paramFieldValidation = query("fieldValidation", "string",
		"How to handle unknown or duplicate fields in the request body: 'Ignore' drops them silently, 'Warn' drops them and returns a warning for each, 'Strict' fails the request.")
	paramForce = query("force", "boolean",
		"Apply patches only: take ownership of fields other managers own, resolving conflicts in the request's favour. Must be unset for other patch types.")

	paramAllowWatchBookmarks = query("allowWatchBookmarks", "boolean",
		"Ask for BOOKMARK watch events; the server may send them at any time. Ignored unless watch is set.")
	paramContinue = query("continue", "string",
		"The token from a previous list response with more results, to get the next chunk.")
	paramFieldSelector = query("fieldSelector", "string",
		"Restrict the returned objects by their fields. Defaults to everything.")
	paramLabelSelector = query("labelSelector", "string",
		"Restrict the returned objects by their labels. Defaults to everything.")
	paramLimit = query("limit", "integer",
		"The maximum number of objects to return in one list response; a continue token is returned when more exist.")
	paramResourceVersion = query("resourceVersion", "string",
		"Constrain which resource versions a request may be served from (see the resource version semantics of the Kubernetes API). Defaults to unset.")
	paramResourceVersionMatch = query("resourceVersionMatch", "string",
		"How resourceVersion applies to a list: 'Exact' or 'NotOlderThan'. Defaults to unset.")
	paramSendInitialEvents = query("sendInitialEvents", "boolean",
		"With watch=true, start with synthetic ADDED events for the current state, followed by a bookmark. Requires resourceVersionMatch=NotOlderThan.")
	paramTimeoutSeconds = query("timeoutSeconds", "integer",
		"A timeout for the list or watch call, regardless of activity.")
	paramWatch = query("watch", "boolean",
		"Watch for changes to the described resources and return them as a stream of add, update and remove notifications.")

	paramGracePeriodSeconds = query("gracePeriodSeconds", "integer",
		"Seconds before the object is deleted; 0 deletes immediately. Defaults to the kind's default grace period.")
	paramIgnoreStoreReadError = query("ignoreStoreReadErrorWithClusterBreakingPotential", "boolean",
		"Delete an object that cannot be read from storage (corrupt or undecryptable). Dangerous: bypasses finalizers and graceful deletion.")
	paramOrphanDependents = query("orphanDependents", "boolean",
		"Deprecated: use propagationPolicy. Whether dependents are orphaned.")
	paramPropagationPolicy = query("propagationPolicy", "string",
		"Whether and how garbage collection deletes dependents: 'Orphan', 'Background' or 'Foreground'.")
)

var (
	writeParams = []common.Parameter{paramDryRun, paramFieldManager, paramFieldValidation}
	patchParams = []common.Parameter{paramDryRun, paramFieldManager, paramFieldValidation, paramForce}
	listParams  = []common.Parameter{paramAllowWatchBookmarks, paramContinue, paramFieldSelector, paramLabelSelector,
		paramLimit, paramResourceVersion, paramResourceVersionMatch, paramSendInitialEvents, paramTimeoutSeconds, paramWatch}
	deleteParams = []common.Parameter{paramDryRun, paramGracePeriodSeconds, paramIgnoreStoreReadError,
		paramOrphanDependents, paramPropagationPolicy}
	// deleteCollectionParams are the list parameters a delete of a
	// collection takes besides deleteParams (not watch and bookmarks).
	deleteCollectionParams = []common.Parameter{paramContinue, paramFieldSelector, paramLabelSelector, paramLimit,
		paramResourceVersion, paramResourceVersionMatch, paramSendInitialEvents, paramTimeoutSeconds}
	logParams = []common.Parameter{
		query("container", "string", "The container to stream logs of; optional for a pod with one container."),
		query("follow", "boolean", "Stream the log as it is written."),
		query("insecureSkipTLSVerifyBackend", "boolean", "Do not verify the serving certificate of the node agent the log is read from."),
		query("limitBytes", "integer", "Stop after this many bytes of log."),
		query("previous", "boolean", "The log of the previous, terminated instance of the container."),
		query("sinceSeconds", "integer", "Only the log of the last this many seconds. At most one of sinceSeconds and sinceTime."),
		query("stream", "string", "Which stream to return: 'All', 'Stdout' or 'Stderr'. Defaults to 'All'."),
		query("tailLines", "integer", "Only the last this many lines of the log."),
		query("timestamps", "boolean", "Prefix each line with an RFC3339 timestamp."),
	}
)

// nameParam is the {name} path parameter of a kind's objects.
func nameParam(kind string) common.Parameter {
	return &param{name: "name", dataType: "string", kind: common.PathParameterKind, required: true,
		description: "name of the " + kind}
}

// bodyParam is a request body; its model is the route's body.
func bodyParam(required bool) []common.Parameter {
	return []common.Parameter{&param{name: "body", kind: common.BodyParameterKind, required: required}}
}
