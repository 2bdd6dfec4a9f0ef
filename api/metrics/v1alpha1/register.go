package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of Kelson's usage reports.
const GroupName = "metrics.kelson.dev"

// SchemeGroupVersion is the group version of this package's kinds.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

// Resource is the lower-case plural of NodeUsage in URLs.
const Resource = "nodeusages"

// AddToScheme registers NodeUsage and NodeUsageList (and meta/v1's
// options for the group version) in s.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion, &NodeUsage{}, &NodeUsageList{})
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}
