package auth

import "context"

type ctxKey struct{}

// NewContext returns ctx carrying the caller's identity, for the layer that
// proposes the caller's request (raftnode puts it in the entry's header).
func NewContext(ctx context.Context, ai Info) context.Context {
	return context.WithValue(ctx, ctxKey{}, ai)
}

// FromContext returns the identity NewContext put in ctx.
func FromContext(ctx context.Context) (Info, bool) {
	ai, ok := ctx.Value(ctxKey{}).(Info)
	return ai, ok
}
