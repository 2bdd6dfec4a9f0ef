// Package testcluster starts a real Kelson API server for tests outside
// the apiserver package: an in-process store member (Pebble in a temp dir,
// real raft) and the API served over plain HTTP on loopback. Controllers,
// the scheduler and `kelson sim` are tested against it with client-go and
// kubectl, as users drive a `kelson server`.
package testcluster
