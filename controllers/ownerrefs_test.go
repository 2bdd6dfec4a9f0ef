package controllers

import (
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
)

func TestResolveControllerRef(t *testing.T) {
	kind := appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: "ns", UID: "u1"}}
	get := func(name string) (*appsv1.ReplicaSet, error) {
		if name == "rs" {
			return rs, nil
		}
		return nil, errors.New("not found")
	}
	ref := func(apiVersion, kind, name, uid string) *metav1.OwnerReference {
		return &metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: k8stypes.UID(uid)}
	}
	for _, tc := range []struct {
		what string
		ref  *metav1.OwnerReference
		want *appsv1.ReplicaSet
	}{
		{"no reference", nil, nil},
		{"the owner", ref("apps/v1", "ReplicaSet", "rs", "u1"), rs},
		{"another kind", ref("apps/v1", "Deployment", "rs", "u1"), nil},
		{"another version", ref("extensions/v1beta1", "ReplicaSet", "rs", "u1"), nil},
		{"a successor of the same name", ref("apps/v1", "ReplicaSet", "rs", "u0"), nil},
		{"gone", ref("apps/v1", "ReplicaSet", "other", "u1"), nil},
	} {
		if got := ResolveControllerRef(tc.ref, kind, get); got != tc.want {
			t.Errorf("%s: got %v", tc.what, got)
		}
	}
}
