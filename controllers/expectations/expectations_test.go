package expectations

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// From the ReplicaSet controller: batched observations, pending count,
// deletions by UID, a configured TTL, Forget.
func TestCreationsAndDeletions(t *testing.T) {
	now := t0
	e := New(time.Minute)
	if !e.Satisfied("k", now) {
		t.Fatal("no record: satisfied")
	}
	e.ExpectCreations("k", 2, now)
	e.CreationsObserved("k", 1)
	if e.Satisfied("k", now) || e.PendingCreations("k", now) != 1 {
		t.Fatal("one creation still pending")
	}
	e.CreationsObserved("k", 1)
	if !e.Satisfied("k", now) {
		t.Fatal("all creations seen")
	}
	e.ExpectDeletions("k", now, "a", "b")
	e.DeletionObserved("k", "a")
	e.DeletionObserved("k", "a")
	if e.Satisfied("k", now) {
		t.Fatal("b not seen yet")
	}
	now = now.Add(2 * time.Minute)
	if !e.Satisfied("k", now) {
		t.Fatal("expired records do not block")
	}
	e.Forget("k")
	if !e.Satisfied("k", now) || e.PendingCreations("k", now) != 0 {
		t.Fatal("forgotten")
	}
}

// From the DaemonSet controller: creations and deletions in one record,
// an extra observation is not banked, the default TTL.
func TestExtraObservationNotBanked(t *testing.T) {
	now := t0
	e := New(0)
	if !e.Satisfied("k", now) {
		t.Fatal("fresh key not satisfied")
	}
	e.ExpectCreations("k", 2, now)
	e.ExpectDeletions("k", now, "u1")
	e.CreationsObserved("k", 1)
	e.DeletionObserved("k", "u1")
	if e.Satisfied("k", now) {
		t.Fatal("satisfied with one creation outstanding")
	}
	e.CreationsObserved("k", 1)
	e.CreationsObserved("k", 1) // an extra observation does not go negative
	if !e.Satisfied("k", now) {
		t.Fatal("not satisfied after every write was seen")
	}
	e.ExpectCreations("k", 1, now)
	if e.Satisfied("k", now) {
		t.Fatal("the extra observation was banked")
	}
	now = now.Add(DefaultTTL + time.Second)
	if !e.Satisfied("k", now) {
		t.Fatal("not satisfied after the timeout")
	}
}

// From the StatefulSet controller: a pending deletion alone blocks.
func TestDeletionOutstanding(t *testing.T) {
	now := t0
	e := New(0)
	e.ExpectCreations("k", 1, now)
	e.ExpectDeletions("k", now, "u1")
	if e.Satisfied("k", now) {
		t.Fatal("satisfied with writes outstanding")
	}
	e.CreationsObserved("k", 1)
	if e.Satisfied("k", now) {
		t.Fatal("satisfied with a deletion outstanding")
	}
	e.DeletionObserved("k", "u1")
	if !e.Satisfied("k", now) {
		t.Fatal("not satisfied after every write was seen")
	}
	e.ExpectCreations("k", 1, now)
	now = now.Add(DefaultTTL + time.Second)
	if !e.Satisfied("k", now) {
		t.Fatal("not satisfied after the timeout")
	}
}

// Raising an expectation restarts the TTL of the whole record.
func TestRaiseRestartsTTL(t *testing.T) {
	e := New(time.Minute)
	e.ExpectCreations("k", 1, t0)
	e.ExpectDeletions("k", t0.Add(50*time.Second), "u")
	if e.Satisfied("k", t0.Add(90*time.Second)) || e.PendingCreations("k", t0.Add(90*time.Second)) != 1 {
		t.Fatal("the second expectation restarted the TTL")
	}
	if e.PendingCreations("k", t0.Add(111*time.Second)) != 0 || !e.Satisfied("k", t0.Add(111*time.Second)) {
		t.Fatal("expired")
	}
	var uids []types.UID
	e.ExpectDeletions("k2", t0, uids...)
	if !e.Satisfied("k2", t0) {
		t.Fatal("no deletions: satisfied")
	}
}

func TestInFlight(t *testing.T) {
	f := NewInFlight(time.Minute)
	if !f.Start("p", t0) {
		t.Fatal("first start sends")
	}
	if f.Start("p", t0.Add(59*time.Second)) {
		t.Fatal("in flight: not again")
	}
	if !f.Start("q", t0) {
		t.Fatal("another object is independent")
	}
	if !f.Start("p", t0.Add(time.Minute)) {
		t.Fatal("an entry as old as the TTL no longer blocks")
	}
	f.Done("p")
	if !f.Start("p", t0.Add(time.Minute)) {
		t.Fatal("done: may send again")
	}
}

func TestOutcomeUnknown(t *testing.T) {
	gr := schema.GroupResource{Resource: "pods"}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{apierrors.NewTimeoutError("the store did not answer in time", 1), true},
		{apierrors.NewServerTimeout(gr, "create", 1), true},
		{fmt.Errorf("Post: %w", io.ErrUnexpectedEOF), true},
		{apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "p", nil), false},
		{apierrors.NewForbidden(gr, "p", errors.New("quota")), false},
		{apierrors.NewAlreadyExists(gr, "p"), false},
		{apierrors.NewServiceUnavailable("store unavailable"), false},
	} {
		if got := OutcomeUnknown(c.err); got != c.want {
			t.Errorf("OutcomeUnknown(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
