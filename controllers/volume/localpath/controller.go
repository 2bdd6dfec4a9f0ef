package localpath

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/volume"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Name is the provisioner's name in the manager (k3s's name for it, as
// in `--disable local-storage`).
const Name = "local-storage"

// Event reasons, as Kubernetes' external provisioners record them.
const (
	reasonProvisioning          = "Provisioning"
	reasonProvisioningSucceeded = "ProvisioningSucceeded"
	reasonProvisioningFailed    = "ProvisioningFailed"
)

// classRetry is how often the StorageClass is tried again when it could
// not be created at start.
const classRetry = 2 * time.Second

// Provisioner makes node-local hostPath volumes for claims of its class
// and deletes them when released. Build it with New.
type Provisioner struct {
	cfg      Config
	client   kubernetes.Interface
	recorder record.EventRecorder
	log      *slog.Logger
	claimsQ  controllers.Queue
	volumesQ controllers.Queue

	claims  corelisters.PersistentVolumeClaimLister
	volumes corelisters.PersistentVolumeLister
	classes storagelisters.StorageClassLister
	nodes   corelisters.NodeLister
	synced  []cache.InformerSynced
}

// New registers the provisioner's informer handlers; it does no IO.
func New(cctx *controllers.Context, cfg Config) *Provisioner {
	cfg.EnsureDefaults()
	f := cctx.Informers
	p := &Provisioner{
		cfg:      cfg,
		client:   cctx.Client,
		recorder: cctx.RecorderFor(cfg.Provisioner),
		log:      cctx.Logger.With("controller", Name),
		claimsQ:  controllers.NewQueue(Name + "-claims"),
		volumesQ: controllers.NewQueue(Name + "-volumes"),
	}
	claimInf, pvInf := f.Core().V1().PersistentVolumeClaims(), f.Core().V1().PersistentVolumes()
	scInf, nodeInf := f.Storage().V1().StorageClasses(), f.Core().V1().Nodes()
	p.claims, p.volumes, p.classes, p.nodes = claimInf.Lister(), pvInf.Lister(), scInf.Lister(), nodeInf.Lister()
	p.synced = []cache.InformerSynced{claimInf.Informer().HasSynced, pvInf.Informer().HasSynced,
		scInf.Informer().HasSynced, nodeInf.Informer().HasSynced}
	claimInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllers.Enqueue(p.claimsQ, obj) },
		UpdateFunc: func(_, obj any) { controllers.Enqueue(p.claimsQ, obj) },
	})
	pvInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllers.Enqueue(p.volumesQ, obj) },
		UpdateFunc: func(_, obj any) { controllers.Enqueue(p.volumesQ, obj) },
	})
	return p
}

// Run ensures the StorageClass, then provisions and deletes volumes until
// ctx ends.
func (p *Provisioner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(3)
	go func() { defer wg.Done(); p.ensureClass(ctx) }()
	go func() {
		defer wg.Done()
		errs[0] = controllers.RunWorkers(ctx, Name+"-claims", p.log, p.claimsQ, 1, p.syncClaim, p.synced...)
	}()
	go func() {
		defer wg.Done()
		errs[1] = controllers.RunWorkers(ctx, Name+"-volumes", p.log, p.volumesQ, 1, p.syncVolume, p.synced...)
	}()
	wg.Wait()
	return errors.Join(errs...)
}

// ensureClass creates the StorageClass if it does not exist (an existing
// one, perhaps changed by an administrator, is left alone).
func (p *Provisioner) ensureClass(ctx context.Context) {
	if p.cfg.NoDefaultClass {
		return
	}
	for {
		_, err := p.client.StorageV1().StorageClasses().Create(ctx, p.cfg.Class(), metav1.CreateOptions{FieldManager: Name})
		if err == nil {
			p.log.Info("created the default StorageClass", "class", p.cfg.ClassName, "provisioner", p.cfg.Provisioner)
			return
		}
		if apierrors.IsAlreadyExists(err) {
			return
		}
		p.log.Warn("cannot create the StorageClass; retrying", "class", p.cfg.ClassName, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(classRetry):
		}
	}
}

func (p *Provisioner) syncClaim(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	claim, err := p.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	className, _ := volume.ClaimClass(claim)
	class, err := p.classes.Get(className)
	if apierrors.IsNotFound(err) || className == "" {
		return nil
	}
	if err != nil {
		return err
	}
	node, want, why := Wanted(&p.cfg, claim, class)
	if why != "" {
		p.recorder.Eventf(claim, corev1.EventTypeWarning, reasonProvisioningFailed, "failed to provision volume with StorageClass %q: %s", class.Name, why)
		return nil
	}
	if !want {
		return nil
	}
	if pv, err := p.volumes.Get(VolumeName(claim)); err == nil && pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.UID == claim.UID {
		return nil // made already; the binder binds it
	}
	hostname := node
	if n, err := p.nodes.Get(node); err == nil && n.Labels[volume.LabelHostname] != "" {
		hostname = n.Labels[volume.LabelHostname]
	}
	p.recorder.Eventf(claim, corev1.EventTypeNormal, reasonProvisioning, "External provisioner is provisioning volume for claim %q", key)
	pv := Volume(&p.cfg, claim, class, hostname)
	_, err = p.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{FieldManager: Name})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		p.recorder.Eventf(claim, corev1.EventTypeWarning, reasonProvisioningFailed, "failed to provision volume with StorageClass %q: %v", class.Name, err)
		return fmt.Errorf("localpath: create volume for %s: %w", key, err)
	}
	p.recorder.Eventf(claim, corev1.EventTypeNormal, reasonProvisioningSucceeded, "Successfully provisioned volume %s", pv.Name)
	p.log.Info("provisioned", "claim", key, "volume", pv.Name, "node", node, "path", pv.Spec.HostPath.Path)
	return nil
}

// syncVolume deletes a released volume of ours whose policy is Delete.
// Its directory stays on the node until the node agent, which owns the
// node's disk, removes directories under the base directory that no
// volume names.
func (p *Provisioner) syncVolume(ctx context.Context, key string) error {
	pv, err := p.volumes.Get(key)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !Deletable(&p.cfg, pv) {
		return nil
	}
	uid, rv := pv.UID, pv.ResourceVersion
	err = p.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}})
	if err != nil && !apierrors.IsNotFound(err) {
		p.recorder.Eventf(pv, corev1.EventTypeWarning, "VolumeFailedDelete", "failed to delete volume %s: %v", pv.Name, err)
		return fmt.Errorf("localpath: delete volume %s: %w", pv.Name, err)
	}
	p.log.Info("deleted a released volume", "volume", pv.Name)
	return nil
}
