package apiserver

import (
	"net/http"
	"strings"
)

// requestInfo is what a resource request's URL and method say.
//
//	/api/v1/namespaces/default/pods/web/status
//	 group ""  version v1  namespace default  resource pods  name web  subresource status
//	/apis/apps/v1/deployments?watch=1   group apps, version v1, all namespaces, verb watch
type requestInfo struct {
	Group, Version        string
	Namespace             string // "" for cluster-scoped or all namespaces
	Resource, Name        string
	Subresource           string
	Verb                  string // get list watch create update patch delete deletecollection
	namespacedPath        bool   // the path had /namespaces/<ns>/ before the resource
	namespacesSubresource bool   // the path was /api/v1/namespaces/<name>[/<sub>]
}

// parseRequest reads a resource URL. ok is false for paths that are not
// resource paths (discovery, /version, ...).
func parseRequest(method, path string, query func(string) string) (requestInfo, bool) {
	var ri requestInfo
	parts := splitPath(path)
	for _, p := range parts {
		if p == "" {
			return ri, false
		}
	}
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		ri.Version, parts = parts[1], parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		ri.Group, ri.Version, parts = parts[1], parts[2], parts[3:]
	default:
		return ri, false
	}
	watchPath := false
	if parts[0] == "watch" {
		watchPath, parts = true, parts[1:]
		if len(parts) == 0 {
			return ri, false
		}
	}
	if parts[0] == "namespaces" && len(parts) >= 3 && parts[2] != "status" && parts[2] != "finalize" {
		// /namespaces/<ns>/<resource>...
		ri.Namespace, ri.namespacedPath, parts = parts[1], true, parts[2:]
	}
	ri.Resource = parts[0]
	if len(parts) > 1 {
		ri.Name = parts[1]
	}
	if len(parts) > 2 {
		ri.Subresource = parts[2]
	}
	if len(parts) > 3 {
		return ri, false
	}
	if ri.Resource == "namespaces" && !ri.namespacedPath && ri.Name != "" {
		ri.namespacesSubresource = true
	}
	isWatch := watchPath || query("watch") == "1" || query("watch") == "true"
	switch method {
	case http.MethodGet, http.MethodHead:
		switch {
		case isWatch:
			ri.Verb = "watch"
		case ri.Name == "":
			ri.Verb = "list"
		default:
			ri.Verb = "get"
		}
	case http.MethodPost:
		ri.Verb = "create"
	case http.MethodPut:
		ri.Verb = "update"
	case http.MethodPatch:
		ri.Verb = "patch"
	case http.MethodDelete:
		if ri.Name == "" {
			ri.Verb = "deletecollection"
		} else {
			ri.Verb = "delete"
		}
	default:
		ri.Verb = strings.ToLower(method)
	}
	return ri, true
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
