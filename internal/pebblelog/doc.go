// Package pebblelog routes a Pebble database's logs to slog and turns its
// fatal errors into an orderly stop. kvstore and raftlog each open a Pebble
// database and use the same Logger.
package pebblelog
