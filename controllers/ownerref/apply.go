package ownerref

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Patcher is the part of a typed client (PodInterface, ...) Apply uses.
type Patcher[T any] interface {
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
}

// Apply carries out c through api: it adopts c.Adopt under the controller
// reference ref, if there is any to adopt and mayAdopt (asked once, for a
// fresh read of the owner) agrees, and releases c.Release from ref's
// owner. It returns c.Owned followed by the adopted objects as the API
// returned them. An object gone before its patch is skipped; any other
// failure stops Apply. noun names the objects in errors ("pod").
func Apply[T metav1.Object](ctx context.Context, api Patcher[T], ref metav1.OwnerReference, c Claims[T],
	mayAdopt func(context.Context) bool, noun string) ([]T, error) {
	owned := c.Owned
	if len(c.Adopt) > 0 && mayAdopt(ctx) {
		for _, o := range c.Adopt {
			patch, err := AdoptPatch(ref, o.GetUID())
			var got T
			if err == nil {
				got, err = api.Patch(ctx, o.GetName(), types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			}
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("adopt %s %s: %w", noun, o.GetName(), err)
			}
			owned = append(owned, got)
		}
	}
	for _, o := range c.Release {
		patch, err := ReleasePatch(ref.UID, o.GetUID())
		if err == nil {
			_, err = api.Patch(ctx, o.GetName(), types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("release %s %s: %w", noun, o.GetName(), err)
		}
	}
	return owned, nil
}
