package admission

// The Pod Security Standards' controls as pure functions of a pod's
// metadata and spec. Each check has an ID (they report in ID order, as
// Kubernetes' do), the lowest level it belongs to, and for restricted
// refinements the baseline check it replaces.

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Level is a Pod Security Standards level.
type Level int

const (
	LevelPrivileged Level = iota
	LevelBaseline
	LevelRestricted
)

func (l Level) String() string {
	switch l {
	case LevelBaseline:
		return "baseline"
	case LevelRestricted:
		return "restricted"
	}
	return "privileged"
}

// ParseLevel reads a level label's value.
func ParseLevel(s string) (Level, bool) {
	switch s {
	case "privileged":
		return LevelPrivileged, true
	case "baseline":
		return LevelBaseline, true
	case "restricted":
		return LevelRestricted, true
	}
	return LevelPrivileged, false
}

// Violation is one failed control: Kubernetes prints it "reason (detail)".
type Violation struct {
	Check  string // the check's ID
	Reason string
	Detail string
}

func (v Violation) String() string {
	if v.Detail == "" {
		return v.Reason
	}
	return v.Reason + " (" + v.Detail + ")"
}

// podView is what the checks read: the pod's metadata and spec.
type podView struct {
	meta *metav1.ObjectMeta
	spec *corev1.PodSpec
}

// container is one container of any kind (init, regular, ephemeral).
type container struct {
	name  string
	sc    *corev1.SecurityContext
	ports []corev1.ContainerPort
}

func (p podView) containers() []container {
	var out []container
	for _, c := range p.spec.InitContainers {
		out = append(out, container{c.Name, c.SecurityContext, c.Ports})
	}
	for _, c := range p.spec.Containers {
		out = append(out, container{c.Name, c.SecurityContext, c.Ports})
	}
	for _, c := range p.spec.EphemeralContainers {
		out = append(out, container{c.Name, c.SecurityContext, c.Ports})
	}
	return out
}

func (p podView) windows() bool { return p.spec.OS != nil && p.spec.OS.Name == corev1.Windows }

type check struct {
	id        string
	level     Level
	overrides string // a baseline check this one replaces at its level
	fn        func(podView) *Violation
}

// checks, sorted by ID.
var checks = []check{
	{id: "allowPrivilegeEscalation", level: LevelRestricted, fn: checkAllowPrivilegeEscalation},
	{id: "appArmorProfile", level: LevelBaseline, fn: checkAppArmor},
	{id: "capabilities_baseline", level: LevelBaseline, fn: checkCapabilitiesBaseline},
	{id: "capabilities_restricted", level: LevelRestricted, overrides: "capabilities_baseline", fn: checkCapabilitiesRestricted},
	{id: "hostNamespaces", level: LevelBaseline, fn: checkHostNamespaces},
	{id: "hostPathVolumes", level: LevelBaseline, fn: checkHostPath},
	{id: "hostPorts", level: LevelBaseline, fn: checkHostPorts},
	{id: "privileged", level: LevelBaseline, fn: checkPrivileged},
	{id: "procMount", level: LevelBaseline, fn: checkProcMount},
	{id: "restrictedVolumes", level: LevelRestricted, fn: checkRestrictedVolumes},
	{id: "runAsNonRoot", level: LevelRestricted, fn: checkRunAsNonRoot},
	{id: "runAsUser", level: LevelRestricted, fn: checkRunAsUser},
	{id: "seLinuxOptions", level: LevelBaseline, fn: checkSELinux},
	{id: "seccompProfile_baseline", level: LevelBaseline, fn: checkSeccompBaseline},
	{id: "seccompProfile_restricted", level: LevelRestricted, overrides: "seccompProfile_baseline", fn: checkSeccompRestricted},
	{id: "sysctls", level: LevelBaseline, fn: checkSysctls},
	{id: "windowsHostProcess", level: LevelBaseline, fn: checkHostProcess},
}

// CheckPod evaluates a pod (its metadata and spec) at level: the failed
// controls in ID order; none at LevelPrivileged.
func CheckPod(level Level, meta *metav1.ObjectMeta, spec *corev1.PodSpec) []Violation {
	if level == LevelPrivileged {
		return nil
	}
	p := podView{meta: meta, spec: spec}
	skip := map[string]bool{}
	for _, c := range checks {
		if c.level <= level && c.overrides != "" {
			skip[c.overrides] = true
		}
	}
	var out []Violation
	for _, c := range checks {
		if c.level > level || skip[c.id] {
			continue
		}
		if v := c.fn(p); v != nil {
			v.Check = c.id
			out = append(out, *v)
		}
	}
	return out
}

// ViolationsMessage joins violations as Kubernetes prints them.
func ViolationsMessage(vs []Violation) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = v.String()
	}
	return strings.Join(s, ", ")
}

// plural picks a word by count.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// containersPhrase is `container "a"` or `containers "a", "b"`.
func containersPhrase(names []string) string {
	return plural(len(names), "container ", "containers ") + quoteJoin(names)
}

// byContainer names the containers for which bad holds.
func byContainer(p podView, bad func(container) bool) []string {
	var names []string
	for _, c := range p.containers() {
		if bad(c) {
			names = append(names, c.name)
		}
	}
	return names
}

func checkHostProcess(p podView) *Violation {
	hp := func(w *corev1.WindowsSecurityContextOptions) bool {
		return w != nil && w.HostProcess != nil && *w.HostProcess
	}
	pod := p.spec.SecurityContext != nil && hp(p.spec.SecurityContext.WindowsOptions)
	names := byContainer(p, func(c container) bool { return c.sc != nil && hp(c.sc.WindowsOptions) })
	var who string
	switch {
	case pod && len(names) > 0:
		who = "pod and " + containersPhrase(names)
	case pod:
		who = "pod"
	case len(names) > 0:
		who = containersPhrase(names)
	default:
		return nil
	}
	return &Violation{Reason: "hostProcess", Detail: who + " must not set securityContext.windowsOptions.hostProcess=true"}
}

func checkHostNamespaces(p podView) *Violation {
	var set []string
	if p.spec.HostNetwork {
		set = append(set, "hostNetwork=true")
	}
	if p.spec.HostPID {
		set = append(set, "hostPID=true")
	}
	if p.spec.HostIPC {
		set = append(set, "hostIPC=true")
	}
	if len(set) == 0 {
		return nil
	}
	return &Violation{Reason: "host namespaces", Detail: strings.Join(set, ", ")}
}

func checkPrivileged(p podView) *Violation {
	names := byContainer(p, func(c container) bool { return c.sc != nil && c.sc.Privileged != nil && *c.sc.Privileged })
	if len(names) == 0 {
		return nil
	}
	return &Violation{Reason: "privileged", Detail: containersPhrase(names) + " must not set securityContext.privileged=true"}
}

// baselineCapabilities may be added at the baseline level.
var baselineCapabilities = map[corev1.Capability]bool{
	"AUDIT_WRITE": true, "CHOWN": true, "DAC_OVERRIDE": true, "FOWNER": true, "FSETID": true, "KILL": true,
	"MKNOD": true, "NET_BIND_SERVICE": true, "SETFCAP": true, "SETGID": true, "SETPCAP": true, "SETUID": true, "SYS_CHROOT": true,
}

// addedCapabilities: the containers adding a capability allowed(cap)
// refuses, and those capabilities (unique, in order of appearance).
func addedCapabilities(p podView, allowed func(corev1.Capability) bool) ([]string, []string) {
	var names, caps []string
	seen := map[string]bool{}
	for _, c := range p.containers() {
		if c.sc == nil || c.sc.Capabilities == nil {
			continue
		}
		bad := false
		for _, cap := range c.sc.Capabilities.Add {
			if allowed(cap) {
				continue
			}
			bad = true
			if !seen[string(cap)] {
				seen[string(cap)] = true
				caps = append(caps, string(cap))
			}
		}
		if bad {
			names = append(names, c.name)
		}
	}
	return names, caps
}

func addDetail(names, caps []string) string {
	return fmt.Sprintf("%s must not include %s in securityContext.capabilities.add", containersPhrase(names), quoteJoin(caps))
}

func checkCapabilitiesBaseline(p podView) *Violation {
	names, caps := addedCapabilities(p, func(c corev1.Capability) bool { return baselineCapabilities[c] })
	if len(names) == 0 {
		return nil
	}
	return &Violation{Reason: "non-default capabilities", Detail: addDetail(names, caps)}
}

func checkCapabilitiesRestricted(p podView) *Violation {
	if p.windows() {
		return nil
	}
	var details []string
	noDrop := byContainer(p, func(c container) bool {
		if c.sc != nil && c.sc.Capabilities != nil {
			for _, d := range c.sc.Capabilities.Drop {
				if d == "ALL" {
					return false
				}
			}
		}
		return true
	})
	if len(noDrop) > 0 {
		details = append(details, containersPhrase(noDrop)+` must set securityContext.capabilities.drop=["ALL"]`)
	}
	names, caps := addedCapabilities(p, func(c corev1.Capability) bool { return c == "NET_BIND_SERVICE" })
	if len(names) > 0 {
		details = append(details, addDetail(names, caps))
	}
	if len(details) == 0 {
		return nil
	}
	return &Violation{Reason: "unrestricted capabilities", Detail: strings.Join(details, "; ")}
}

func checkHostPath(p podView) *Violation {
	var names []string
	for _, v := range p.spec.Volumes {
		if v.HostPath != nil {
			names = append(names, v.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return &Violation{Reason: "hostPath volumes", Detail: plural(len(names), "volume ", "volumes ") + quoteJoin(names)}
}

func checkHostPorts(p podView) *Violation {
	var names, ports []string
	seen := map[int32]bool{}
	for _, c := range p.containers() {
		bad := false
		for _, port := range c.ports {
			if port.HostPort == 0 {
				continue
			}
			bad = true
			if !seen[port.HostPort] {
				seen[port.HostPort] = true
				ports = append(ports, fmt.Sprint(port.HostPort))
			}
		}
		if bad {
			names = append(names, c.name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return &Violation{Reason: "hostPort", Detail: fmt.Sprintf("%s %s %s %s", containersPhrase(names),
		plural(len(names), "uses", "use"), plural(len(ports), "hostPort", "hostPorts"), strings.Join(ports, ", "))}
}

// AppArmor: the annotation of the beta API and the field.
const appArmorAnnotationPrefix = "container.apparmor.security.beta.kubernetes.io/"

func checkAppArmor(p podView) *Violation {
	var bad []string
	keys := make([]string, 0, len(p.meta.Annotations))
	for k := range p.meta.Annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := p.meta.Annotations[k]
		if strings.HasPrefix(k, appArmorAnnotationPrefix) && v != "runtime/default" && !strings.HasPrefix(v, "localhost/") {
			bad = append(bad, fmt.Sprintf("%s=%q", k, v))
		}
	}
	okType := func(a *corev1.AppArmorProfile) bool {
		return a == nil || a.Type == corev1.AppArmorProfileTypeRuntimeDefault || a.Type == corev1.AppArmorProfileTypeLocalhost
	}
	if sc := p.spec.SecurityContext; sc != nil && !okType(sc.AppArmorProfile) {
		bad = append(bad, fmt.Sprintf("pod must not set securityContext.appArmorProfile.type to %q", sc.AppArmorProfile.Type))
	}
	for _, c := range p.containers() {
		if c.sc != nil && !okType(c.sc.AppArmorProfile) {
			bad = append(bad, fmt.Sprintf("container %q must not set securityContext.appArmorProfile.type to %q", c.name, c.sc.AppArmorProfile.Type))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return &Violation{Reason: "forbidden AppArmor " + plural(len(bad), "profile", "profiles"), Detail: strings.Join(bad, ", ")}
}

// seLinuxTypes may be set at the baseline level ("" is unset).
var seLinuxTypes = map[string]bool{"": true, "container_t": true, "container_init_t": true, "container_kvm_t": true, "container_engine_t": true}

func seLinuxBad(o *corev1.SELinuxOptions) []string {
	if o == nil {
		return nil
	}
	var bad []string
	if !seLinuxTypes[o.Type] {
		bad = append(bad, fmt.Sprintf("type %q", o.Type))
	}
	if o.User != "" {
		bad = append(bad, fmt.Sprintf("user %q", o.User))
	}
	if o.Role != "" {
		bad = append(bad, fmt.Sprintf("role %q", o.Role))
	}
	return bad
}

func checkSELinux(p podView) *Violation {
	var details []string
	if sc := p.spec.SecurityContext; sc != nil {
		if bad := seLinuxBad(sc.SELinuxOptions); len(bad) > 0 {
			details = append(details, "pod set forbidden securityContext.seLinuxOptions: "+strings.Join(bad, ", "))
		}
	}
	for _, c := range p.containers() {
		if c.sc == nil {
			continue
		}
		if bad := seLinuxBad(c.sc.SELinuxOptions); len(bad) > 0 {
			details = append(details, fmt.Sprintf("container %q set forbidden securityContext.seLinuxOptions: %s", c.name, strings.Join(bad, ", ")))
		}
	}
	if len(details) == 0 {
		return nil
	}
	return &Violation{Reason: "seLinuxOptions", Detail: strings.Join(details, "; ")}
}

func checkProcMount(p podView) *Violation {
	var names []string
	var kinds []string
	seen := map[string]bool{}
	for _, c := range p.containers() {
		if c.sc != nil && c.sc.ProcMount != nil && *c.sc.ProcMount != corev1.DefaultProcMount {
			names = append(names, c.name)
			if k := string(*c.sc.ProcMount); !seen[k] {
				seen[k] = true
				kinds = append(kinds, k)
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	return &Violation{Reason: "procMount", Detail: fmt.Sprintf("%s must not set securityContext.procMount to %s", containersPhrase(names), quoteJoin(kinds))}
}

func seccompType(s *corev1.SeccompProfile) (corev1.SeccompProfileType, bool) {
	if s == nil {
		return "", false
	}
	return s.Type, true
}

func checkSeccompBaseline(p podView) *Violation {
	var details []string
	if sc := p.spec.SecurityContext; sc != nil {
		if t, ok := seccompType(sc.SeccompProfile); ok && t == corev1.SeccompProfileTypeUnconfined {
			details = append(details, `pod must not set securityContext.seccompProfile.type to "Unconfined"`)
		}
	}
	names := byContainer(p, func(c container) bool {
		if c.sc == nil {
			return false
		}
		t, ok := seccompType(c.sc.SeccompProfile)
		return ok && t == corev1.SeccompProfileTypeUnconfined
	})
	if len(names) > 0 {
		details = append(details, containersPhrase(names)+` must not set securityContext.seccompProfile.type to "Unconfined"`)
	}
	if len(details) == 0 {
		return nil
	}
	return &Violation{Reason: "seccompProfile", Detail: strings.Join(details, "; ")}
}

func checkSeccompRestricted(p podView) *Violation {
	if p.windows() {
		return nil
	}
	good := func(t corev1.SeccompProfileType) bool {
		return t == corev1.SeccompProfileTypeRuntimeDefault || t == corev1.SeccompProfileTypeLocalhost
	}
	var details []string
	podSet := false
	if sc := p.spec.SecurityContext; sc != nil {
		if t, ok := seccompType(sc.SeccompProfile); ok {
			podSet = true
			if !good(t) {
				details = append(details, fmt.Sprintf("pod must not set securityContext.seccompProfile.type to %q", t))
			}
		}
	}
	var badNames, badTypes, unset []string
	seen := map[string]bool{}
	for _, c := range p.containers() {
		var t corev1.SeccompProfileType
		ok := false
		if c.sc != nil {
			t, ok = seccompType(c.sc.SeccompProfile)
		}
		switch {
		case ok && !good(t):
			badNames = append(badNames, c.name)
			if !seen[string(t)] {
				seen[string(t)] = true
				badTypes = append(badTypes, string(t))
			}
		case !ok && !podSet:
			unset = append(unset, c.name)
		}
	}
	if len(badNames) > 0 {
		details = append(details, fmt.Sprintf("%s must not set securityContext.seccompProfile.type to %s", containersPhrase(badNames), quoteJoin(badTypes)))
	}
	if len(unset) > 0 {
		details = append(details, "pod or "+containersPhrase(unset)+` must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`)
	}
	if len(details) == 0 {
		return nil
	}
	return &Violation{Reason: "seccompProfile", Detail: strings.Join(details, "; ")}
}

// safeSysctls may be set at the baseline level.
var safeSysctls = map[string]bool{
	"kernel.shm_rmid_forced": true, "net.ipv4.ip_local_port_range": true, "net.ipv4.ip_unprivileged_port_start": true,
	"net.ipv4.tcp_syncookies": true, "net.ipv4.ping_group_range": true, "net.ipv4.ip_local_reserved_ports": true,
	"net.ipv4.tcp_keepalive_time": true, "net.ipv4.tcp_fin_timeout": true, "net.ipv4.tcp_keepalive_intvl": true,
	"net.ipv4.tcp_keepalive_probes": true, "net.ipv4.tcp_rmem": true, "net.ipv4.tcp_wmem": true,
}

func checkSysctls(p podView) *Violation {
	sc := p.spec.SecurityContext
	if sc == nil {
		return nil
	}
	var bad []string
	for _, s := range sc.Sysctls {
		if !safeSysctls[s.Name] {
			bad = append(bad, s.Name)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return &Violation{Reason: "forbidden sysctls", Detail: strings.Join(bad, ", ")}
}

// restrictedVolumeOK: the volume sources the restricted level allows.
func restrictedVolumeType(v corev1.Volume) string {
	s := v.VolumeSource
	switch {
	case s.ConfigMap != nil, s.CSI != nil, s.DownwardAPI != nil, s.EmptyDir != nil, s.Ephemeral != nil,
		s.PersistentVolumeClaim != nil, s.Projected != nil, s.Secret != nil, s.Image != nil:
		return ""
	case s.HostPath != nil:
		return "hostPath"
	case s.GCEPersistentDisk != nil:
		return "gcePersistentDisk"
	case s.AWSElasticBlockStore != nil:
		return "awsElasticBlockStore"
	case s.GitRepo != nil:
		return "gitRepo"
	case s.NFS != nil:
		return "nfs"
	case s.ISCSI != nil:
		return "iscsi"
	case s.Glusterfs != nil:
		return "glusterfs"
	case s.RBD != nil:
		return "rbd"
	case s.FlexVolume != nil:
		return "flexVolume"
	case s.Cinder != nil:
		return "cinder"
	case s.CephFS != nil:
		return "cephfs"
	case s.Flocker != nil:
		return "flocker"
	case s.FC != nil:
		return "fc"
	case s.AzureFile != nil:
		return "azureFile"
	case s.VsphereVolume != nil:
		return "vsphereVolume"
	case s.Quobyte != nil:
		return "quobyte"
	case s.AzureDisk != nil:
		return "azureDisk"
	case s.PhotonPersistentDisk != nil:
		return "photonPersistentDisk"
	case s.PortworxVolume != nil:
		return "portworxVolume"
	case s.ScaleIO != nil:
		return "scaleIO"
	case s.StorageOS != nil:
		return "storageos"
	}
	return "unknown"
}

func checkRestrictedVolumes(p podView) *Violation {
	var names, types []string
	seen := map[string]bool{}
	for _, v := range p.spec.Volumes {
		t := restrictedVolumeType(v)
		if t == "" {
			continue
		}
		names = append(names, v.Name)
		if !seen[t] {
			seen[t] = true
			types = append(types, t)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return &Violation{Reason: "restricted volume types", Detail: fmt.Sprintf("%s %s restricted volume %s %s",
		plural(len(names), "volume ", "volumes ")+quoteJoin(names), plural(len(names), "uses", "use"),
		plural(len(types), "type", "types"), quoteJoin(types))}
}

func checkAllowPrivilegeEscalation(p podView) *Violation {
	if p.windows() {
		return nil
	}
	names := byContainer(p, func(c container) bool {
		return c.sc == nil || c.sc.AllowPrivilegeEscalation == nil || *c.sc.AllowPrivilegeEscalation
	})
	if len(names) == 0 {
		return nil
	}
	return &Violation{Reason: "allowPrivilegeEscalation != false", Detail: containersPhrase(names) + " must set securityContext.allowPrivilegeEscalation=false"}
}

// userNamespaced: a pod in its own user namespace (hostUsers: false),
// whose root is not the host's: the non-root controls do not apply.
func (p podView) userNamespaced() bool { return p.spec.HostUsers != nil && !*p.spec.HostUsers }

func checkRunAsNonRoot(p podView) *Violation {
	if p.userNamespaced() {
		return nil
	}
	var details []string
	var pod *bool
	if sc := p.spec.SecurityContext; sc != nil {
		pod = sc.RunAsNonRoot
	}
	if pod != nil && !*pod {
		details = append(details, "pod must not set securityContext.runAsNonRoot=false")
	}
	var explicitFalse, unset []string
	for _, c := range p.containers() {
		var v *bool
		if c.sc != nil {
			v = c.sc.RunAsNonRoot
		}
		switch {
		case v != nil && !*v:
			explicitFalse = append(explicitFalse, c.name)
		case v == nil && (pod == nil || !*pod):
			unset = append(unset, c.name)
		}
	}
	if len(explicitFalse) > 0 {
		details = append(details, containersPhrase(explicitFalse)+" must not set securityContext.runAsNonRoot=false")
	}
	if len(unset) > 0 && (pod == nil) {
		details = append(details, "pod or "+containersPhrase(unset)+" must set securityContext.runAsNonRoot=true")
	}
	if len(details) == 0 {
		return nil
	}
	return &Violation{Reason: "runAsNonRoot != true", Detail: strings.Join(details, "; ")}
}

func checkRunAsUser(p podView) *Violation {
	if p.userNamespaced() {
		return nil
	}
	var details []string
	if sc := p.spec.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		details = append(details, "pod must not set runAsUser=0")
	}
	names := byContainer(p, func(c container) bool { return c.sc != nil && c.sc.RunAsUser != nil && *c.sc.RunAsUser == 0 })
	if len(names) > 0 {
		details = append(details, containersPhrase(names)+" must not set runAsUser=0")
	}
	if len(details) == 0 {
		return nil
	}
	return &Violation{Reason: "runAsUser=0", Detail: strings.Join(details, "; ")}
}
