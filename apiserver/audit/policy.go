package audit

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/kelson-dev/kelson/apiserver/authz"
	"sigs.k8s.io/yaml"
)

// Errors. Returned errors wrap these; check with errors.Is.
var (
	// ErrBadPolicy: the policy file is unusable; the message names the
	// field (rules[i]...) to fix.
	ErrBadPolicy = errors.New("audit: bad policy")
	// ErrBadConfig: a LogConfig is unusable.
	ErrBadConfig = errors.New("audit: bad log config")
)

// Level is how much of a request is recorded.
type Level string

// Levels, from nothing to everything.
const (
	LevelNone            Level = "None"
	LevelMetadata        Level = "Metadata"
	LevelRequest         Level = "Request"
	LevelRequestResponse Level = "RequestResponse"
)

// Less reports whether l records less than o.
func (l Level) Less(o Level) bool { return l.rank() < o.rank() }

func (l Level) rank() int {
	switch l {
	case LevelMetadata:
		return 1
	case LevelRequest:
		return 2
	case LevelRequestResponse:
		return 3
	}
	return 0
}

// Stage is a point of a request's life at which an event is recorded.
type Stage string

// Stages.
const (
	// StageRequestReceived: as soon as the request is read, before it is
	// served.
	StageRequestReceived Stage = "RequestReceived"
	// StageResponseStarted: a long-running request (watch, exec, logs)
	// sent its response headers.
	StageResponseStarted Stage = "ResponseStarted"
	// StageResponseComplete: the response is sent.
	StageResponseComplete Stage = "ResponseComplete"
	// StagePanic: the handler panicked.
	StagePanic Stage = "Panic"
)

// Policy is an audit.k8s.io/v1 Policy: rules in order, the first that
// matches a request decides its level; a request no rule matches is not
// recorded. Read-only after Parse; safe for concurrent use.
type Policy struct {
	typeMeta `json:",inline"`
	Metadata struct {
		Name string `json:"name,omitempty"`
	} `json:"metadata,omitempty"`
	Rules []Rule `json:"rules"`
	// OmitStages: stages never recorded, for every rule.
	OmitStages []Stage `json:"omitStages,omitempty"`
	// OmitManagedFields: leave metadata.managedFields out of recorded
	// request and response bodies, unless a rule says otherwise.
	OmitManagedFields bool `json:"omitManagedFields,omitempty"`
}

// typeMeta is a document's apiVersion and kind.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// Rule is one rule of a Policy. Every list given must match (an empty
// list matches anything).
type Rule struct {
	Level      Level    `json:"level"`
	Users      []string `json:"users,omitempty"`
	UserGroups []string `json:"userGroups,omitempty"`
	Verbs      []string `json:"verbs,omitempty"`
	// Resources: the rule matches resource requests of these only.
	Resources []GroupResources `json:"resources,omitempty"`
	// Namespaces: the rule matches resource requests in these only; ""
	// matches cluster-scoped resources.
	Namespaces []string `json:"namespaces,omitempty"`
	// NonResourceURLs: the rule matches non-resource requests of these
	// paths only; a trailing * matches a prefix ("/healthz*").
	NonResourceURLs   []string `json:"nonResourceURLs,omitempty"`
	OmitStages        []Stage  `json:"omitStages,omitempty"`
	OmitManagedFields *bool    `json:"omitManagedFields,omitempty"`
}

// GroupResources names resources of one API group ("" the core group).
// Resources: "pods", "pods/log" (a subresource), "*" (every resource and
// subresource), "pods/*" (pods and its subresources), "*/scale" (every
// scale subresource); empty: every resource of the group.
// ResourceNames: only objects of these names.
type GroupResources struct {
	Group         string   `json:"group,omitempty"`
	Resources     []string `json:"resources,omitempty"`
	ResourceNames []string `json:"resourceNames,omitempty"`
}

// LoadPolicy reads and checks a policy file (kube-apiserver's
// --audit-policy-file).
func LoadPolicy(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPolicy, err)
	}
	p, err := ParsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy checks a Policy document (YAML or JSON). Unknown fields
// are refused: a misspelt field must not silently widen or narrow a rule.
func ParsePolicy(data []byte) (*Policy, error) {
	var p Policy
	if err := yaml.Unmarshal(data, &p.typeMeta); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPolicy, err)
	}
	if p.Kind != "Policy" {
		return nil, fmt.Errorf("%w: kind %q: want Policy", ErrBadPolicy, p.Kind)
	}
	if p.APIVersion != "audit.k8s.io/v1" {
		return nil, fmt.Errorf("%w: apiVersion %q: want audit.k8s.io/v1", ErrBadPolicy, p.APIVersion)
	}
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPolicy, err)
	}
	if err := checkStages("omitStages", p.OmitStages); err != nil {
		return nil, err
	}
	for i, r := range p.Rules {
		at := fmt.Sprintf("rules[%d]", i)
		switch r.Level {
		case LevelNone, LevelMetadata, LevelRequest, LevelRequestResponse:
		default:
			return nil, fmt.Errorf("%w: %s.level %q: want None, Metadata, Request or RequestResponse", ErrBadPolicy, at, r.Level)
		}
		if len(r.NonResourceURLs) > 0 && (len(r.Resources) > 0 || len(r.Namespaces) > 0) {
			return nil, fmt.Errorf("%w: %s: nonResourceURLs cannot be combined with resources or namespaces (a request is one or the other)", ErrBadPolicy, at)
		}
		for j, u := range r.NonResourceURLs {
			if !strings.HasPrefix(u, "/") && u != "*" {
				return nil, fmt.Errorf("%w: %s.nonResourceURLs[%d] %q: want a path starting with / (a trailing * matches a prefix)", ErrBadPolicy, at, j, u)
			}
			if i := strings.Index(u, "*"); i >= 0 && i != len(u)-1 {
				return nil, fmt.Errorf("%w: %s.nonResourceURLs[%d] %q: * is allowed only at the end", ErrBadPolicy, at, j, u)
			}
		}
		for j, g := range r.Resources {
			for k, res := range g.Resources {
				if err := checkResource(res); err != nil {
					return nil, fmt.Errorf("%w: %s.resources[%d].resources[%d]: %w", ErrBadPolicy, at, j, k, err)
				}
				if len(g.ResourceNames) > 0 && strings.HasPrefix(res, "*") {
					return nil, fmt.Errorf("%w: %s.resources[%d]: resourceNames need named resources, not %q", ErrBadPolicy, at, j, res)
				}
			}
		}
		if err := checkStages(at+".omitStages", r.OmitStages); err != nil {
			return nil, err
		}
	}
	return &p, nil
}

func checkResource(res string) error {
	r, sub, hasSub := strings.Cut(res, "/")
	switch {
	case res == "" || r == "":
		return fmt.Errorf("%q: want a resource (pods), a subresource (pods/log), * or */scale", res)
	case hasSub && (sub == "" || strings.Contains(sub, "/")):
		return fmt.Errorf("%q: want resource/subresource", res)
	case r == "*" && hasSub && sub == "*":
		return fmt.Errorf("%q: say * for every resource and subresource", res)
	case strings.Contains(r, "*") && r != "*", strings.Contains(sub, "*") && sub != "*":
		return fmt.Errorf("%q: * is a whole resource or subresource name", res)
	}
	return nil
}

func checkStages(at string, ss []Stage) error {
	for i, s := range ss {
		switch s {
		case StageRequestReceived, StageResponseStarted, StageResponseComplete, StagePanic:
		default:
			return fmt.Errorf("%w: %s[%d] %q: want RequestReceived, ResponseStarted, ResponseComplete or Panic", ErrBadPolicy, at, i, s)
		}
	}
	return nil
}

// Decision is what a Policy says of one request.
type Decision struct {
	Level Level
	// OmitStages: the policy's and the matching rule's.
	OmitStages []Stage
	// OmitManagedFields: the rule's if it says, else the policy's.
	OmitManagedFields bool
}

// Records reports whether d records stage s.
func (d Decision) Records(s Stage) bool {
	return d.Level != LevelNone && !slices.Contains(d.OmitStages, s)
}

// Decide returns the level of a request (the first matching rule's;
// None when none matches). A request whose user is unknown (401) has a
// nil or empty a.User: rules naming users or groups do not match it. Pure.
func (p *Policy) Decide(a authz.Attributes) Decision {
	if p == nil {
		return Decision{Level: LevelNone}
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		if !r.matches(a) {
			continue
		}
		d := Decision{Level: r.Level, OmitManagedFields: p.OmitManagedFields}
		d.OmitStages = append(slices.Clone(p.OmitStages), r.OmitStages...)
		if r.OmitManagedFields != nil {
			d.OmitManagedFields = *r.OmitManagedFields
		}
		return d
	}
	return Decision{Level: LevelNone}
}

func (r *Rule) matches(a authz.Attributes) bool {
	var name string
	var groups []string
	if a.User != nil {
		name, groups = a.User.Name, a.User.Groups
	}
	if len(r.Users) > 0 && !slices.Contains(r.Users, name) {
		return false
	}
	if len(r.UserGroups) > 0 && !slices.ContainsFunc(groups, func(g string) bool { return slices.Contains(r.UserGroups, g) }) {
		return false
	}
	if len(r.Verbs) > 0 && !slices.Contains(r.Verbs, a.Verb) {
		return false
	}
	if len(r.Namespaces) > 0 || len(r.Resources) > 0 {
		if !a.ResourceRequest {
			return false
		}
		if len(r.Namespaces) > 0 && !slices.Contains(r.Namespaces, a.Namespace) {
			return false
		}
		if len(r.Resources) > 0 && !r.matchesResource(a) {
			return false
		}
	}
	if len(r.NonResourceURLs) > 0 {
		if a.ResourceRequest {
			return false
		}
		return slices.ContainsFunc(r.NonResourceURLs, func(u string) bool {
			if pre, ok := strings.CutSuffix(u, "*"); ok {
				return strings.HasPrefix(a.Path, pre)
			}
			return u == a.Path
		})
	}
	return true
}

func (r *Rule) matchesResource(a authz.Attributes) bool {
	full := a.Resource
	if a.Subresource != "" {
		full += "/" + a.Subresource
	}
	for _, g := range r.Resources {
		if g.Group != a.Group {
			continue
		}
		if len(g.ResourceNames) > 0 && !slices.Contains(g.ResourceNames, a.Name) {
			continue
		}
		if len(g.Resources) == 0 {
			return true
		}
		for _, res := range g.Resources {
			switch {
			case res == "*", res == full:
				return true
			case strings.HasPrefix(res, "*/"):
				if a.Subresource != "" && res[2:] == a.Subresource {
					return true
				}
			case strings.HasSuffix(res, "/*"):
				if res[:len(res)-2] == a.Resource {
					return true
				}
			}
		}
	}
	return false
}
