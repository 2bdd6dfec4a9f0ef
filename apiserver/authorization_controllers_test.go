package apiserver

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/apiserver/authz/rbac"
	"github.com/kelson-dev/kelson/controllers/manager"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestControllerRoles runs the controller manager as
// system:kube-controller-manager and the scheduler as
// system:kube-scheduler against a server with Node,RBAC, drives a
// workload through most controllers, and fails on any 403 either got: a
// controller that gains an informer or a write its default role lacks
// fails here. (A controller not exercised below is not checked: see the
// list in the workload.)
func TestControllerRoles(t *testing.T) {
	rs := newRBACServer(t, startMember(t), map[string]*authn.User{
		"cm":        {Name: rbac.ControllerManagerUser},
		"scheduler": {Name: rbac.SchedulerUser},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	t.Cleanup(func() { cancel(); <-done; <-done })
	run := func(token string, disabled ...string) {
		go func() {
			defer func() { done <- struct{}{} }()
			err := manager.Run(ctx, manager.Config{Client: rs.client(token), Disabled: disabled, Logger: testLogger(),
				LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond})
			if err != nil && ctx.Err() == nil {
				t.Errorf("manager as %s: %v", token, err)
			}
		}()
	}
	run("cm", "scheduler")
	run("scheduler", "controller-manager")

	a := rs.admin
	bg := context.Background()
	ns := "work"
	mustCreate(t, a.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	// A schedulable node (nodeipam gives it a pod CIDR).
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	mustCreate(t, a.CoreV1().Nodes().Create, n)
	eventually(t, 20*time.Second, func() error {
		cur, err := a.CoreV1().Nodes().Get(bg, "n1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse("8"), corev1.ResourceMemory: apiresource.MustParse("16Gi"), corev1.ResourcePods: apiresource.MustParse("110")}
		cur.Status.Allocatable = cur.Status.Capacity
		cur.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		_, err = a.CoreV1().Nodes().UpdateStatus(bg, cur, metav1.UpdateOptions{})
		return err
	})

	labels := map[string]string{"app": "web"}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse("10m")}}}}}}
	two := int32(2)
	// deployment -> replicaset -> pods -> scheduler; disruption; HPA.
	mustCreate(t, a.AppsV1().Deployments(ns).Create, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: &two, Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}})
	// endpoints and endpointslice controllers.
	mustCreate(t, a.CoreV1().Services(ns).Create, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(80)}}}})
	minAvail := intstr.FromInt32(1)
	mustCreate(t, a.PolicyV1().PodDisruptionBudgets(ns).Create, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvail, Selector: &metav1.LabelSelector{MatchLabels: labels}}})
	fifty := int32(50)
	mustCreate(t, a.AutoscalingV2().HorizontalPodAutoscalers(ns).Create, &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: &two, MaxReplicas: 4,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &fifty}}}}}})
	// resourcequota controller.
	mustCreate(t, a.CoreV1().ResourceQuotas(ns).Create, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: apiresource.MustParse("50")}}})
	// job (and its pods), cronjob.
	jobTmpl := *tmpl.DeepCopy()
	jobTmpl.Labels = map[string]string{"app": "job"}
	jobTmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	mustCreate(t, a.BatchV1().Jobs(ns).Create, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "once"}, Spec: batchv1.JobSpec{Template: jobTmpl}})
	mustCreate(t, a.BatchV1().CronJobs(ns).Create, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "every-minute"},
		Spec: batchv1.CronJobSpec{Schedule: "* * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: jobTmpl}}}})
	// daemonset (controller revisions, pods per node).
	dsTmpl := *tmpl.DeepCopy()
	dsTmpl.Labels = map[string]string{"app": "ds"}
	mustCreate(t, a.AppsV1().DaemonSets(ns).Create, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: dsTmpl.Labels}, Template: dsTmpl}})
	// statefulset with a claim template (claims; the volume binder and
	// the local-path provisioner).
	stsTmpl := *tmpl.DeepCopy()
	stsTmpl.Labels = map[string]string{"app": "db"}
	one := int32(1)
	mustCreate(t, a.AppsV1().StatefulSets(ns).Create, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: &one, ServiceName: "web", Selector: &metav1.LabelSelector{MatchLabels: stsTmpl.Labels}, Template: stsTmpl,
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse("1Gi")}}}}}}})

	// Progress: the workload's pods are made and bound, the namespace got
	// its default service account, the node its pod CIDR.
	failOn403 := func() {
		if f := append(rs.forbiddenFor("cm"), rs.forbiddenFor("scheduler")...); len(f) > 0 {
			t.Fatalf("the default roles refused the controllers:\n%s", strings.Join(f, "\n"))
		}
	}
	eventually(t, 60*time.Second, func() error {
		failOn403()
		pods, err := a.CoreV1().Pods(ns).List(bg, metav1.ListOptions{})
		if err != nil {
			return err
		}
		bound := 0
		for _, p := range pods.Items {
			if p.Spec.NodeName != "" {
				bound++
			}
		}
		if bound < 4 {
			return fmt.Errorf("%d of %d pods bound", bound, len(pods.Items))
		}
		if _, err := a.CoreV1().ServiceAccounts(ns).Get(bg, "default", metav1.GetOptions{}); err != nil {
			return err
		}
		if _, err := a.DiscoveryV1().EndpointSlices(ns).List(bg, metav1.ListOptions{}); err != nil {
			return err
		}
		node, err := a.CoreV1().Nodes().Get(bg, "n1", metav1.GetOptions{})
		if err != nil || node.Spec.PodCIDR == "" {
			return fmt.Errorf("node has no pod CIDR yet (%v)", err)
		}
		return nil
	})
	// The garbage collector deletes the deployment's replicaset and pods.
	if err := a.AppsV1().Deployments(ns).Delete(bg, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, func() error {
		rss, err := a.AppsV1().ReplicaSets(ns).List(bg, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(rss.Items) > 0 {
			return fmt.Errorf("%d replicasets left", len(rss.Items))
		}
		return nil
	})
	time.Sleep(3 * time.Second) // let status writes and events of the last syncs land
	var refused []string
	for _, token := range []string{"cm", "scheduler"} {
		refused = append(refused, rs.forbiddenFor(token)...)
	}
	if len(refused) > 0 {
		t.Fatalf("the default roles refused the controllers %d requests:\n%s", len(refused), strings.Join(refused, "\n"))
	}
}
