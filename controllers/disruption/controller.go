package disruption

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Name is the controller's name in the manager (kube-controller-manager's).
const Name = "disruption"

// Event reasons, as Kubernetes' disruption controller records them.
const (
	reasonNoPods          = "NoPods"
	reasonUnmanagedPods   = "UnmanagedPods"
	reasonCalculateFailed = "CalculateExpectedPodCountFailed"
)

// Controller keeps every PodDisruptionBudget's status. Build it with New.
type Controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	log      *slog.Logger
	now      func() time.Time
	queue    controllers.Queue

	pdbs   policylisters.PodDisruptionBudgetLister
	pods   corelisters.PodLister
	rss    appslisters.ReplicaSetLister
	deps   appslisters.DeploymentLister
	stss   appslisters.StatefulSetLister
	synced []cache.InformerSynced
}

// New registers the controller's informer handlers; it does no IO.
func New(cctx *controllers.Context) *Controller {
	f := cctx.Informers
	c := &Controller{
		client:   cctx.Client,
		recorder: cctx.RecorderFor("controllermanager"),
		log:      cctx.Logger.With("controller", Name),
		now:      cctx.Now,
		queue:    controllers.NewQueue(Name),
	}
	pdbInf := f.Policy().V1().PodDisruptionBudgets()
	podInf := f.Core().V1().Pods()
	rsInf, depInf, stsInf := f.Apps().V1().ReplicaSets(), f.Apps().V1().Deployments(), f.Apps().V1().StatefulSets()
	c.pdbs, c.pods, c.rss, c.deps, c.stss = pdbInf.Lister(), podInf.Lister(), rsInf.Lister(), depInf.Lister(), stsInf.Lister()
	c.synced = []cache.InformerSynced{pdbInf.Informer().HasSynced, podInf.Informer().HasSynced, rsInf.Informer().HasSynced,
		depInf.Informer().HasSynced, stsInf.Informer().HasSynced}

	enqueue := func(obj any) { controllers.Enqueue(c.queue, obj) }
	pdbInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) }, DeleteFunc: enqueue})
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podChanged,
		UpdateFunc: func(old, obj any) { c.podChanged(old); c.podChanged(obj) },
		DeleteFunc: c.podChanged,
	})
	// A workload's size is a percentage budget's expected count.
	scaled := cache.ResourceEventHandlerFuncs{AddFunc: c.namespaceChanged,
		UpdateFunc: func(_, obj any) { c.namespaceChanged(obj) }, DeleteFunc: c.namespaceChanged}
	for _, inf := range []cache.SharedIndexInformer{rsInf.Informer(), depInf.Informer(), stsInf.Informer()} {
		inf.AddEventHandler(scaled)
	}
	return c
}

// Run syncs budgets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return controllers.RunWorkers(ctx, Name, c.log, c.queue, 2, c.sync, c.synced...)
}

func objectOf(obj any) metav1.Object {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, _ := obj.(metav1.Object)
	return m
}

// podChanged enqueues the budgets selecting the pod.
func (c *Controller) podChanged(obj any) {
	pod, ok := objectOf(obj).(*corev1.Pod)
	if !ok {
		return
	}
	pdbs, err := c.pdbs.PodDisruptionBudgets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range pdbs {
		if selects(pdb, pod) {
			controllers.Enqueue(c.queue, pdb)
		}
	}
}

// namespaceChanged enqueues every budget of obj's namespace.
func (c *Controller) namespaceChanged(obj any) {
	m := objectOf(obj)
	if m == nil {
		return
	}
	pdbs, err := c.pdbs.PodDisruptionBudgets(m.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range pdbs {
		controllers.Enqueue(c.queue, pdb)
	}
}

// selects: a null selector selects no pods, an empty one all of the
// namespace.
func selects(pdb *policyv1.PodDisruptionBudget, pod *corev1.Pod) bool {
	if pdb.Spec.Selector == nil || pdb.Namespace != pod.Namespace {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	return err == nil && sel.Matches(labels.Set(pod.Labels))
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pdb, err := c.pdbs.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	all, err := c.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	var pods []*corev1.Pod
	for _, p := range all {
		if selects(pdb, p) {
			pods = append(pods, p)
		}
	}
	if len(pods) == 0 {
		c.recorder.Event(pdb, corev1.EventTypeNormal, reasonNoPods, "No matching pods found")
	}
	now := c.now()
	e, err := Expect(pdb, pods, func(ns string, ref *metav1.OwnerReference) (Scale, error) { return c.scale(ctx, ns, ref) })
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, reasonCalculateFailed, "Failed to calculate the number of expected pods: %v", err)
		if werr := c.writeStatus(ctx, pdb, FailSafe(pdb, err, now)); werr != nil {
			return werr
		}
		return err
	}
	if len(e.Unmanaged) > 0 {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, reasonUnmanagedPods,
			"Pods selected by this PodDisruptionBudget (selector: %v) were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value.",
			metav1.FormatLabelSelector(pdb.Spec.Selector))
	}
	st, recheck := Status(pdb, pods, e, now)
	if recheck > 0 {
		c.queue.AddAfter(key, recheck)
	}
	return c.writeStatus(ctx, pdb, st)
}

func (c *Controller) writeStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget, st policyv1.PodDisruptionBudgetStatus) error {
	if equality.Semantic.DeepEqual(pdb.Status, st) {
		return nil
	}
	next := pdb.DeepCopy()
	next.Status = st
	if _, err := c.client.PolicyV1().PodDisruptionBudgets(pdb.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("disruption: update status of %s/%s: %w", pdb.Namespace, pdb.Name, err)
	}
	return nil
}

// scale finds the size of a pod's controller: from the informers for
// ReplicaSets (their Deployment's, if they have one), Deployments and
// StatefulSets; through the scale subresource for any other kind
// (ReplicationControllers are not served by Kelson's API).
func (c *Controller) scale(ctx context.Context, ns string, ref *metav1.OwnerReference) (Scale, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return Scale{}, err
	}
	missing := fmt.Errorf("%s %s/%s not found", ref.Kind, ns, ref.Name)
	replicas := func(r *int32) int32 {
		if r == nil {
			return 1
		}
		return *r
	}
	switch {
	case gv.Group == appsv1.GroupName && ref.Kind == "ReplicaSet":
		rs, err := c.rss.ReplicaSets(ns).Get(ref.Name)
		if err != nil || rs.UID != ref.UID {
			return Scale{}, missing
		}
		if owner := metav1.GetControllerOf(rs); owner != nil && owner.Kind == "Deployment" {
			if d, err := c.deps.Deployments(ns).Get(owner.Name); err == nil && d.UID == owner.UID {
				return Scale{UID: d.UID, Replicas: replicas(d.Spec.Replicas)}, nil
			}
		}
		return Scale{UID: rs.UID, Replicas: replicas(rs.Spec.Replicas)}, nil
	case gv.Group == appsv1.GroupName && ref.Kind == "Deployment":
		d, err := c.deps.Deployments(ns).Get(ref.Name)
		if err != nil || d.UID != ref.UID {
			return Scale{}, missing
		}
		return Scale{UID: d.UID, Replicas: replicas(d.Spec.Replicas)}, nil
	case gv.Group == appsv1.GroupName && ref.Kind == "StatefulSet":
		s, err := c.stss.StatefulSets(ns).Get(ref.Name)
		if err != nil || s.UID != ref.UID {
			return Scale{}, missing
		}
		return Scale{UID: s.UID, Replicas: replicas(s.Spec.Replicas)}, nil
	}
	return c.scaleSubresource(ctx, gv, ns, ref)
}

// errNoScale: the controller's kind has no scale subresource.
var errNoScale = errors.New("has no scale subresource")

// scaleSubresource reads GET <resource>/<name>/scale of a kind found
// through discovery.
func (c *Controller) scaleSubresource(ctx context.Context, gv schema.GroupVersion, ns string, ref *metav1.OwnerReference) (Scale, error) {
	list, err := c.client.Discovery().ServerResourcesForGroupVersion(ref.APIVersion)
	if err != nil {
		return Scale{}, fmt.Errorf("discover %s: %w", ref.APIVersion, err)
	}
	resource, hasScale := "", map[string]bool{}
	for _, r := range list.APIResources {
		if base, sub, ok := strings.Cut(r.Name, "/"); ok {
			hasScale[base] = hasScale[base] || sub == "scale"
		} else if r.Kind == ref.Kind {
			resource = r.Name
		}
	}
	if resource == "" || !hasScale[resource] {
		return Scale{}, fmt.Errorf("%s %s: %w", ref.Kind, ref.APIVersion, errNoScale)
	}
	path := "/apis/" + gv.Group + "/" + gv.Version
	if gv.Group == "" {
		path = "/api/" + gv.Version
	}
	path += "/namespaces/" + ns + "/" + resource + "/" + ref.Name + "/scale"
	raw, err := c.client.Discovery().RESTClient().Get().AbsPath(path).DoRaw(ctx)
	if err != nil {
		return Scale{}, fmt.Errorf("get %s: %w", path, err)
	}
	var s autoscalingv1.Scale
	if err := json.Unmarshal(raw, &s); err != nil {
		return Scale{}, fmt.Errorf("decode %s: %w", path, err)
	}
	if s.UID != "" && s.UID != ref.UID {
		return Scale{}, fmt.Errorf("%s %s/%s has another UID", ref.Kind, ns, ref.Name)
	}
	return Scale{UID: ref.UID, Replicas: s.Spec.Replicas}, nil
}
