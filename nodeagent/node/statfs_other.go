//go:build !linux

package node

import "errors"

// statfs is Linux only: the node agent runs on Linux.
func statfs(string) (fsStats, error) {
	return fsStats{}, errors.New("node: statfs: the node agent runs on Linux only")
}
