package garbagecollector

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
)

// metadataAPI is API over the metadata client: every read and write moves
// only PartialObjectMetadata, whatever the resource.
type metadataAPI struct{ c metadata.Interface }

func (a metadataAPI) Get(ctx context.Context, res schema.GroupVersionResource, ns, name string) (*metav1.PartialObjectMetadata, error) {
	return a.c.Resource(res).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
}

func (a metadataAPI) Delete(ctx context.Context, res schema.GroupVersionResource, ns, name string, opts metav1.DeleteOptions) error {
	return a.c.Resource(res).Namespace(ns).Delete(ctx, name, opts)
}

func (a metadataAPI) Patch(ctx context.Context, res schema.GroupVersionResource, ns, name string, patch []byte) error {
	_, err := a.c.Resource(res).Namespace(ns).Patch(ctx, name, types.JSONPatchType, patch, metav1.PatchOptions{})
	return err
}
