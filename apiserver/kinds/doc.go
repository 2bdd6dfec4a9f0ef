// Package kinds describes every resource the API server serves: names,
// storage layout, and the pure per-kind functions — defaulting, validation,
// table columns, selectable fields, scale — that Kubernetes keeps in each
// kind's strategy. One file per kind (or per small family of kinds); All
// lists them.
//
// Nothing here does IO: every function takes objects and returns values,
// so each is tested with tables of objects.
package kinds
