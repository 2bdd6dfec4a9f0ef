package apiserver

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"strconv"

	"github.com/kelson-dev/kelson/apiserver/storage"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Service allocations: every ClusterIP and NodePort in use has a key of its
// own, created in the same txn as the Service that takes it (compared
// absent) and deleted in the txn that releases it. So two servers — or two
// requests — can never hand out the same value: the second txn fails its
// compare and retries with a fresh choice.
const (
	clusterIPKeys = "/registry/kelson/clusterips/"
	nodePortKeys  = "/registry/kelson/nodeports/"
)

// allocation is what a write must add to its txn.
type allocation struct {
	cmps []*pb.Compare
	ops  []*pb.RequestOp
}

func (a *allocation) claim(key, owner string) {
	a.cmps = append(a.cmps, &pb.Compare{Key: []byte(key), Target: pb.Compare_CREATE, Result: pb.Compare_EQUAL,
		TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 0}})
	a.ops = append(a.ops, putOp(key, []byte(owner)))
}

func (a *allocation) free(key string) {
	a.ops = append(a.ops, &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{
		RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(key)}}})
}

// allocate fills in a Service's ClusterIP and NodePorts (obj is the
// caller's; old is the stored object on an update, else nil) and returns
// the claims and releases its write needs. Other kinds need nothing.
func (s *Server) allocate(ctx context.Context, res *resource, obj, old runtime.Object) (allocation, error) {
	var a allocation
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return a, nil
	}
	var prev *corev1.Service
	if old != nil {
		prev = old.(*corev1.Service)
	}
	owner := svc.Namespace + "/" + svc.Name

	oldIP := ""
	if prev != nil {
		oldIP = clusterIPOf(prev)
	}
	if svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		if svc.Spec.ClusterIP == "" {
			ip, err := s.freeClusterIP(ctx, svc)
			if err != nil {
				return a, err
			}
			svc.Spec.ClusterIP = ip
		} else if svc.Spec.ClusterIP != oldIP {
			if err := s.checkClusterIP(ctx, svc.Spec.ClusterIP); err != nil {
				return a, err
			}
		}
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		if svc.Spec.ClusterIP != oldIP {
			a.claim(clusterIPKeys+svc.Spec.ClusterIP, owner)
		}
	}
	if oldIP != "" && oldIP != svc.Spec.ClusterIP {
		a.free(clusterIPKeys + oldIP)
	}

	oldPorts := map[int32]bool{}
	if prev != nil {
		for _, p := range prev.Spec.Ports {
			if p.NodePort != 0 {
				oldPorts[p.NodePort] = true
			}
		}
	}
	newPorts := map[int32]bool{}
	if svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort == 0 {
				n, err := s.freeNodePort(ctx, newPorts)
				if err != nil {
					return a, err
				}
				p.NodePort = n
			} else if !oldPorts[p.NodePort] {
				if err := s.checkNodePort(ctx, i, p.NodePort); err != nil {
					return a, err
				}
			}
			if newPorts[p.NodePort] {
				continue // validation reports duplicates; claim once
			}
			newPorts[p.NodePort] = true
			if !oldPorts[p.NodePort] {
				a.claim(nodePortKeys+strconv.Itoa(int(p.NodePort)), owner)
			}
		}
	}
	for p := range oldPorts {
		if !newPorts[p] {
			a.free(nodePortKeys + strconv.Itoa(int(p)))
		}
	}
	return a, nil
}

func clusterIPOf(svc *corev1.Service) string {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return ""
	}
	return svc.Spec.ClusterIP
}

// release returns the releases of everything obj holds, for its delete.
func (s *Server) release(_ context.Context, res *resource, obj runtime.Object) ([]*pb.RequestOp, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, nil
	}
	var a allocation
	if ip := clusterIPOf(svc); ip != "" {
		a.free(clusterIPKeys + ip)
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			a.free(nodePortKeys + strconv.Itoa(int(p.NodePort)))
		}
	}
	return a.ops, nil
}

// taken returns the allocation keys in use under prefix.
func (s *Server) taken(ctx context.Context, prefix string) (map[string]bool, error) {
	resp, err := s.cfg.Store.Range(ctx, &pb.RangeRequest{Key: []byte(prefix), RangeEnd: storage.PrefixEnd([]byte(prefix)), KeysOnly: true})
	if err != nil {
		return nil, storeError(err)
	}
	used := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		used[string(kv.Key[len(prefix):])] = true
	}
	return used, nil
}

// serviceRange is the usable addresses of the service CIDR: all but the
// network address, the first address (the `kubernetes` Service's) and,
// for IPv4, the broadcast address.
func (s *Server) serviceRange() (base *big.Int, size int64) {
	ones, bits := s.cfg.ServiceCIDR.Mask.Size()
	base = new(big.Int).SetBytes(s.cfg.ServiceCIDR.IP.Mask(s.cfg.ServiceCIDR.Mask))
	size = int64(1)<<(bits-ones) - 3
	return base.Add(base, big.NewInt(2)), size
}

func ipAt(base *big.Int, off int64, ipv4 bool) string {
	n := new(big.Int).Add(base, big.NewInt(off))
	b := n.Bytes()
	l := 16
	if ipv4 {
		l = 4
	}
	ip := make(net.IP, l)
	copy(ip[l-len(b):], b)
	return ip.String()
}

// kubernetesServiceIP is the first address of the service CIDR.
func (s *Server) kubernetesServiceIP() string {
	base := new(big.Int).SetBytes(s.cfg.ServiceCIDR.IP.Mask(s.cfg.ServiceCIDR.Mask))
	return ipAt(base, 1, s.cfg.ServiceCIDR.IP.To4() != nil)
}

func (s *Server) freeClusterIP(ctx context.Context, svc *corev1.Service) (string, error) {
	if svc.Namespace == "default" && svc.Name == "kubernetes" {
		return s.kubernetesServiceIP(), nil
	}
	used, err := s.taken(ctx, clusterIPKeys)
	if err != nil {
		return "", err
	}
	base, size := s.serviceRange()
	if size <= 0 || int64(len(used)) >= size {
		return "", apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: range is full"))
	}
	ipv4 := s.cfg.ServiceCIDR.IP.To4() != nil
	start := rand.Int64N(size)
	for i := int64(0); i < size; i++ {
		ip := ipAt(base, (start+i)%size, ipv4)
		if !used[ip] {
			return ip, nil
		}
	}
	return "", apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: range is full"))
}

func (s *Server) checkClusterIP(ctx context.Context, ip string) error {
	parsed := net.ParseIP(ip)
	path := field.NewPath("spec", "clusterIPs").Index(0)
	if parsed == nil || !s.cfg.ServiceCIDR.Contains(parsed) {
		return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), "", field.ErrorList{
			field.Invalid(path, ip, fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", ip, ip, s.cfg.ServiceCIDR))})
	}
	used, err := s.taken(ctx, clusterIPKeys)
	if err != nil {
		return err
	}
	if used[parsed.String()] {
		return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), "", field.ErrorList{
			field.Invalid(path, ip, fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", ip))})
	}
	return nil
}

func (s *Server) freeNodePort(ctx context.Context, pending map[int32]bool) (int32, error) {
	used, err := s.taken(ctx, nodePortKeys)
	if err != nil {
		return 0, err
	}
	size := s.cfg.NodePortMax - s.cfg.NodePortMin + 1
	start := rand.IntN(size)
	for i := 0; i < size; i++ {
		p := int32(s.cfg.NodePortMin + (start+i)%size)
		if !used[strconv.Itoa(int(p))] && !pending[p] {
			return p, nil
		}
	}
	return 0, apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: range is full"))
}

func (s *Server) checkNodePort(ctx context.Context, i int, port int32) error {
	path := field.NewPath("spec", "ports").Index(i).Child("nodePort")
	gk := corev1.SchemeGroupVersion.WithKind("Service").GroupKind()
	if int(port) < s.cfg.NodePortMin || int(port) > s.cfg.NodePortMax {
		return apierrors.NewInvalid(gk, "", field.ErrorList{field.Invalid(path, port,
			fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", s.cfg.NodePortMin, s.cfg.NodePortMax))})
	}
	used, err := s.taken(ctx, nodePortKeys)
	if err != nil {
		return err
	}
	if used[strconv.Itoa(int(port))] {
		return apierrors.NewInvalid(gk, "", field.ErrorList{field.Invalid(path, port, "provided port is already allocated")})
	}
	return nil
}
