package manager

import (
	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/scheduler"
)

// entry is one component the manager can run.
type entry struct {
	// name is what --disable takes, and the controller's name in logs.
	name string
	// new constructs the controller for one term: it asks cctx.Informers
	// for what it needs and does no IO.
	new func(cctx *controllers.Context) Runner
}

const schedulerName = "scheduler"

// registry lists the controllers run under the kube-controller-manager
// Lease, in start order.
var registry = []entry{}

// schedulerEntry is run under its own kube-scheduler Lease.
var schedulerEntry = entry{name: schedulerName, new: func(c *controllers.Context) Runner { return scheduler.New(c) }}
