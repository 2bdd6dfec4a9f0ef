package manager

import (
	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/daemonset"
	"github.com/kelson-dev/kelson/controllers/disruption"
	"github.com/kelson-dev/kelson/controllers/garbagecollector"
	"github.com/kelson-dev/kelson/controllers/podautoscaler"
	"github.com/kelson-dev/kelson/controllers/resourcequota"
	"github.com/kelson-dev/kelson/controllers/statefulset"
	"github.com/kelson-dev/kelson/controllers/volume"
	"github.com/kelson-dev/kelson/controllers/volume/localpath"
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
var registry = []entry{
	{name: "garbagecollector", new: func(c *controllers.Context) Runner { return garbagecollector.New(c) }},
	{name: disruption.Name, new: func(c *controllers.Context) Runner { return disruption.New(c) }},
	{name: resourcequota.Name, new: func(c *controllers.Context) Runner { return resourcequota.New(c) }},
	{name: volume.BinderName, new: func(c *controllers.Context) Runner { return volume.NewBinder(c) }},
	{name: localpath.Name, new: func(c *controllers.Context) Runner { return localpath.New(c, localpath.Config{}) }},
	{name: podautoscaler.Name, new: func(c *controllers.Context) Runner { return podautoscaler.New(c) }},
	{name: "daemonset", new: func(c *controllers.Context) Runner { return daemonset.New(c) }},
	{name: "statefulset", new: func(c *controllers.Context) Runner { return statefulset.New(c) }},
}

// schedulerEntry is run under its own kube-scheduler Lease.
var schedulerEntry = entry{name: schedulerName}
