package podnet

import "errors"

var (
	// ErrBadConfig: a Config field is missing or invalid.
	ErrBadConfig = errors.New("podnet: bad config")
	// ErrBadCIDR: the pod CIDR is not an IPv4 prefix of length 8..30.
	ErrBadCIDR = errors.New("podnet: bad pod CIDR")
	// ErrCIDRFull: every address of the node's pod CIDR is allocated.
	ErrCIDRFull = errors.New("podnet: pod CIDR full")
	// ErrBadUID: a pod UID that cannot name files (Kubernetes UIDs are
	// UUIDs and always can).
	ErrBadUID = errors.New("podnet: bad pod UID")
	// ErrNameCollision: the host veth name derived from a UID is held by
	// another pod's veth (two UIDs with the same hash prefix).
	ErrNameCollision = errors.New("podnet: host veth name collision")
)
