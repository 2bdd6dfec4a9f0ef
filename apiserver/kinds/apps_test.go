package kinds

import (
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const httpdDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: httpd-deployment
spec:
  replicas: 2
  selector:
    matchLabels:
      app: httpd_pod
  template:
    metadata:
      labels:
        app: httpd_pod
    spec:
      containers:
      - name: httpd
        image: httpd
`

// The spec kube-apiserver v1.37 returns for httpdDeployment.
const httpdDeploymentDefaulted = `
replicas: 2
selector:
  matchLabels:
    app: httpd_pod
strategy:
  type: RollingUpdate
  rollingUpdate:
    maxSurge: 25%
    maxUnavailable: 25%
revisionHistoryLimit: 10
progressDeadlineSeconds: 600
template:
  metadata:
    labels:
      app: httpd_pod
  spec:
    containers:
    - name: httpd
      image: httpd
      imagePullPolicy: Always
      resources: {}
      terminationMessagePath: /dev/termination-log
      terminationMessagePolicy: File
    dnsPolicy: ClusterFirst
    restartPolicy: Always
    schedulerName: default-scheduler
    securityContext: {}
    terminationGracePeriodSeconds: 30
`

func TestDeploymentDefaults(t *testing.T) {
	k := kindByName(t, "Deployment")
	d := decode(t, k, httpdDeployment).(*appsv1.Deployment)
	k.Default(d)
	var want appsv1.DeploymentSpec
	decodeInto(t, httpdDeploymentDefaulted, &want)
	got, wantMap := toJSONMap(t, d.Spec), toJSONMap(t, want)
	if !reflect.DeepEqual(got, wantMap) {
		t.Errorf("defaulted spec\n got %v\nwant %v", got, wantMap)
	}
	if errs := k.Validate(d); len(errs) != 0 {
		t.Errorf("valid deployment: %v", errs)
	}
}

func TestDeploymentValidation(t *testing.T) {
	k := kindByName(t, "Deployment")
	cases := []struct {
		name   string
		mutate func(d *appsv1.Deployment)
		want   []string
	}{
		{"no selector", func(d *appsv1.Deployment) { d.Spec.Selector = nil }, []string{
			"spec.selector: Required value",
			"spec.template.metadata.labels: Invalid value: {\"app\":\"httpd_pod\"}: `selector` does not match template `labels`",
		}},
		{"selector mismatch", func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "other"} },
			[]string{"spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`"}},
		{"negative replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr[int32](-1) },
			[]string{"spec.replicas: Invalid value: -1: must be greater than or equal to 0"}},
		{"restart policy", func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = "Never" },
			[]string{"spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""}},
		{"container name", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Name = "Httpd_1" },
			[]string{"spec.template.spec.containers[0].name: Invalid value: \"Httpd_1\": a lowercase RFC 1123 label must consist of"}},
		{"no image", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" },
			[]string{"spec.template.spec.containers[0].image: Required value"}},
		{"duplicate container", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, d.Spec.Template.Spec.Containers[0])
		}, []string{"spec.template.spec.containers[1].name: Duplicate value: \"httpd\""}},
		{"port range", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Ports = []corev1ContainerPort{{ContainerPort: 70000, Protocol: "TCP"}}
		}, []string{"spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"}},
		{"both zero", func(d *appsv1.Deployment) {
			zero := intstrFromInt(0)
			d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable = &zero, &zero
		}, []string{"spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := decode(t, k, httpdDeployment).(*appsv1.Deployment)
			k.Default(d)
			c.mutate(d)
			assertErrors(t, k.Validate(d), c.want)
		})
	}
}

func TestDeploymentSelectorImmutable(t *testing.T) {
	k := kindByName(t, "Deployment")
	old := decode(t, k, httpdDeployment).(*appsv1.Deployment)
	k.Default(old)
	d := old.DeepCopy()
	d.Spec.Selector.MatchLabels["tier"] = "web"
	d.Spec.Template.Labels["tier"] = "web"
	assertErrors(t, k.ValidateUpdate(d, old), []string{"spec.selector: Invalid value: ", "field is immutable"})
	d = old.DeepCopy()
	d.Spec.Replicas = ptr[int32](5)
	assertErrors(t, k.ValidateUpdate(d, old), nil)
}

func TestDeploymentScaleAndCells(t *testing.T) {
	k := kindByName(t, "Deployment")
	d := decode(t, k, httpdDeployment).(*appsv1.Deployment)
	k.Default(d)
	d.Status.ReadyReplicas, d.Status.UpdatedReplicas, d.Status.AvailableReplicas = 1, 2, 1
	if got := k.Scale.Selector(d); got != "app=httpd_pod" {
		t.Errorf("scale selector %q", got)
	}
	cells := k.Cells(d)
	want := []interface{}{"httpd-deployment", "1/2", int64(2), int64(1), "<unknown>", "httpd", "httpd", "app=httpd_pod"}
	if !reflect.DeepEqual(cells, want) {
		t.Errorf("cells %#v, want %#v", cells, want)
	}
}

// assertErrors checks that each error's text contains the wanted
// fragments in order (one fragment list per expected error when want
// has one entry per error; all fragments in the first error otherwise).
func assertErrors(t *testing.T, errs field.ErrorList, want []string) {
	t.Helper()
	got := errStrings(errs)
	if len(want) == 0 {
		if len(got) != 0 {
			t.Errorf("unexpected errors: %q", got)
		}
		return
	}
	all := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("errors %q\ndo not contain %q", got, w)
		}
	}
}

const fluentdDaemonSet = `
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: fluentd
spec:
  selector:
    matchLabels: {name: fluentd}
  template:
    metadata:
      labels: {name: fluentd}
    spec:
      nodeSelector: {kubernetes.io/os: linux}
      containers:
      - name: fluentd
        image: fluentd:v1
`

func TestDaemonSet(t *testing.T) {
	k := kindByName(t, "DaemonSet")
	ds := decode(t, k, fluentdDaemonSet).(*appsv1.DaemonSet)
	k.Default(ds)
	var want appsv1.DaemonSetUpdateStrategy
	decodeInto(t, `
type: RollingUpdate
rollingUpdate: {maxUnavailable: 1, maxSurge: 0}
`, &want)
	if !reflect.DeepEqual(ds.Spec.UpdateStrategy, want) || *ds.Spec.RevisionHistoryLimit != 10 {
		t.Errorf("daemonset defaults %+v", ds.Spec)
	}
	assertErrors(t, k.Validate(ds), nil)
	k.PrepareForCreate(ds)
	upd := ds.DeepCopy()
	upd.Spec.Template.Spec.Containers[0].Image = "fluentd:v2"
	k.PrepareForUpdate(upd, ds)
	if ds.Annotations[annotationTemplateGeneration] != "1" || upd.Annotations[annotationTemplateGeneration] != "2" {
		t.Errorf("template generation %v -> %v", ds.Annotations, upd.Annotations)
	}

	both := ds.DeepCopy()
	one := intstrFromInt(1)
	both.Spec.UpdateStrategy.RollingUpdate.MaxSurge = &one
	assertErrors(t, k.Validate(both), []string{"spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero"})

	ds.Status = appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 3, NumberAvailable: 2}
	got := k.Cells(ds)
	wantCells := []interface{}{"fluentd", int64(3), int64(3), int64(2), int64(3), int64(2), "kubernetes.io/os=linux", "<unknown>", "fluentd", "fluentd:v1", "name=fluentd"}
	if !reflect.DeepEqual(got, wantCells) {
		t.Errorf("cells %#v\nwant  %#v", got, wantCells)
	}
}

const webStatefulSet = `
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: nginx
  selector:
    matchLabels: {app: nginx}
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 1Gi
`

func TestStatefulSet(t *testing.T) {
	k := kindByName(t, "StatefulSet")
	ss := decode(t, k, webStatefulSet).(*appsv1.StatefulSet)
	k.Default(ss)
	s := ss.Spec
	if *s.Replicas != 1 || s.PodManagementPolicy != appsv1.OrderedReadyPodManagement ||
		s.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType || *s.UpdateStrategy.RollingUpdate.Partition != 0 ||
		s.PersistentVolumeClaimRetentionPolicy.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
		s.PersistentVolumeClaimRetentionPolicy.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
		*s.RevisionHistoryLimit != 10 || *s.VolumeClaimTemplates[0].Spec.VolumeMode != "Filesystem" {
		t.Errorf("statefulset defaults %+v", s)
	}
	assertErrors(t, k.Validate(ss), nil)

	up := ss.DeepCopy()
	up.Spec.Replicas = ptr[int32](3)
	up.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
	assertErrors(t, k.ValidateUpdate(up, ss), nil)
	up.Spec.VolumeClaimTemplates[0].Spec.AccessModes = []corev1PVCAccessMode{"ReadWriteMany"}
	assertErrors(t, k.ValidateUpdate(up, ss), []string{"spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"})

	ss.Status.ReadyReplicas = 1
	if got := k.Cells(ss); got[1] != "1/1" {
		t.Errorf("ready cell %v", got[1])
	}
	if k.Scale.Selector(ss) != "app=nginx" {
		t.Errorf("scale selector %q", k.Scale.Selector(ss))
	}
}

func TestReplicaSet(t *testing.T) {
	k := kindByName(t, "ReplicaSet")
	rs := &appsv1.ReplicaSet{}
	decodeInto(t, `
metadata: {name: frontend}
spec:
  selector: {matchExpressions: [{key: tier, operator: In, values: [frontend]}]}
  template:
    metadata: {labels: {tier: backend}}
    spec: {containers: [{name: php, image: php:8}]}
`, rs)
	k.Default(rs)
	if *rs.Spec.Replicas != 1 {
		t.Errorf("replicas %d", *rs.Spec.Replicas)
	}
	assertErrors(t, k.Validate(rs), []string{"spec.template.metadata.labels: Invalid value: ", "`selector` does not match template `labels`"})
	rs.Spec.Template.Labels["tier"] = "frontend"
	assertErrors(t, k.Validate(rs), nil)
	rs.Status.Replicas = 4
	if got := k.Fields(rs)["status.replicas"]; got != "4" {
		t.Errorf("status.replicas field %q", got)
	}
	if got := k.Cells(rs)[7]; got != "tier in (frontend)" {
		t.Errorf("selector cell %q", got)
	}
}
