package apiserver

// User impersonation (kubectl --as, --as-group, --as-uid; the
// Impersonate-* headers), as Kubernetes documents it: a request may act as
// another user when its sender is allowed the verb "impersonate" on each
// part of that identity. parseImpersonation is the decision (headers ->
// the identity wanted and the checks it needs), pure; impersonate asks the
// authorizer and carries it out.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/apiserver/authz"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The impersonation headers (authentication.k8s.io/v1's names).
const (
	impersonateUser        = "Impersonate-User"
	impersonateGroup       = "Impersonate-Group"
	impersonateUID         = "Impersonate-Uid"
	impersonateExtraPrefix = "Impersonate-Extra-"
	impersonatePrefix      = "impersonate-" // every one of them, lower case
)

// impersonation is what a request's Impersonate-* headers ask for.
type impersonation struct {
	// User is the identity the request acts as once every check allows.
	User *authn.User
	// Checks are the "impersonate" requests the sender must be allowed,
	// in order: the user (or service account), each group, each extra
	// value, the UID. Their User is the sender.
	Checks []authz.Attributes
}

// parseImpersonation reads h's impersonation headers for sender. ok is
// false when there are none (the request acts as its sender); err (a 400)
// when they ask for groups, extras or a UID without a user. Header names
// are matched case-insensitively; an extra's key is the rest of its header
// name, lower case and percent-decoded. Pure.
func parseImpersonation(h http.Header, sender *authn.User) (imp impersonation, ok bool, err error) {
	var userName, uid string
	var groups []string
	var extraKeys []string
	extra := map[string][]string{}
	for name, vals := range h {
		lname := strings.ToLower(name)
		if !strings.HasPrefix(lname, impersonatePrefix) || len(vals) == 0 {
			continue
		}
		switch {
		case lname == strings.ToLower(impersonateUser):
			if userName == "" {
				userName = vals[0]
			}
		case lname == strings.ToLower(impersonateUID):
			if uid == "" {
				uid = vals[0]
			}
		case lname == strings.ToLower(impersonateGroup):
			groups = append(groups, vals...)
		case strings.HasPrefix(lname, strings.ToLower(impersonateExtraPrefix)):
			key := lname[len(impersonateExtraPrefix):]
			if k, err := url.PathUnescape(key); err == nil {
				key = k
			}
			if _, seen := extra[key]; !seen {
				extraKeys = append(extraKeys, key)
			}
			extra[key] = append(extra[key], vals...)
		}
	}
	slices.Sort(extraKeys) // a map's order is random; the checks' is not
	if userName == "" && len(groups) == 0 && len(extra) == 0 && uid == "" {
		return impersonation{}, false, nil
	}

	check := func(group, resource, sub, ns, name string) authz.Attributes {
		return authz.Attributes{User: sender, Verb: "impersonate", ResourceRequest: true,
			Group: group, Resource: resource, Subresource: sub, Namespace: ns, Name: name}
	}
	var checks []authz.Attributes
	saNS, saName, isSA := splitServiceAccount(userName)
	switch {
	case userName == "":
	case isSA:
		checks = append(checks, check("", "serviceaccounts", "", saNS, saName))
	default:
		checks = append(checks, check("", "users", "", "", userName))
	}
	for _, g := range groups {
		checks = append(checks, check("", "groups", "", "", g))
	}
	for _, k := range extraKeys {
		for _, v := range extra[k] {
			checks = append(checks, check(authenticationGroup, "userextras", k, "", v))
		}
	}
	if uid != "" {
		checks = append(checks, check(authenticationGroup, "uids", "", "", uid))
	}
	if userName == "" {
		var asked []string
		for _, c := range checks {
			what := strings.TrimSuffix(c.Resource, "s")
			if c.Subresource != "" {
				what += " " + c.Subresource
			}
			asked = append(asked, fmt.Sprintf("%s %q", what, c.Name))
		}
		return impersonation{}, false, apierrors.NewBadRequest(fmt.Sprintf(
			"requested [%s] without impersonating a user: add the %s header (kubectl --as)", strings.Join(asked, ", "), impersonateUser))
	}

	u := &authn.User{Name: userName, UID: uid, Groups: groups}
	if len(extra) > 0 {
		u.Extra = extra
	}
	if isSA && len(groups) == 0 { // a service account's groups are known
		u.Groups = []string{authn.ServiceAccountsAll, authn.ServiceAccountGroup + saNS}
	}
	switch {
	case userName == authn.Anonymous:
		if !slices.Contains(u.Groups, authn.AllUnauthenticated) {
			u.Groups = append(u.Groups, authn.AllUnauthenticated)
		}
	case !slices.Contains(u.Groups, authn.AllAuthenticated) && !slices.Contains(u.Groups, authn.AllUnauthenticated):
		u.Groups = append(u.Groups, authn.AllAuthenticated)
	}
	return impersonation{User: u, Checks: checks}, true, nil
}

// splitServiceAccount splits system:serviceaccount:<ns>:<name>; ok is
// false for any other name (then it is impersonated as a plain user).
func splitServiceAccount(user string) (ns, name string, ok bool) {
	rest, found := strings.CutPrefix(user, authn.ServiceAccountUser)
	if !found {
		return "", "", false
	}
	ns, name, found = strings.Cut(rest, ":")
	if !found || ns == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return ns, name, true
}

// impersonationForbidden is the 403 of a refused impersonate check, in
// kube-apiserver's words: `users "jane" is forbidden: User "bob" cannot
// impersonate resource "users" in API group "" at the cluster scope`.
func impersonationForbidden(a authz.Attributes, reason string) error {
	msg := a.Describe()
	if reason != "" {
		msg += ": " + reason
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: a.Group, Resource: a.Resource}, a.Name, errors.New(msg))
}

// impersonate returns who r acts as: sender, or the user its
// Impersonate-* headers name once the authorizer allows sender each
// check (then the headers are removed from r). The error is the
// request's 400 or 403.
func (s *Server) impersonate(ctx context.Context, r *http.Request, sender *authn.User) (*authn.User, error) {
	imp, ok, err := parseImpersonation(r.Header, sender)
	if err != nil || !ok {
		return sender, err
	}
	for _, a := range imp.Checks {
		d, reason, err := s.authz.Authorize(ctx, a)
		if err != nil {
			s.log.Warn("impersonation authorization failed", "user", sender.Name, "resource", a.Resource, "err", err)
		}
		if d != authz.Allow {
			return nil, impersonationForbidden(a, reason)
		}
	}
	for name := range r.Header {
		if strings.HasPrefix(strings.ToLower(name), impersonatePrefix) {
			delete(r.Header, name)
		}
	}
	return imp.User, nil
}

// impersonated records, on the audit event, the user the request acts as.
func (ar *auditRecord) impersonated(u *authn.User) {
	if ar == nil {
		return
	}
	ui := authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: slices.Clone(u.Groups)}
	for k, v := range u.Extra {
		if ui.Extra == nil {
			ui.Extra = map[string]authenticationv1.ExtraValue{}
		}
		ui.Extra[k] = slices.Clone(v)
	}
	ar.ev.ImpersonatedUser = &ui
}
