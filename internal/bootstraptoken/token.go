package bootstraptoken

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The layout of a bootstrap token Secret, as Kubernetes defines it.
const (
	// Namespace holds every bootstrap token Secret.
	Namespace = "kube-system"
	// SecretPrefix + the token's ID is the Secret's name.
	SecretPrefix = "bootstrap-token-"
	// SecretType is the Secret's type.
	SecretType corev1.SecretType = "bootstrap.kubernetes.io/token"

	KeyID          = "token-id"
	KeySecret      = "token-secret"
	KeyExpiration  = "expiration"
	KeyDescription = "description"
	KeyExtraGroups = "auth-extra-groups"
	// KeyUsagePrefix + a usage ("authentication", "signing") = "true"
	// allows the token that use.
	KeyUsagePrefix  = "usage-bootstrap-"
	UsageAuthn      = "authentication"
	KeyUsageAuthn   = KeyUsagePrefix + UsageAuthn
	KeyUsageSigning = KeyUsagePrefix + "signing"

	// UserPrefix + the ID is the user a token authenticates as; every
	// token is in Group, and in its auth-extra-groups.
	UserPrefix = "system:bootstrap:"
	Group      = "system:bootstrappers"
)

// ErrInvalid marks a token or a Secret that does not authenticate: the
// message says why, never with the secret.
var ErrInvalid = errors.New("bootstraptoken: invalid token")

var (
	tokenRE      = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)
	idRE         = regexp.MustCompile(`^[a-z0-9]{6}$`)
	extraGroupRE = regexp.MustCompile(`^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$`)
)

// Token is a bootstrap token: ID (6 characters [a-z0-9], public: it names
// the Secret) and Secret (16 characters [a-z0-9]).
type Token struct {
	ID, Secret string
}

// String is the bearer form "<id>.<secret>".
func (t Token) String() string { return t.ID + "." + t.Secret }

// Parse reads "<id>.<secret>".
func Parse(s string) (Token, error) {
	m := tokenRE.FindStringSubmatch(s)
	if m == nil {
		return Token{}, fmt.Errorf("%w: want <id>.<secret>, 6 and 16 characters of a-z and 0-9", ErrInvalid)
	}
	return Token{ID: m[1], Secret: m[2]}, nil
}

// IsToken reports whether s has the form of a bootstrap token.
func IsToken(s string) bool { return tokenRE.MatchString(s) }

// CheckID accepts a token ID (what `kelson token delete` takes).
func CheckID(id string) error {
	if !idRE.MatchString(id) {
		return fmt.Errorf("%w: token ID %q: want 6 characters of a-z and 0-9", ErrInvalid, id)
	}
	return nil
}

// CheckExtraGroup accepts an auth-extra-groups entry:
// system:bootstrappers:<more>.
func CheckExtraGroup(g string) error {
	if !extraGroupRE.MatchString(g) {
		return fmt.Errorf("%w: group %q: want system:bootstrappers:<name> (a-z, 0-9, ':' and '-')", ErrInvalid, g)
	}
	return nil
}

const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// Generate makes a random token from crypto/rand.
func Generate() (Token, error) {
	s, err := randomString(6 + 16)
	if err != nil {
		return Token{}, err
	}
	return Token{ID: s[:6], Secret: s[6:]}, nil
}

func randomString(n int) (string, error) {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("bootstraptoken: random: %w", err)
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b), nil
}

// Options are what `kelson token create` sets on a token.
type Options struct {
	// TTL is how long the token authenticates from Now; 0 = forever.
	TTL time.Duration
	// Description is free text shown by `kelson token list`.
	Description string
	// ExtraGroups are more groups of the token's user, each
	// system:bootstrappers:<name>.
	ExtraGroups []string
	// Now is the time the TTL starts.
	Now time.Time
}

// Secret lays t out as the Secret kube-system/bootstrap-token-<id>, with
// usage-bootstrap-authentication "true".
func Secret(t Token, o Options) (*corev1.Secret, error) {
	if _, err := Parse(t.String()); err != nil {
		return nil, err
	}
	if o.TTL < 0 {
		return nil, fmt.Errorf("%w: negative TTL %v", ErrInvalid, o.TTL)
	}
	data := map[string][]byte{
		KeyID:         []byte(t.ID),
		KeySecret:     []byte(t.Secret),
		KeyUsageAuthn: []byte("true"),
	}
	if o.TTL > 0 {
		data[KeyExpiration] = []byte(o.Now.Add(o.TTL).UTC().Format(time.RFC3339))
	}
	if o.Description != "" {
		data[KeyDescription] = []byte(o.Description)
	}
	if len(o.ExtraGroups) > 0 {
		for _, g := range o.ExtraGroups {
			if err := CheckExtraGroup(g); err != nil {
				return nil, err
			}
		}
		data[KeyExtraGroups] = []byte(strings.Join(o.ExtraGroups, ","))
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: SecretPrefix + t.ID, Namespace: Namespace},
		Type:       SecretType,
		Data:       data,
	}, nil
}

// Info is what a token Secret says, without its secret.
type Info struct {
	ID          string
	Expires     time.Time // zero: never
	Usages      []string
	Description string
	ExtraGroups []string
}

// Read reads a bootstrap token Secret (of the right name and type).
func Read(s *corev1.Secret) (Info, error) {
	if s.Type != SecretType {
		return Info{}, fmt.Errorf("%w: Secret %s/%s is of type %q, not %s", ErrInvalid, s.Namespace, s.Name, s.Type, SecretType)
	}
	id := string(s.Data[KeyID])
	if s.Name != SecretPrefix+id || CheckID(id) != nil {
		return Info{}, fmt.Errorf("%w: Secret %s/%s holds token ID %q, which does not match its name", ErrInvalid, s.Namespace, s.Name, id)
	}
	in := Info{ID: id, Description: string(s.Data[KeyDescription])}
	if e := s.Data[KeyExpiration]; len(e) > 0 {
		t, err := time.Parse(time.RFC3339, string(e))
		if err != nil {
			return Info{}, fmt.Errorf("%w: Secret %s/%s: expiration %q is not RFC 3339", ErrInvalid, s.Namespace, s.Name, e)
		}
		in.Expires = t
	}
	for k, v := range s.Data {
		if u, ok := strings.CutPrefix(k, KeyUsagePrefix); ok && string(v) == "true" {
			in.Usages = append(in.Usages, u)
		}
	}
	slices.Sort(in.Usages)
	if g := strings.TrimSpace(string(s.Data[KeyExtraGroups])); g != "" {
		for _, x := range strings.Split(g, ",") {
			in.ExtraGroups = append(in.ExtraGroups, strings.TrimSpace(x))
		}
	}
	return in, nil
}

// Expired reports whether the Secret's token has expired at now (a Secret
// without an expiration never does).
func (in Info) Expired(now time.Time) bool {
	return !in.Expires.IsZero() && !now.Before(in.Expires)
}

// Authenticate checks t against its Secret s at now, as Kubernetes'
// bootstrap token authenticator, and returns the user and groups the
// token authenticates as. The token authenticates only if s is
// kube-system/bootstrap-token-<t.ID> of type bootstrap.kubernetes.io/token
// holding token-id t.ID and token-secret t.Secret (compared in constant
// time), usage-bootstrap-authentication is "true", s is not being
// deleted, expiration (if any) is a time after now, and every entry of
// auth-extra-groups (if not empty) is system:bootstrappers:<name>. The
// secret is checked before anything else the Secret says is reported, so
// a caller without it learns nothing of the Secret but its existence.
// Every error wraps ErrInvalid and none holds the secret.
func Authenticate(s *corev1.Secret, t Token, now time.Time) (user string, groups []string, err error) {
	if s.Namespace != Namespace || s.Name != SecretPrefix+t.ID {
		return "", nil, fmt.Errorf("%w: token %s: its Secret is %s/%s, not %s/%s%s", ErrInvalid, t.ID, s.Namespace, s.Name, Namespace, SecretPrefix, t.ID)
	}
	if s.Type != SecretType {
		return "", nil, fmt.Errorf("%w: token %s: Secret %s/%s is of type %q, not %s", ErrInvalid, t.ID, s.Namespace, s.Name, s.Type, SecretType)
	}
	// Constant time over the secret; the ID is public (it names the Secret).
	secretOK := subtle.ConstantTimeCompare(s.Data[KeySecret], []byte(t.Secret)) == 1
	if string(s.Data[KeyID]) != t.ID || !secretOK {
		return "", nil, fmt.Errorf("%w: token %s: the secret does not match", ErrInvalid, t.ID)
	}
	if string(s.Data[KeyUsageAuthn]) != "true" {
		return "", nil, fmt.Errorf("%w: token %s is not allowed for authentication (%s is not \"true\")", ErrInvalid, t.ID, KeyUsageAuthn)
	}
	if s.DeletionTimestamp != nil {
		return "", nil, fmt.Errorf("%w: token %s is being deleted", ErrInvalid, t.ID)
	}
	if e := s.Data[KeyExpiration]; len(e) > 0 {
		exp, err := time.Parse(time.RFC3339, string(e))
		if err != nil {
			return "", nil, fmt.Errorf("%w: token %s: unreadable %s %q (want RFC 3339): treated as expired", ErrInvalid, t.ID, KeyExpiration, e)
		}
		if !now.Before(exp) {
			return "", nil, fmt.Errorf("%w: token %s expired at %s", ErrInvalid, t.ID, exp.UTC().Format(time.RFC3339))
		}
	}
	groups = []string{Group}
	// As Kubernetes: a non-empty value is split at commas and every entry
	// must be a valid group (spaces around an entry are tolerated).
	if extra := string(s.Data[KeyExtraGroups]); extra != "" {
		for _, g := range strings.Split(extra, ",") {
			g = strings.TrimSpace(g)
			if !extraGroupRE.MatchString(g) {
				return "", nil, fmt.Errorf("%w: token %s: %s holds %q, not a group system:bootstrappers:<name>", ErrInvalid, t.ID, KeyExtraGroups, g)
			}
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	return UserPrefix + t.ID, groups, nil
}
