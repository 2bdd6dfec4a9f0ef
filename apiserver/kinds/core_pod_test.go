package kinds

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

const fullPod = `
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
spec:
  containers:
  - name: app
    image: registry.local:5000/app:1.2
    ports:
    - containerPort: 8080
    env:
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    resources:
      limits:
        cpu: 500m
        memory: 128Mi
    livenessProbe:
      httpGet:
        port: 8080
    readinessProbe:
      tcpSocket:
        port: 8080
      periodSeconds: 5
    volumeMounts:
    - name: cfg
      mountPath: /etc/app
    - name: scratch
      mountPath: /tmp
  - name: sidecar
    image: busybox
  volumes:
  - name: cfg
    configMap:
      name: app-config
  - name: scratch
  - name: token
    secret:
      secretName: tok
`

// What kube-apiserver v1.37 stores for fullPod (spec only).
const fullPodDefaulted = `
containers:
- name: app
  image: registry.local:5000/app:1.2
  imagePullPolicy: IfNotPresent
  ports:
  - containerPort: 8080
    protocol: TCP
  env:
  - name: POD_NAME
    valueFrom:
      fieldRef:
        apiVersion: v1
        fieldPath: metadata.name
  resources:
    limits:
      cpu: 500m
      memory: 128Mi
    requests:
      cpu: 500m
      memory: 128Mi
  resizePolicy:
  - resourceName: cpu
    restartPolicy: NotRequired
  - resourceName: memory
    restartPolicy: NotRequired
  livenessProbe:
    httpGet:
      path: /
      port: 8080
      scheme: HTTP
    timeoutSeconds: 1
    periodSeconds: 10
    successThreshold: 1
    failureThreshold: 3
  readinessProbe:
    tcpSocket:
      port: 8080
    timeoutSeconds: 1
    periodSeconds: 5
    successThreshold: 1
    failureThreshold: 3
  volumeMounts:
  - name: cfg
    mountPath: /etc/app
  - name: scratch
    mountPath: /tmp
  terminationMessagePath: /dev/termination-log
  terminationMessagePolicy: File
- name: sidecar
  image: busybox
  imagePullPolicy: Always
  resources: {}
  terminationMessagePath: /dev/termination-log
  terminationMessagePolicy: File
volumes:
- name: cfg
  configMap:
    name: app-config
    defaultMode: 420
- name: scratch
  emptyDir: {}
- name: token
  secret:
    secretName: tok
    defaultMode: 420
dnsPolicy: ClusterFirst
restartPolicy: Always
schedulerName: default-scheduler
securityContext: {}
terminationGracePeriodSeconds: 30
enableServiceLinks: true
`

func newPod(t *testing.T) (*Kind, *corev1.Pod) {
	k := kindByName(t, "Pod")
	p := decode(t, k, fullPod).(*corev1.Pod)
	k.Default(p)
	return k, p
}

func TestPodDefaults(t *testing.T) {
	_, p := newPod(t)
	var want corev1.PodSpec
	decodeInto(t, fullPodDefaulted, &want)
	if got, w := toJSONMap(t, p.Spec), toJSONMap(t, want); !reflect.DeepEqual(got, w) {
		t.Errorf("defaulted pod spec\n got %v\nwant %v", got, w)
	}
}

func TestPodTemplateGetsNoPodOnlyDefaults(t *testing.T) {
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "c", Image: "x",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
	}}}}
	defaultPodTemplate(&tmpl)
	if tmpl.Spec.EnableServiceLinks != nil || tmpl.Spec.Containers[0].Resources.Requests != nil {
		t.Errorf("template got pod-only defaults: %+v", tmpl.Spec)
	}
}

func TestPodValidation(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   []string
	}{
		{"valid", func(p *corev1.Pod) {}, nil},
		{"no containers", func(p *corev1.Pod) { p.Spec.Containers = nil }, []string{"spec.containers: Required value"}},
		{"bad restart policy", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" },
			[]string{`spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"`}},
		{"host port range", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].HostPort = 70000 },
			[]string{"spec.containers[0].ports[0].hostPort: Invalid value: 70000: must be between 1 and 65535, inclusive"}},
		{"protocol", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "HTTP" },
			[]string{`spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"`}},
		{"mount of no volume", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].Name = "nope" },
			[]string{`spec.containers[0].volumeMounts[0].name: Not found: "nope"`}},
		{"duplicate volume", func(p *corev1.Pod) { p.Spec.Volumes[1].Name = "cfg" },
			[]string{`spec.volumes[1].name: Duplicate value: "cfg"`}},
		{"two volume sources", func(p *corev1.Pod) { p.Spec.Volumes[0].EmptyDir = &corev1.EmptyDirVolumeSource{} },
			[]string{"spec.volumes[0].configMap: Forbidden: may not specify more than 1 volume type"}},
		{"request over limit", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1")
		}, []string{`spec.containers[0].resources.requests: Invalid value: "1": must be less than or equal to cpu limit of 500m`}},
		{"deadline", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](0) },
			[]string{"spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"}},
		{"liveness success threshold", func(p *corev1.Pod) { p.Spec.Containers[0].LivenessProbe.SuccessThreshold = 2 },
			[]string{"spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"}},
		{"env name", func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Name = "" },
			[]string{"spec.containers[0].env[0].name: Required value"}},
		{"container named twice across init", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{p.Spec.Containers[1]}
		}, []string{`spec.containers[1].name: Duplicate value: "sidecar"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, p := newPod(t)
			c.mutate(p)
			assertErrors(t, k.Validate(p), c.want)
		})
	}
}

func TestPodUpdate(t *testing.T) {
	k, old := newPod(t)
	old.Spec.ActiveDeadlineSeconds = ptr[int64](100)
	old.Spec.Tolerations = []corev1.Toleration{{Key: "b", Operator: "Exists", Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr[int64](300)}}
	cases := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   []string
	}{
		{"image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "app:2" }, nil},
		{"lower deadline", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](50) }, nil},
		{"add toleration", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "a", Operator: "Exists"})
		}, nil},
		{"toleration seconds", func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr[int64](30) }, nil},
		{"toleration key", func(p *corev1.Pod) { p.Spec.Tolerations[0].Key = "c" },
			[]string{"spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"}},
		{"raise deadline", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](200) },
			[]string{"spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value"}},
		{"unset deadline", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil },
			[]string{"spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive integer to nil value"}},
		{"port", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 9090 },
			[]string{"spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"}},
		{"add container", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "x", Image: "x"})
		}, []string{"spec: Forbidden: pod updates may not change fields"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := old.DeepCopy()
			c.mutate(p)
			assertErrors(t, k.ValidateUpdate(p, old), c.want)
		})
	}
}

func TestPodPrepareForCreateQOS(t *testing.T) {
	rl := func(cpu, mem string) corev1.ResourceList {
		l := corev1.ResourceList{}
		if cpu != "" {
			l[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		return l
	}
	cases := []struct {
		name string
		res  []corev1.ResourceRequirements
		want corev1.PodQOSClass
	}{
		{"nothing", []corev1.ResourceRequirements{{}}, corev1.PodQOSBestEffort},
		{"limits only (requests defaulted)", []corev1.ResourceRequirements{{Limits: rl("1", "1Gi")}}, corev1.PodQOSGuaranteed},
		{"equal", []corev1.ResourceRequirements{{Limits: rl("1", "1Gi"), Requests: rl("1", "1Gi")}}, corev1.PodQOSGuaranteed},
		{"lower request", []corev1.ResourceRequirements{{Limits: rl("1", "1Gi"), Requests: rl("500m", "1Gi")}}, corev1.PodQOSBurstable},
		{"cpu only", []corev1.ResourceRequirements{{Limits: rl("1", "")}}, corev1.PodQOSBurstable},
		{"one of two", []corev1.ResourceRequirements{{Limits: rl("1", "1Gi")}, {}}, corev1.PodQOSBurstable},
		{"requests only", []corev1.ResourceRequirements{{Requests: rl("", "1Gi")}}, corev1.PodQOSBurstable},
	}
	k := kindByName(t, "Pod")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "1.2.3.4"}}
			for i, r := range c.res {
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: string(rune('a' + i)), Image: "x", Resources: r})
			}
			k.Default(p)
			k.PrepareForCreate(p)
			if p.Status.Phase != corev1.PodPending || p.Status.PodIP != "" || p.Status.QOSClass != c.want {
				t.Errorf("status %+v, want phase Pending, qos %s", p.Status, c.want)
			}
		})
	}
}

func TestPodSchedulingGated(t *testing.T) {
	k, p := newPod(t)
	p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
	k.PrepareForCreate(p)
	c := p.Status.Conditions
	if len(c) != 1 || c[0].Type != corev1.PodScheduled || c[0].Reason != "SchedulingGated" {
		t.Fatalf("conditions %+v", c)
	}
	if got := podCells(p, time.Now())[2]; got != "SchedulingGated" {
		t.Errorf("STATUS %v", got)
	}
}

func TestPodCells(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	created := metav1.NewTime(now.Add(-90 * time.Minute))
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	cases := []struct {
		name string
		pod  corev1.Pod
		want []interface{}
	}{
		{"pending", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", CreationTimestamp: created},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
			Status:     corev1.PodStatus{Phase: corev1.PodPending},
		}, []interface{}{"p", "0/1", "Pending", "0", "90m", "<none>", "<none>", "<none>", "<none>"}},
		{"running with a restart", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", CreationTimestamp: created},
			Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "a"}, {Name: "b"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.5", ContainerStatuses: []corev1.ContainerStatus{
				{Name: "a", Ready: true, State: running, RestartCount: 2, LastTerminationState: corev1.ContainerState{
					Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(now.Add(-5 * time.Minute))}}},
				{Name: "b", Ready: false, State: running},
			}},
		}, []interface{}{"p", "1/2", "Running", "2 (5m ago)", "90m", "10.0.0.5", "n1", "<none>", "<none>"}},
		{"crash loop", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", CreationTimestamp: created},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "a", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}},
			}},
		}, []interface{}{"p", "0/1", "CrashLoopBackOff", "0", "90m", "<none>", "<none>", "<none>", "<none>"}},
		{"init", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", CreationTimestamp: created},
			Spec:       corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i"}}, Containers: []corev1.Container{{Name: "a"}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "i", State: running},
			}},
		}, []interface{}{"p", "0/1", "Init:0/1", "0", "90m", "<none>", "<none>", "<none>", "<none>"}},
		{"terminating", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", CreationTimestamp: created, DeletionTimestamp: &created},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning},
		}, []interface{}{"p", "0/1", "Terminating", "0", "90m", "<none>", "<none>", "<none>", "<none>"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := podCells(&c.pod, now); !reflect.DeepEqual(got, c.want) {
				t.Errorf("cells %#v\nwant  %#v", got, c.want)
			}
		})
	}
}

func TestPodFields(t *testing.T) {
	k, p := newPod(t)
	p.Spec.NodeName, p.Status.Phase = "n1", corev1.PodRunning
	want := fields.Set{
		"spec.nodeName": "n1", "spec.restartPolicy": "Always", "spec.schedulerName": "default-scheduler",
		"spec.serviceAccountName": "", "spec.hostNetwork": "false", "status.phase": "Running",
		"status.podIP": "", "status.nominatedNodeName": "",
	}
	if got := k.Fields(p); !reflect.DeepEqual(got, want) {
		t.Errorf("fields %v, want %v", got, want)
	}
}

func TestPodDefaultTolerations(t *testing.T) {
	five := int64(5)
	notReady := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr[int64](300)}
	unreachable := corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr[int64](300)}
	own := corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &five}
	other := corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	all := corev1.Toleration{Operator: corev1.TolerationOpExists}
	cases := []struct {
		name string
		in   []corev1.Toleration
		want []corev1.Toleration
	}{
		{"none", nil, []corev1.Toleration{notReady, unreachable}},
		{"unrelated kept", []corev1.Toleration{other}, []corev1.Toleration{other, notReady, unreachable}},
		{"own unreachable kept", []corev1.Toleration{own}, []corev1.Toleration{own, notReady}},
		{"tolerates everything", []corev1.Toleration{all}, []corev1.Toleration{all}},
	}
	for _, c := range cases {
		k := kindByName(t, "Pod")
		p := decode(t, k, fullPod).(*corev1.Pod)
		p.Spec.Tolerations = c.in
		k.Default(p)
		k.PrepareForCreate(p)
		if !reflect.DeepEqual(p.Spec.Tolerations, c.want) {
			t.Errorf("%s: tolerations %+v, want %+v", c.name, p.Spec.Tolerations, c.want)
		}
		if errs := k.Validate(p); len(errs) != 0 {
			t.Errorf("%s: %v", c.name, errs)
		}
	}
}
