package v3rpc

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Services are the etcd v3 services over one Backend: what Register serves
// over gRPC, and what an in-process caller such as the JSON gateway
// (raftnode/v3http) calls directly, with the same validation, headers and
// error mapping. Calls made directly bypass the interceptors of
// ServerOptions (panic recovery, metrics): such a caller recovers itself.
type Services struct {
	KV          pb.KVServer
	Watch       pb.WatchServer
	Lease       pb.LeaseServer
	Cluster     pb.ClusterServer
	Maintenance pb.MaintenanceServer
	Auth        pb.AuthServer
	// shutdown ends the health service's SERVING (RegisterServices).
	shutdown <-chan struct{}
}

// NewServices returns the services over b. opts are defaulted first.
func NewServices(b Backend, opts Options) *Services {
	opts.EnsureDefaults()
	srv := &server{b: b, opts: opts, log: opts.Logger}
	srv.ab, _ = b.(AuthBackend)
	return &Services{
		KV:          &kvServer{server: srv},
		Watch:       &watchServer{server: srv},
		Lease:       &leaseServer{server: srv},
		Cluster:     &clusterServer{server: srv},
		Maintenance: &maintenanceServer{server: srv},
		Auth:        &authServer{server: srv},
		shutdown:    opts.Shutdown,
	}
}

// RegisterServices adds svc to s, and the standard gRPC health service
// reporting SERVING for the server ("") and for each etcd service name
// (NOT_SERVING once the Options.Shutdown svc was made with is closed).
func RegisterServices(s *grpc.Server, svc *Services) {
	pb.RegisterKVServer(s, svc.KV)
	pb.RegisterWatchServer(s, svc.Watch)
	pb.RegisterLeaseServer(s, svc.Lease)
	pb.RegisterClusterServer(s, svc.Cluster)
	pb.RegisterMaintenanceServer(s, svc.Maintenance)
	pb.RegisterAuthServer(s, svc.Auth)

	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	for _, name := range []string{
		pb.KV_ServiceDesc.ServiceName, pb.Watch_ServiceDesc.ServiceName, pb.Lease_ServiceDesc.ServiceName,
		pb.Cluster_ServiceDesc.ServiceName, pb.Maintenance_ServiceDesc.ServiceName, pb.Auth_ServiceDesc.ServiceName,
	} {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	healthpb.RegisterHealthServer(s, hs)
	if svc.shutdown != nil {
		go func() {
			<-svc.shutdown
			hs.Shutdown() // NOT_SERVING from now on
		}()
	}
}
