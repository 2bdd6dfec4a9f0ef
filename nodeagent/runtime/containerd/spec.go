package containerd

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	capability "github.com/containerd/containerd/v2/pkg/cap"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// processArgs applies Kubernetes' rule for command and args over the
// image's entrypoint and cmd:
//
//	command  args   -> runs
//	-        -      -> entrypoint + cmd
//	-        set    -> entrypoint + args
//	set      -      -> command
//	set      set    -> command + args
func processArgs(entrypoint, cmd, command, args []string) []string {
	var out []string
	switch {
	case len(command) > 0:
		out = append(append(out, command...), args...)
	case len(args) > 0:
		out = append(append(out, entrypoint...), args...)
	default:
		out = append(append(out, entrypoint...), cmd...)
	}
	return out
}

// mergeEnv is the image's environment overridden by the spec's, in order:
// a later KEY= replaces an earlier one in place; new keys are appended.
func mergeEnv(lists ...[]string) []string {
	var out []string
	pos := map[string]int{}
	for _, list := range lists {
		for _, kv := range list {
			k, _, _ := strings.Cut(kv, "=")
			if i, ok := pos[k]; ok {
				out[i] = kv
				continue
			}
			pos[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// normalizeCap spells a capability as the OCI spec does: "net_admin" and
// "NET_ADMIN" become "CAP_NET_ADMIN".
func normalizeCap(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	if c == "ALL" || strings.HasPrefix(c, "CAP_") {
		return c
	}
	return "CAP_" + c
}

// capabilities applies a security context's drop, then add, to base, as
// Kubernetes documents (drop ALL then add some keeps just those; add ALL
// gives every capability in all).
func capabilities(base, all, add, drop []string) []string {
	set := slices.Clone(base)
	for _, d := range drop {
		d = normalizeCap(d)
		if d == "ALL" {
			set = nil
			continue
		}
		set = slices.DeleteFunc(set, func(c string) bool { return c == d })
	}
	for _, a := range add {
		a = normalizeCap(a)
		if a == "ALL" {
			for _, c := range all {
				if !slices.Contains(set, c) {
					set = append(set, c)
				}
			}
			continue
		}
		if !slices.Contains(set, a) {
			set = append(set, a)
		}
	}
	return set
}

// cpuShares converts a CPU request in millicores to cpu.shares (1024 a
// core, at least 2, the kernel's minimum).
func cpuShares(milli int64) uint64 {
	return uint64(max(milli*1024/1000, 2))
}

// cfsPeriod is the CFS period in µs; cpuQuota the quota of a CPU limit in
// millicores over it (at least 1 ms, the kernel's minimum).
const cfsPeriod = 100_000

func cpuQuota(milli int64) int64 {
	return max(milli*cfsPeriod/1000, 1000)
}

// withCapabilityChanges applies drop then add to the spec's bounding set
// and makes it the effective and permitted sets too. "ALL" in add means
// every capability the agent itself has (pkg/cap.Current).
func withCapabilityChanges(add, drop []string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		var base []string
		if s.Process.Capabilities != nil {
			base = s.Process.Capabilities.Bounding
		}
		var all []string
		if slices.ContainsFunc(add, func(c string) bool { return normalizeCap(c) == "ALL" }) {
			cur, err := capability.Current()
			if err != nil {
				return fmt.Errorf("read the agent's capabilities for add ALL: %w", err)
			}
			all = cur
		}
		caps := capabilities(base, all, add, drop)
		s.Process.Capabilities = &specs.LinuxCapabilities{
			Bounding:  slices.Clone(caps),
			Effective: slices.Clone(caps),
			Permitted: slices.Clone(caps),
		}
		return nil
	}
}

// withoutNegativeOOMScore drops a negative oom_score_adj: writing one
// needs CAP_SYS_RESOURCE, which the agent may lack, and runc then fails
// to start the container.
func withoutNegativeOOMScore(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	if s.Process != nil && s.Process.OOMScoreAdj != nil && *s.Process.OOMScoreAdj < 0 {
		s.Process.OOMScoreAdj = nil
	}
	return nil
}

// specOpts are the OCI spec options of one instance of spec on an image
// whose configuration is img, applied over containerd's default spec.
func specOpts(spec runtime.ContainerSpec, img ocispec.ImageConfig) []oci.SpecOpts {
	opts := []oci.SpecOpts{
		oci.WithDefaultUnixDevices,
		oci.WithProcessArgs(processArgs(img.Entrypoint, img.Cmd, spec.Command, spec.Args)...),
		oci.WithEnv(mergeEnv(img.Env, spec.Env)),
		// Kubernetes' default (allowPrivilegeEscalation unset = true).
		oci.WithNewPrivileges,
	}
	cwd := spec.WorkingDir
	if cwd == "" {
		cwd = img.WorkingDir
	}
	if cwd != "" {
		opts = append(opts, oci.WithProcessCwd(cwd))
	}
	if spec.Hostname != "" {
		opts = append(opts, oci.WithHostname(spec.Hostname))
	}
	if spec.NetNSPath != "" {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: spec.NetNSPath}))
	} else {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace))
	}
	if len(spec.Mounts) > 0 {
		var ms []specs.Mount
		for _, m := range spec.Mounts {
			o := []string{"rbind", "rprivate"}
			if m.ReadOnly {
				o = append(o, "ro")
			}
			ms = append(ms, specs.Mount{Type: "bind", Source: m.HostPath, Destination: m.ContainerPath, Options: o})
		}
		opts = append(opts, oci.WithMounts(ms))
	}
	if r := spec.Resources; r.CPURequestMilli > 0 {
		opts = append(opts, oci.WithCPUShares(cpuShares(r.CPURequestMilli)))
	}
	if r := spec.Resources; r.CPULimitMilli > 0 {
		opts = append(opts, oci.WithCPUCFS(cpuQuota(r.CPULimitMilli), cfsPeriod))
	}
	if r := spec.Resources; r.MemoryLimitBytes > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(r.MemoryLimitBytes)))
	}
	sec := spec.Security
	switch {
	case sec.RunAsUser != nil && sec.RunAsGroup != nil:
		opts = append(opts, oci.WithUIDGID(uint32(*sec.RunAsUser), uint32(*sec.RunAsGroup)))
	case sec.RunAsUser != nil:
		opts = append(opts, oci.WithUserID(uint32(*sec.RunAsUser)))
	case img.User != "":
		opts = append(opts, oci.WithUser(img.User))
	}
	if sec.RunAsUser == nil && sec.RunAsGroup != nil {
		gid := uint32(*sec.RunAsGroup)
		opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			s.Process.User.GID = gid
			return nil
		})
	}
	if sec.Privileged {
		opts = append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices)
		if len(sec.DropCapabilities) > 0 {
			opts = append(opts, withCapabilityChanges(nil, sec.DropCapabilities))
		}
	} else if len(sec.AddCapabilities) > 0 || len(sec.DropCapabilities) > 0 {
		opts = append(opts, withCapabilityChanges(sec.AddCapabilities, sec.DropCapabilities))
	}
	if sec.ReadOnlyRootFilesystem {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	if spec.TTY {
		opts = append(opts, oci.WithTTY)
	}
	return append(opts, withoutNegativeOOMScore)
}
