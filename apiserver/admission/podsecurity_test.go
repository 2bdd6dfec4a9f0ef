package admission

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

// restrictedPod passes the restricted level; cases break one control.
func restrictedPod() *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Containers: []corev1.Container{{Name: "c", Image: "busybox", SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}},
		Volumes: []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}},
	}}
}

func TestPodSecurityChecks(t *testing.T) {
	sc := func(p *corev1.Pod) *corev1.SecurityContext { return p.Spec.Containers[0].SecurityContext }
	for _, tc := range []struct {
		name   string
		level  Level
		mutate func(p *corev1.Pod)
		want   string // the violations message; "" = none
	}{
		{"restricted pod", LevelRestricted, func(*corev1.Pod) {}, ""},
		{"privileged level checks nothing", LevelPrivileged, func(p *corev1.Pod) { p.Spec.HostNetwork = true }, ""},
		{"default pod at baseline", LevelBaseline, func(p *corev1.Pod) { p.Spec = corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}} }, ""},
		{"default pod at restricted", LevelRestricted, func(p *corev1.Pod) { p.Spec = corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}} },
			`allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ` +
				`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ` +
				`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ` +
				`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`},
		{"host namespaces", LevelBaseline, func(p *corev1.Pod) { p.Spec.HostNetwork, p.Spec.HostPID, p.Spec.HostIPC = true, true, true },
			"host namespaces (hostNetwork=true, hostPID=true, hostIPC=true)"},
		{"privileged", LevelBaseline, func(p *corev1.Pod) {
			sc(p).Privileged = ptr(true)
			p.Spec.InitContainers = []corev1.Container{{Name: "i", SecurityContext: &corev1.SecurityContext{Privileged: ptr(true)}}}
		}, `privileged (containers "i", "c" must not set securityContext.privileged=true)`},
		{"capabilities baseline", LevelBaseline, func(p *corev1.Pod) {
			sc(p).Capabilities.Add = []corev1.Capability{"CHOWN", "NET_ADMIN", "SYS_TIME"}
		}, `non-default capabilities (container "c" must not include "NET_ADMIN", "SYS_TIME" in securityContext.capabilities.add)`},
		{"capabilities restricted", LevelRestricted, func(p *corev1.Pod) {
			sc(p).Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE", "CHOWN"}}
		}, `unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]; container "c" must not include "CHOWN" in securityContext.capabilities.add)`},
		{"net bind service allowed", LevelRestricted, func(p *corev1.Pod) { sc(p).Capabilities.Add = []corev1.Capability{"NET_BIND_SERVICE"} }, ""},
		{"hostPath", LevelBaseline, func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
		}, `hostPath volumes (volume "root")`},
		{"hostPath restricted", LevelRestricted, func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
		}, `hostPath volumes (volume "root"), restricted volume types (volume "root" uses restricted volume type "hostPath")`},
		{"restricted volume types", LevelRestricted, func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes,
				corev1.Volume{Name: "n", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{}}},
				corev1.Volume{Name: "g", VolumeSource: corev1.VolumeSource{GitRepo: &corev1.GitRepoVolumeSource{}}},
				corev1.Volume{Name: "e", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}, `restricted volume types (volumes "n", "g" use restricted volume types "nfs", "gitRepo")`},
		{"host ports", LevelBaseline, func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80}, {ContainerPort: 443, HostPort: 443}, {ContainerPort: 8080}}
		}, `hostPort (container "c" uses hostPorts 80, 443)`},
		{"apparmor", LevelBaseline, func(p *corev1.Pod) {
			p.Annotations = map[string]string{appArmorAnnotationPrefix + "c": "unconfined", appArmorAnnotationPrefix + "d": "runtime/default"}
			sc(p).AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
		}, `forbidden AppArmor profiles (container.apparmor.security.beta.kubernetes.io/c="unconfined", container "c" must not set securityContext.appArmorProfile.type to "Unconfined")`},
		{"apparmor localhost", LevelBaseline, func(p *corev1.Pod) {
			sc(p).AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost, LocalhostProfile: ptr("x")}
		}, ""},
		{"selinux", LevelBaseline, func(p *corev1.Pod) {
			p.Spec.SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: "spc_t"}
			sc(p).SELinuxOptions = &corev1.SELinuxOptions{User: "root", Type: "container_t"}
		}, `seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "spc_t"; container "c" set forbidden securityContext.seLinuxOptions: user "root")`},
		{"procMount", LevelBaseline, func(p *corev1.Pod) { sc(p).ProcMount = ptr(corev1.UnmaskedProcMount) },
			`procMount (container "c" must not set securityContext.procMount to "Unmasked")`},
		{"seccomp unconfined baseline", LevelBaseline, func(p *corev1.Pod) {
			p.Spec.SecurityContext.SeccompProfile.Type = corev1.SeccompProfileTypeUnconfined
		}, `seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")`},
		{"seccomp unconfined restricted", LevelRestricted, func(p *corev1.Pod) {
			sc(p).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}, `seccompProfile (container "c" must not set securityContext.seccompProfile.type to "Unconfined")`},
		{"seccomp on every container", LevelRestricted, func(p *corev1.Pod) {
			p.Spec.SecurityContext.SeccompProfile = nil
			sc(p).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr("p.json")}
		}, ""},
		{"sysctls", LevelBaseline, func(p *corev1.Pod) {
			p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.tcp_syncookies", Value: "1"}, {Name: "kernel.msgmax", Value: "1"}, {Name: "net.core.somaxconn", Value: "1"}}
		}, "forbidden sysctls (kernel.msgmax, net.core.somaxconn)"},
		{"hostProcess", LevelBaseline, func(p *corev1.Pod) {
			p.Spec.SecurityContext.WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr(true)}
			sc(p).WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr(true)}
		}, `hostProcess (pod and container "c" must not set securityContext.windowsOptions.hostProcess=true)`},
		{"allowPrivilegeEscalation", LevelRestricted, func(p *corev1.Pod) { sc(p).AllowPrivilegeEscalation = ptr(true) },
			`allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false)`},
		{"allowPrivilegeEscalation baseline", LevelBaseline, func(p *corev1.Pod) { sc(p).AllowPrivilegeEscalation = ptr(true) }, ""},
		{"runAsNonRoot false", LevelRestricted, func(p *corev1.Pod) {
			p.Spec.SecurityContext.RunAsNonRoot = ptr(false)
			sc(p).RunAsNonRoot = ptr(false)
		}, `runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false; container "c" must not set securityContext.runAsNonRoot=false)`},
		{"runAsNonRoot per container", LevelRestricted, func(p *corev1.Pod) {
			p.Spec.SecurityContext.RunAsNonRoot = nil
			sc(p).RunAsNonRoot = ptr(true)
		}, ""},
		{"runAsUser 0", LevelRestricted, func(p *corev1.Pod) {
			p.Spec.SecurityContext.RunAsUser = ptr(int64(0))
			sc(p).RunAsUser = ptr(int64(0))
		}, `runAsUser=0 (pod must not set runAsUser=0; container "c" must not set runAsUser=0)`},
		{"user namespace relaxes non-root", LevelRestricted, func(p *corev1.Pod) {
			p.Spec.HostUsers = ptr(false)
			p.Spec.SecurityContext.RunAsNonRoot = nil
			p.Spec.SecurityContext.RunAsUser = ptr(int64(0))
		}, ""},
		{"windows skips linux-only controls", LevelRestricted, func(p *corev1.Pod) {
			p.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
			p.Spec.SecurityContext.SeccompProfile = nil
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsNonRoot: ptr(true)}
		}, ""},
		{"ephemeral containers count", LevelBaseline, func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug",
				SecurityContext: &corev1.SecurityContext{Privileged: ptr(true)}}}}
		}, `privileged (container "debug" must not set securityContext.privileged=true)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := restrictedPod()
			tc.mutate(p)
			if got := ViolationsMessage(CheckPod(tc.level, &p.ObjectMeta, &p.Spec)); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestPodSecurityPlugin(t *testing.T) {
	f := newFakes()
	f.namespaces["open"] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "open"}}
	f.namespaces["strict"] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "strict", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted"}}}
	f.namespaces["mixed"] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mixed", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/enforce-version": "v1.30",
		"pod-security.kubernetes.io/warn": "restricted"}}}
	p := &PodSecurity{Namespaces: f}
	plain := func(ns string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: ns}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	}
	privileged := func(ns string) *corev1.Pod {
		pod := plain(ns)
		pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr(true)}
		return pod
	}
	deploy := func(ns string, pod *corev1.Pod) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: ns},
			Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec}}}
	}
	restrictedMsg := `allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ` +
		`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ` +
		`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ` +
		`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`
	for _, tc := range []struct {
		name     string
		a        *Attributes
		want     string
		warnings []string
	}{
		{"unlabelled namespace", attrs(Create, "pods", "", "open", "x", privileged("open"), nil), "", nil},
		{"enforce restricted", attrs(Create, "pods", "", "strict", "x", plain("strict"), nil),
			`pods "x" is forbidden: violates PodSecurity "restricted:latest": ` + restrictedMsg, nil},
		{"compliant pod", attrs(Create, "pods", "", "strict", "x", restrictedPod(), nil), "", nil},
		{"enforce baseline, warn restricted", attrs(Create, "pods", "", "mixed", "x", plain("mixed"), nil), "",
			[]string{`would violate PodSecurity "restricted:latest": ` + restrictedMsg}},
		{"enforce baseline with version", attrs(Create, "pods", "", "mixed", "x", privileged("mixed"), nil),
			`pods "x" is forbidden: violates PodSecurity "baseline:v1.30": privileged (container "c" must not set securityContext.privileged=true)`, nil},
		{"deployment gets warnings only", attrs(Create, "deployments", "", "strict", "d", deploy("strict", plain("strict")), nil), "",
			[]string{`would violate PodSecurity "restricted:latest": ` + restrictedMsg}},
		{"deployment: enforce and warn levels", attrs(Create, "deployments", "", "mixed", "d", deploy("mixed", privileged("mixed")), nil), "",
			[]string{`would violate PodSecurity "baseline:v1.30": privileged (container "c" must not set securityContext.privileged=true)`,
				`would violate PodSecurity "restricted:latest": ` +
					`allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ` +
					`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ` +
					`privileged (container "c" must not set securityContext.privileged=true), ` +
					`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ` +
					`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`}},
		{"deployment update without template change", attrs(Update, "deployments", "", "strict", "d", deploy("strict", plain("strict")), deploy("strict", plain("strict"))), "", nil},
		{"pod update of images only", attrs(Update, "pods", "", "strict", "x", plain("strict"), func() *corev1.Pod {
			o := plain("strict")
			o.Spec.Containers[0].Image = "other"
			return o
		}()), "", nil},
		{"pod status update", attrs(Update, "pods", "status", "strict", "x", plain("strict"), plain("strict")), "", nil},
		{"ephemeral containers", attrs(Update, "pods", "ephemeralcontainers", "strict", "x", plain("strict"), plain("strict")),
			`pods "x" is forbidden: violates PodSecurity "restricted:latest": ` + restrictedMsg, nil},
		{"namespace with a bad level", attrs(Create, "namespaces", "", "", "n", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "n",
			Labels: map[string]string{"pod-security.kubernetes.io/enforce": "strict"}}}, nil),
			`namespaces "n" is forbidden: pod-security.kubernetes.io/enforce: Invalid value: "strict": must be one of privileged, baseline, restricted`, nil},
		{"namespace with a bad version", attrs(Update, "namespaces", "", "", "n", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "n",
			Labels: map[string]string{"pod-security.kubernetes.io/warn-version": "1.30"}}}, &corev1.Namespace{}),
			`namespaces "n" is forbidden: pod-security.kubernetes.io/warn-version: Invalid value: "1.30": must be latest or v1.<minor>`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w warnings
			ctx := WithWarnings(context.Background(), &w)
			err := p.Validate(ctx, tc.a)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
			if strings.Join(w, "\n") != strings.Join(tc.warnings, "\n") {
				t.Fatalf("warnings\n%s\nwant\n%s", strings.Join(w, "\n"), strings.Join(tc.warnings, "\n"))
			}
		})
	}
}
