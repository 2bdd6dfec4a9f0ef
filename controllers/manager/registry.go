package manager

import (
	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/bootstraptoken"
	"github.com/kelson-dev/kelson/controllers/cronjob"
	"github.com/kelson-dev/kelson/controllers/daemonset"
	"github.com/kelson-dev/kelson/controllers/deployment"
	"github.com/kelson-dev/kelson/controllers/disruption"
	"github.com/kelson-dev/kelson/controllers/endpoints"
	"github.com/kelson-dev/kelson/controllers/endpointslice"
	"github.com/kelson-dev/kelson/controllers/garbagecollector"
	"github.com/kelson-dev/kelson/controllers/job"
	"github.com/kelson-dev/kelson/controllers/nodeipam"
	"github.com/kelson-dev/kelson/controllers/nodelifecycle"
	"github.com/kelson-dev/kelson/controllers/podautoscaler"
	"github.com/kelson-dev/kelson/controllers/replicaset"
	"github.com/kelson-dev/kelson/controllers/resourcequota"
	"github.com/kelson-dev/kelson/controllers/rootcacert"
	"github.com/kelson-dev/kelson/controllers/scheduler"
	"github.com/kelson-dev/kelson/controllers/serviceaccount"
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
	// newWith, instead of new, is for a controller that needs the
	// manager's Config; a nil Runner means it has nothing to do (not run).
	newWith func(cctx *controllers.Context, cfg Config) Runner
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
	{name: "endpoint", new: func(c *controllers.Context) Runner { return endpoints.New(c) }},
	{name: "endpointslice", new: func(c *controllers.Context) Runner { return endpointslice.New(c) }},
	{name: "serviceaccount", new: func(c *controllers.Context) Runner { return serviceaccount.New(c) }},
	{name: rootcacert.Name, newWith: func(c *controllers.Context, cfg Config) Runner { return rootCAPublisher(c, cfg.RootCA) }},
	{name: "nodeipam", new: func(c *controllers.Context) Runner { return nodeipam.New(c) }},
	{name: "nodelifecycle", new: func(c *controllers.Context) Runner { return nodelifecycle.New(c) }},
	{name: "taint-eviction-controller", new: func(c *controllers.Context) Runner { return nodelifecycle.NewTaintEviction(c) }},
	{name: "job", new: func(c *controllers.Context) Runner { return job.New(c) }},
	{name: "ttl-after-finished", new: func(c *controllers.Context) Runner { return job.NewTTLAfterFinished(c) }},
	{name: "cronjob", new: func(c *controllers.Context) Runner { return cronjob.New(c) }},
	{name: "replicaset", new: func(c *controllers.Context) Runner { return replicaset.New(c) }},
	{name: "deployment", new: func(c *controllers.Context) Runner { return deployment.New(c) }},
	{name: bootstraptoken.CleanerName, new: func(c *controllers.Context) Runner { return bootstraptoken.NewCleaner(c) }},
}

// schedulerEntry is run under its own kube-scheduler Lease.
var schedulerEntry = entry{name: schedulerName, new: func(c *controllers.Context) Runner { return scheduler.New(c) }}

// rootCAPublisher is the root-ca-cert-publisher, nil (not run) without a CA.
func rootCAPublisher(c *controllers.Context, ca []byte) Runner {
	if p := rootcacert.New(c, ca); p != nil {
		return p
	}
	return nil
}
