package encryption

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// Errors. Returned errors wrap these; check with errors.Is.
var (
	// ErrBadConfig: the EncryptionConfiguration file is unusable; the
	// message names the field (resources[i].providers[j]...) to fix.
	ErrBadConfig = errors.New("encryption: bad configuration")
	// ErrUnknownKey: a stored value names a provider and key the
	// configuration does not list for its resource (a key removed too
	// early, or another cluster's data).
	ErrUnknownKey = errors.New("encryption: no configured key for the stored value")
	// ErrNotEncrypted: a stored value is not encrypted and the resource's
	// providers do not include identity.
	ErrNotEncrypted = errors.New("encryption: the stored value is not encrypted")
	// ErrDecrypt: the configured key did not decrypt the value (a wrong
	// key of the same name, a tampered value, or one copied from another
	// store key under aesgcm).
	ErrDecrypt = errors.New("encryption: cannot decrypt the stored value")
)

// The file's own shape: apiserver.config.k8s.io/v1 EncryptionConfiguration,
// read into these structs (the k8s.io/apiserver types are not a
// dependency).
type fileConfig struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Resources  []fileResources `json:"resources"`
}

type fileResources struct {
	Resources []string       `json:"resources"`
	Providers []fileProvider `json:"providers"`
}

type fileProvider struct {
	AESGCM    *fileKeys `json:"aesgcm,omitempty"`
	AESCBC    *fileKeys `json:"aescbc,omitempty"`
	Secretbox *fileKeys `json:"secretbox,omitempty"`
	Identity  *struct{} `json:"identity,omitempty"`
	KMS       *struct {
		Name string `json:"name"`
	} `json:"kms,omitempty"`
}

type fileKeys struct {
	Keys []fileKey `json:"keys"`
}

type fileKey struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
}

// Load reads and checks an EncryptionConfiguration file (the file of
// kube-apiserver's --encryption-provider-config).
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse checks an EncryptionConfiguration document (YAML or JSON) and
// builds its transformers. Unknown fields are refused: a misspelt
// provider must not silently leave data unencrypted.
func Parse(data []byte) (*Config, error) {
	var f fileConfig
	var tm struct{ APIVersion, Kind string }
	if err := yaml.Unmarshal(data, &tm); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	if tm.Kind != "EncryptionConfiguration" {
		return nil, fmt.Errorf("%w: kind %q: want EncryptionConfiguration", ErrBadConfig, tm.Kind)
	}
	if tm.APIVersion != "apiserver.config.k8s.io/v1" {
		return nil, fmt.Errorf("%w: apiVersion %q: want apiserver.config.k8s.io/v1", ErrBadConfig, tm.APIVersion)
	}
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	if len(f.Resources) == 0 {
		return nil, fmt.Errorf("%w: resources: at least one entry is required", ErrBadConfig)
	}
	c := &Config{}
	for i, fr := range f.Resources {
		at := fmt.Sprintf("resources[%d]", i)
		if len(fr.Resources) == 0 {
			return nil, fmt.Errorf("%w: %s.resources: at least one resource is required (e.g. secrets)", ErrBadConfig, at)
		}
		if len(fr.Providers) == 0 {
			return nil, fmt.Errorf("%w: %s.providers: at least one provider is required (e.g. aescbc, then identity)", ErrBadConfig, at)
		}
		t, err := newTransformer(at, fr.Providers)
		if err != nil {
			return nil, err
		}
		for j, name := range fr.Resources {
			m, err := parseMatcher(name)
			if err != nil {
				return nil, fmt.Errorf("%w: %s.resources[%d]: %w", ErrBadConfig, at, j, err)
			}
			for _, prev := range c.rules {
				if prev.m.covers(m) {
					return nil, fmt.Errorf("%w: %s.resources[%d] %q is never used: %s (an earlier entry) already covers it; list it once, before any wildcard that includes it",
						ErrBadConfig, at, j, name, prev.m)
				}
			}
			c.rules = append(c.rules, rule{m: m, t: t})
		}
	}
	return c, nil
}

// matcher is one entry of resources[].resources: "secrets" (core group),
// "deployments.apps", "*.apps" (every resource of a group), "*." (every
// core resource), "*.*" (everything, custom resources included).
type matcher struct {
	resource, group string // resource "*": any; group "*": any
}

func (m matcher) String() string {
	switch {
	case m.resource == "*" && m.group == "*":
		return "*.*"
	case m.group == "":
		if m.resource == "*" {
			return "*."
		}
		return m.resource
	}
	return m.resource + "." + m.group
}

func parseMatcher(s string) (matcher, error) {
	if s == "" || strings.TrimSpace(s) != s {
		return matcher{}, fmt.Errorf("%q is not a resource name (want secrets, deployments.apps, *.apps, *. or *.*)", s)
	}
	res, group, _ := strings.Cut(s, ".")
	if strings.Contains(res, "/") {
		return matcher{}, fmt.Errorf("%q: subresources are stored with their resource; name the resource only", s)
	}
	if group == "*" && res != "*" {
		return matcher{}, fmt.Errorf("%q: a wildcard group needs a wildcard resource (*.*)", s)
	}
	if strings.Contains(res, "*") && res != "*" || strings.Contains(group, "*") && group != "*" {
		return matcher{}, fmt.Errorf("%q: a wildcard is a whole resource or group name (*.apps, *.*)", s)
	}
	if res == "*" && s == "*" {
		return matcher{}, fmt.Errorf("%q: say *.* for every resource, or *. for every core resource", s)
	}
	return matcher{resource: res, group: group}, nil
}

// matches reports whether gr is one of m's resources.
func (m matcher) matches(gr schema.GroupResource) bool {
	return (m.group == "*" || m.group == gr.Group) && (m.resource == "*" || m.resource == gr.Resource)
}

// covers reports whether every resource o names is one m names too.
func (m matcher) covers(o matcher) bool {
	groupOK := m.group == "*" || m.group == o.group
	resOK := m.resource == "*" || m.resource == o.resource
	return groupOK && resOK
}

type rule struct {
	m matcher
	t *Transformer
}

// Config is a parsed EncryptionConfiguration: which resources are
// encrypted, and how. Read-only after Parse; safe for concurrent use.
type Config struct {
	rules []rule
}

// For returns the transformer of resource gr (the first entry naming it
// wins, as kube-apiserver's order); nil when no entry names it — nil is
// a valid Transformer that stores values as they are.
func (c *Config) For(gr schema.GroupResource) *Transformer {
	if c == nil {
		return nil
	}
	for _, r := range c.rules {
		if r.m.matches(gr) {
			return r.t
		}
	}
	return nil
}

// newTransformer builds the transformer of one resources[] entry (at
// names it in errors).
func newTransformer(at string, ps []fileProvider) (*Transformer, error) {
	t := &Transformer{readers: map[string]provider{}}
	for j, p := range ps {
		pat := fmt.Sprintf("%s.providers[%d]", at, j)
		n := 0
		for _, set := range []bool{p.AESGCM != nil, p.AESCBC != nil, p.Secretbox != nil, p.Identity != nil, p.KMS != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return nil, fmt.Errorf("%w: %s: exactly one of aescbc, aesgcm, secretbox, identity is required, got %d", ErrBadConfig, pat, n)
		}
		var kind string
		var keys *fileKeys
		switch {
		case p.KMS != nil:
			return nil, fmt.Errorf("%w: %s: the kms provider is not supported by Kelson (it needs a KMS plugin over gRPC); use aescbc, aesgcm or secretbox with a key in this file", ErrBadConfig, pat)
		case p.Identity != nil:
			if t.identity {
				return nil, fmt.Errorf("%w: %s: identity is listed twice", ErrBadConfig, pat)
			}
			t.identity = true // first: writer stays nil, new values are stored as they are
			continue
		case p.AESCBC != nil:
			kind, keys = "aescbc", p.AESCBC
		case p.AESGCM != nil:
			kind, keys = "aesgcm", p.AESGCM
		case p.Secretbox != nil:
			kind, keys = "secretbox", p.Secretbox
		}
		if len(keys.Keys) == 0 {
			return nil, fmt.Errorf("%w: %s.%s.keys: at least one key is required", ErrBadConfig, pat, kind)
		}
		for k, key := range keys.Keys {
			kat := fmt.Sprintf("%s.%s.keys[%d]", pat, kind, k)
			if key.Name == "" {
				return nil, fmt.Errorf("%w: %s.name is required", ErrBadConfig, kat)
			}
			if strings.ContainsAny(key.Name, ": \t\n") {
				return nil, fmt.Errorf("%w: %s.name %q: a key name cannot contain ':' or spaces (it is part of every stored value's prefix)", ErrBadConfig, kat, key.Name)
			}
			if key.Secret == "" {
				return nil, fmt.Errorf("%w: %s.secret is required: a base64-encoded random key (head -c 32 /dev/urandom | base64)", ErrBadConfig, kat)
			}
			raw, err := base64.StdEncoding.DecodeString(key.Secret)
			if err != nil {
				return nil, fmt.Errorf("%w: %s.secret is not valid base64 (the key itself is not shown): generate one with: head -c 32 /dev/urandom | base64", ErrBadConfig, kat)
			}
			pv, err := newProvider(kind, key.Name, raw)
			if err != nil {
				return nil, fmt.Errorf("%w: %s.secret: %w", ErrBadConfig, kat, err)
			}
			if _, dup := t.readers[pv.prefix()]; dup {
				return nil, fmt.Errorf("%w: %s.name %q: two %s keys have this name; names must be unique in a provider", ErrBadConfig, kat, key.Name, kind)
			}
			t.readers[pv.prefix()] = pv
			if j == 0 && k == 0 {
				t.writer = pv
			}
		}
	}
	return t, nil
}
