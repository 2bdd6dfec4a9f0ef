package apiserver

import (
	"context"
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// A store timeout is a 504 (the write may still commit); anything else
// the store fails with is a 503.
func TestStoreErrorTimeoutsAre504(t *testing.T) {
	for _, c := range []struct {
		err     error
		timeout bool
	}{
		{context.DeadlineExceeded, true},
		{fmt.Errorf("put: %w", errors.New("etcdserver: request timed out")), true},
		{errors.New("etcdserver: request timed out, possibly due to previous leader failure"), true},
		{errors.New("etcdserver: no leader"), false},
		{errors.New("connection refused"), false},
	} {
		err := storeError(c.err)
		if got := apierrors.IsTimeout(err); got != c.timeout {
			t.Errorf("storeError(%v) = %v: timeout %v, want %v", c.err, err, got, c.timeout)
		}
		if !c.timeout && !apierrors.IsServiceUnavailable(err) {
			t.Errorf("storeError(%v) = %v, want 503", c.err, err)
		}
	}
}
