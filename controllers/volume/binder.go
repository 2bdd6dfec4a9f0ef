package volume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// BinderName is the binder's name in the manager (kube-controller-manager's).
const BinderName = "persistentvolume-binder"

// Index names the binder adds to the shared informers.
const (
	// podsByClaim indexes pods by "namespace/claim" of the claims they use.
	podsByClaim = "kelson.dev/pods-by-claim"
	// volumesByClaim indexes volumes by "namespace/claim" of their claimRef.
	volumesByClaim = "kelson.dev/volumes-by-claim"
)

// Binder binds PersistentVolumeClaims to PersistentVolumes, asks
// provisioners for volumes, and releases and reclaims volumes whose claim
// is gone. Build it with NewBinder.
type Binder struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	log      *slog.Logger
	now      func() time.Time
	claimsQ  controllers.Queue
	volumesQ controllers.Queue

	claims  corelisters.PersistentVolumeClaimLister
	volumes corelisters.PersistentVolumeLister
	classes storagelisters.StorageClassLister
	nodes   corelisters.NodeLister
	pods    cache.Indexer
	pvIndex cache.Indexer
	synced  []cache.InformerSynced
}

// NewBinder registers the binder's informer handlers and indexes; it does
// no IO.
func NewBinder(cctx *controllers.Context) *Binder {
	f := cctx.Informers
	b := &Binder{
		client:   cctx.Client,
		recorder: cctx.RecorderFor("persistentvolume-controller"),
		log:      cctx.Logger.With("controller", BinderName),
		now:      cctx.Now,
		claimsQ:  controllers.NewQueue(BinderName + "-claims"),
		volumesQ: controllers.NewQueue(BinderName + "-volumes"),
	}
	claimInf, pvInf := f.Core().V1().PersistentVolumeClaims(), f.Core().V1().PersistentVolumes()
	scInf, nodeInf, podInf := f.Storage().V1().StorageClasses(), f.Core().V1().Nodes(), f.Core().V1().Pods()
	b.claims, b.volumes, b.classes, b.nodes = claimInf.Lister(), pvInf.Lister(), scInf.Lister(), nodeInf.Lister()
	b.pods, b.pvIndex = podInf.Informer().GetIndexer(), pvInf.Informer().GetIndexer()
	b.synced = []cache.InformerSynced{claimInf.Informer().HasSynced, pvInf.Informer().HasSynced,
		scInf.Informer().HasSynced, nodeInf.Informer().HasSynced, podInf.Informer().HasSynced}

	// AddIndexers fails only once the informer has started, which the
	// manager does after every constructor; without the indexes, consumers'
	// nodes and released volumes are found later (resync, volume events).
	if err := podInf.Informer().AddIndexers(cache.Indexers{podsByClaim: claimsOfPod}); err != nil {
		b.log.Error("cannot index pods by claim", "err", err)
	}
	if err := pvInf.Informer().AddIndexers(cache.Indexers{volumesByClaim: claimOfVolume}); err != nil {
		b.log.Error("cannot index volumes by claim", "err", err)
	}

	claimInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllers.Enqueue(b.claimsQ, obj) },
		UpdateFunc: func(_, obj any) { controllers.Enqueue(b.claimsQ, obj) },
		DeleteFunc: b.claimDeleted,
	})
	pvInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    b.volumeChanged,
		UpdateFunc: func(_, obj any) { b.volumeChanged(obj) },
		DeleteFunc: b.volumeChanged,
	})
	scInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { b.enqueueUnbound() },
		UpdateFunc: func(_, _ any) { b.enqueueUnbound() },
	})
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    b.podChanged,
		UpdateFunc: func(_, obj any) { b.podChanged(obj) },
	})
	return b
}

// Run binds until ctx ends.
func (b *Binder) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		errs[0] = controllers.RunWorkers(ctx, BinderName+"-claims", b.log, b.claimsQ, 2, b.syncClaim, b.synced...)
	}()
	go func() {
		defer wg.Done()
		errs[1] = controllers.RunWorkers(ctx, BinderName+"-volumes", b.log, b.volumesQ, 2, b.syncVolume, b.synced...)
	}()
	wg.Wait()
	return errors.Join(errs...)
}

func claimsOfPod(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	var keys []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			keys = append(keys, pod.Namespace+"/"+v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			keys = append(keys, pod.Namespace+"/"+pod.Name+"-"+v.Name)
		}
	}
	return keys, nil
}

func claimOfVolume(obj any) ([]string, error) {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok || pv.Spec.ClaimRef == nil {
		return nil, nil
	}
	return []string{pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name}, nil
}

func (b *Binder) claimDeleted(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	pvs, _ := b.pvIndex.ByIndex(volumesByClaim, key)
	for _, pv := range pvs {
		controllers.Enqueue(b.volumesQ, pv)
	}
}

// volumeChanged enqueues the volume and the claim it names; a volume
// without a claim may be what unbound claims wait for.
func (b *Binder) volumeChanged(obj any) {
	controllers.Enqueue(b.volumesQ, obj)
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pv, ok := obj.(*corev1.PersistentVolume)
	switch {
	case !ok:
	case pv.Spec.ClaimRef != nil:
		b.claimsQ.Add(pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name)
	case pv.DeletionTimestamp == nil:
		b.enqueueUnbound()
	}
}

// enqueueUnbound enqueues every claim not bound yet (a class appeared or
// changed: the default, or one a claim was waiting for).
func (b *Binder) enqueueUnbound() {
	claims, err := b.claims.List(labels.Everything())
	if err != nil {
		return
	}
	for _, c := range claims {
		if c.Spec.VolumeName == "" {
			controllers.Enqueue(b.claimsQ, c)
		}
	}
}

// podChanged enqueues the claims of a pod bound to a node: a
// WaitForFirstConsumer claim may now be provisioned there.
func (b *Binder) podChanged(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return
	}
	keys, _ := claimsOfPod(pod)
	for _, k := range keys {
		b.claimsQ.Add(k)
	}
}

// consumerNode is the node of the oldest pod using the claim that is
// bound to one and has not finished.
func (b *Binder) consumerNode(key string) string {
	objs, err := b.pods.ByIndex(podsByClaim, key)
	if err != nil {
		return ""
	}
	var pods []*corev1.Pod
	for _, o := range objs {
		p := o.(*corev1.Pod)
		if p.Spec.NodeName != "" && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			pods = append(pods, p)
		}
	}
	if len(pods) == 0 {
		return ""
	}
	sort.Slice(pods, func(i, j int) bool {
		if !pods[i].CreationTimestamp.Equal(&pods[j].CreationTimestamp) {
			return pods[i].CreationTimestamp.Before(&pods[j].CreationTimestamp)
		}
		return pods[i].Name < pods[j].Name
	})
	return pods[0].Spec.NodeName
}

func (b *Binder) syncClaim(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	claim, err := b.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	s := Claim{Claim: claim, ConsumerNode: b.consumerNode(key)}
	if s.Volumes, err = b.volumes.List(labels.Everything()); err != nil {
		return err
	}
	classes, err := b.classes.List(labels.Everything())
	if err != nil {
		return err
	}
	s.DefaultClass = DefaultClass(classes)
	if class, _ := ClaimClass(claim); class != "" {
		for _, sc := range classes {
			if sc.Name == class {
				s.Class = sc
			}
		}
	}
	if n := claim.Annotations[AnnSelectedNode]; n != "" {
		s.Node, _ = b.nodes.Get(n)
	}
	plan := PlanClaim(s)
	if e := plan.Event; e != nil {
		b.recorder.Event(claim, e.Type, e.Reason, e.Message)
	}
	pvcs := b.client.CoreV1().PersistentVolumeClaims(ns)
	update := func(mutate func(c *corev1.PersistentVolumeClaim)) error {
		c := claim.DeepCopy()
		mutate(c)
		if _, err := pvcs.Update(ctx, c, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("volume: update claim %s: %w", key, err)
		}
		return nil
	}
	switch plan.Action {
	case ClaimSetClass:
		return update(func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = &plan.Class })
	case ClaimSelectNode:
		return update(func(c *corev1.PersistentVolumeClaim) {
			metav1.SetMetaDataAnnotation(&c.ObjectMeta, AnnSelectedNode, plan.Node)
		})
	case ClaimProvision:
		return update(func(c *corev1.PersistentVolumeClaim) {
			metav1.SetMetaDataAnnotation(&c.ObjectMeta, AnnStorageProvisioner, plan.Provisioner)
			metav1.SetMetaDataAnnotation(&c.ObjectMeta, AnnBetaStorageProvisioner, plan.Provisioner)
		})
	case ClaimLose:
		c := claim.DeepCopy()
		c.Status.Phase = corev1.ClaimLost
		if _, err := pvcs.UpdateStatus(ctx, c, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("volume: mark claim %s lost: %w", key, err)
		}
	case ClaimBind:
		return b.bind(ctx, claim, plan.Volume)
	}
	return nil
}

// bind writes the missing steps of binding claim and pv, in Kubernetes'
// order: the volume's claimRef, its phase, the claim's volumeName and
// annotations, its phase. Each write is conditioned on the object's
// resourceVersion, so a decision made from a stale cache fails with a
// conflict and is made again.
func (b *Binder) bind(ctx context.Context, claim *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) error {
	pvs := b.client.CoreV1().PersistentVolumes()
	if r := pv.Spec.ClaimRef; r == nil || r.UID != claim.UID {
		next := pv.DeepCopy()
		if r == nil {
			metav1.SetMetaDataAnnotation(&next.ObjectMeta, AnnBoundByController, "yes")
		}
		next.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
			Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID, ResourceVersion: claim.ResourceVersion}
		written, err := pvs.Update(ctx, next, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("volume: bind volume %s to claim %s/%s: %w", pv.Name, claim.Namespace, claim.Name, err)
		}
		pv = written
	}
	if pv.Status.Phase != corev1.VolumeBound {
		written, err := b.setPhase(ctx, pv, corev1.VolumeBound)
		if err != nil {
			return err
		}
		pv = written
	}
	pvcs := b.client.CoreV1().PersistentVolumeClaims(claim.Namespace)
	if claim.Spec.VolumeName != pv.Name || claim.Annotations[AnnBindCompleted] != "yes" {
		next := claim.DeepCopy()
		if next.Spec.VolumeName == "" {
			metav1.SetMetaDataAnnotation(&next.ObjectMeta, AnnBoundByController, "yes")
		}
		next.Spec.VolumeName = pv.Name
		metav1.SetMetaDataAnnotation(&next.ObjectMeta, AnnBindCompleted, "yes")
		written, err := pvcs.Update(ctx, next, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("volume: bind claim %s/%s to volume %s: %w", claim.Namespace, claim.Name, pv.Name, err)
		}
		claim = written
	}
	if claim.Status.Phase != corev1.ClaimBound || !claimStatusMatches(claim, pv) {
		next := claim.DeepCopy()
		next.Status.Phase = corev1.ClaimBound
		next.Status.AccessModes = pv.Spec.AccessModes
		next.Status.Capacity = pv.Spec.Capacity.DeepCopy()
		if _, err := pvcs.UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("volume: mark claim %s/%s bound: %w", claim.Namespace, claim.Name, err)
		}
	}
	b.log.Debug("bound", "claim", claim.Namespace+"/"+claim.Name, "volume", pv.Name)
	return nil
}

func claimStatusMatches(c *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) bool {
	want, has := pv.Spec.Capacity[corev1.ResourceStorage], c.Status.Capacity[corev1.ResourceStorage]
	return want.Cmp(has) == 0 && len(c.Status.AccessModes) == len(pv.Spec.AccessModes)
}

func (b *Binder) setPhase(ctx context.Context, pv *corev1.PersistentVolume, phase corev1.PersistentVolumePhase) (*corev1.PersistentVolume, error) {
	next := pv.DeepCopy()
	next.Status.Phase = phase
	now := metav1.NewTime(b.now())
	next.Status.LastPhaseTransitionTime = &now
	written, err := b.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("volume: set phase of volume %s to %s: %w", pv.Name, phase, err)
	}
	return written, nil
}

func (b *Binder) syncVolume(ctx context.Context, key string) error {
	pv, err := b.volumes.Get(key)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	s := Volume{Volume: pv}
	if r := pv.Spec.ClaimRef; r != nil {
		c, err := b.claims.PersistentVolumeClaims(r.Namespace).Get(r.Name)
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if err == nil {
			s.Claim = c
		}
	}
	plan := PlanVolume(s)
	if e := plan.Event; e != nil {
		b.recorder.Event(pv, e.Type, e.Reason, e.Message)
	}
	if plan.SyncClaim {
		b.claimsQ.Add(pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name)
	}
	switch plan.Action {
	case VolumeSetPhase:
		_, err := b.setPhase(ctx, pv, plan.Phase)
		return err
	case VolumeUnbind:
		next := pv.DeepCopy()
		next.Spec.ClaimRef = nil
		delete(next.Annotations, AnnBoundByController)
		if _, err := b.client.CoreV1().PersistentVolumes().Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("volume: unbind volume %s: %w", pv.Name, err)
		}
	case VolumeDelete:
		uid, rv := pv.UID, pv.ResourceVersion
		err := b.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("volume: delete released volume %s: %w", pv.Name, err)
		}
		b.log.Info("deleted a released volume (reclaim policy Delete)", "volume", pv.Name)
	}
	return nil
}
