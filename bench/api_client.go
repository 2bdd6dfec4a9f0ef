package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Labels and annotations every pod of the API workloads carries.
const (
	apiBenchLabel = "kelson.dev/bench"      // = "api": what cleanup deletes
	apiAppLabel   = "app"                   // app-0..app-9: what mix lists select
	apiSeqAnno    = "kelson.dev/bench-seq"  // the write's sequence number
	apiRunAnno    = "kelson.dev/bench-note" // changed by updates
	apiAppCount   = 10
)

// apiClients is one run's connections to the API server: one clientset
// per connection, each with its own transport.
type apiClients struct {
	sets []*kubernetes.Clientset
	host string
}

func (a *apiClients) client(i int) *kubernetes.Clientset { return a.sets[i%len(a.sets)] }

// restConfig loads c.Kubeconfig with c's content type and no client-side
// rate limit.
func restConfig(c APICommon) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("%w: kubeconfig %s: %v", ErrBadConfig, c.Kubeconfig, err)
	}
	cfg.QPS = -1 // no client-side rate limiter: the tool paces with --rate
	cfg.UserAgent = "kelson-bench"
	if c.ContentType == contentProtobuf {
		cfg.ContentType = "application/vnd.kubernetes.protobuf"
		cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	} else {
		cfg.ContentType = "application/json"
		cfg.AcceptContentTypes = "application/json"
	}
	return cfg, nil
}

// dialAPI opens n connections and checks that the server answers.
func dialAPI(ctx context.Context, c APICommon, n int) (*apiClients, error) {
	cfg, err := restConfig(c)
	if err != nil {
		return nil, err
	}
	a := &apiClients{host: cfg.Host}
	for i := 0; i < n; i++ {
		cp := rest.CopyConfig(cfg)
		// A dial function of its own makes client-go build a transport
		// (and so a TCP connection) per clientset instead of sharing one.
		d := &net.Dialer{Timeout: c.DialTimeout, KeepAlive: 30 * time.Second}
		cp.Dial = d.DialContext
		cs, err := kubernetes.NewForConfig(cp)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadConfig, err)
		}
		a.sets = append(a.sets, cs)
	}
	vctx, cancel := context.WithTimeout(ctx, c.DialTimeout)
	defer cancel()
	if _, err := a.sets[0].CoreV1().RESTClient().Get().AbsPath("/version").DoRaw(vctx); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %s did not answer GET /version within %v (is the API server running? check --kubeconfig): %v",
			ErrUnreachable, cfg.Host, c.DialTimeout, err)
	}
	return a, nil
}

// ensureNamespace creates the namespace and its "default" service account
// if missing. kube-apiserver's ServiceAccount admission refuses pods in a
// namespace without one, and no controller makes it here; a server that
// does not serve service accounts is fine. A namespace still being deleted
// (by an earlier run) is waited for, at most a minute.
func ensureNamespace(ctx context.Context, cs *kubernetes.Clientset, ns string) error {
	for deadline := time.Now().Add(time.Minute); ; {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("bench: create namespace %s: %w", ns, err)
		}
		n, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue // deleted between the create and the get
		}
		if err != nil {
			return fmt.Errorf("bench: get namespace %s: %w", ns, err)
		}
		if n.DeletionTimestamp == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: namespace %s is still being deleted after a minute: wait, or give another --namespace", ns)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) {
		return fmt.Errorf("bench: create service account %s/default: %w", ns, err)
	}
	return nil
}

// cleanup deletes the pods the workloads made, the service account and the
// namespace, unless keep. Without a namespace controller (kube-apiserver
// alone) a deleted namespace would stay Terminating, so once its content
// is gone the run finalizes it itself, as that controller would. It uses a
// fresh context: it also runs after an interrupt.
func cleanup(c APICommon, cs *kubernetes.Clientset) error {
	if c.Keep {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	zero := int64(0)
	err := cs.CoreV1().Pods(c.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero},
		metav1.ListOptions{LabelSelector: apiBenchLabel + "=api"})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("bench: delete the pods of namespace %s: %w", c.Namespace, err)
	}
	_ = cs.CoreV1().ServiceAccounts(c.Namespace).Delete(ctx, "default", metav1.DeleteOptions{}) // best effort
	err = cs.CoreV1().Namespaces().Delete(ctx, c.Namespace, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("bench: delete namespace %s: %w", c.Namespace, err)
	}
	if n, err := cs.CoreV1().Namespaces().Get(ctx, c.Namespace, metav1.GetOptions{}); err == nil && len(n.Spec.Finalizers) > 0 {
		n.Spec.Finalizers = nil
		// Best effort: the server's own controller may finalize it first.
		_, _ = cs.CoreV1().Namespaces().Finalize(ctx, n, metav1.UpdateOptions{})
	}
	return nil
}

// benchPod is pod name of app app, carrying sequence number seq: about
// 1.5 KB in JSON, like a Deployment's pod before scheduling.
func benchPod(name string, app int, seq int64) *corev1.Pod {
	appName := "app-" + strconv.Itoa(app%apiAppCount)
	no := false
	grace := int64(30)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				apiBenchLabel: "api", apiAppLabel: appName, "tier": "backend",
				"pod-template-hash": "5d8f7c9b6d", "app.kubernetes.io/part-of": "kelson-bench",
			},
			Annotations: map[string]string{
				apiSeqAnno:             strconv.FormatInt(seq, 10),
				apiRunAnno:             "created",
				"prometheus.io/scrape": "true", "prometheus.io/port": "9090",
			},
		},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken:  &no,
			TerminationGracePeriodSeconds: &grace,
			RestartPolicy:                 corev1.RestartPolicyAlways,
			Containers: []corev1.Container{{
				Name:    "server",
				Image:   "registry.example.com/platform/" + appName + ":v1.27.3",
				Command: []string{"/usr/local/bin/server"},
				Args:    []string{"--listen=:8080", "--metrics=:9090", "--log-level=info", "--config=/etc/app/config.yaml"},
				Ports: []corev1.ContainerPort{
					{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
					{Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP},
				},
				Env: []corev1.EnvVar{
					{Name: "APP_NAME", Value: appName},
					{Name: "APP_ENV", Value: "production"},
					{Name: "LOG_FORMAT", Value: "json"},
					{Name: "DATABASE_URL", Value: "postgres://app@db.internal:5432/" + appName},
					{Name: "CACHE_TTL_SECONDS", Value: "300"},
					{Name: "FEATURE_FLAGS", Value: "new-ui,fast-path,batch-writes"},
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
					PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3,
				},
				ImagePullPolicy: corev1.PullIfNotPresent,
			}},
		},
	}
}

// preloadName is the name of preloaded pod i.
func preloadName(i int) string { return "pod-" + strconv.Itoa(i) }

// preload creates pods pod-0..pod-(n-1) (those that exist already are
// kept) with c.PreloadClients goroutines; not measured. It fails on the
// first error other than AlreadyExists.
func preload(ctx context.Context, c APICommon, a *apiClients, n int) (time.Duration, error) {
	start := time.Now()
	// Pods kept by an earlier run (--keep) are not made again.
	have := map[string]bool{}
	l, err := a.client(0).CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: apiBenchLabel + "=api"})
	if err != nil {
		return 0, fmt.Errorf("bench: list the pods of %s before preloading: %w", c.Namespace, err)
	}
	for i := range l.Items {
		have[l.Items[i].Name] = true
	}
	var next, done atomic.Int64
	stop := track(c.Progress, "preloading pods", int64(n), &done)
	defer stop()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for j := 0; j < c.PreloadClients; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pods := a.client(j).CoreV1().Pods(c.Namespace)
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if have[preloadName(i)] {
					done.Add(1)
					continue
				}
				_, err := pods.Create(ctx, benchPod(preloadName(i), i, -1), metav1.CreateOptions{})
				if err != nil && !apierrors.IsAlreadyExists(err) {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("bench: preload pod %s: %w", preloadName(i), err)
					}
					mu.Unlock()
					next.Store(int64(n)) // stop the others
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return time.Since(start), first
}

// ignorable reports whether err is an outcome of a race between the mix's
// clients rather than a failure: a 409 Conflict or a 404 Not Found.
func ignorable(err error) (conflict, notFound bool) {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return false, false
	}
	return apierrors.IsConflict(err), apierrors.IsNotFound(err)
}
