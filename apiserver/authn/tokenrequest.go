package authn

import (
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// TokenRequest's lifetimes, as kube-apiserver's.
const (
	// DefaultTokenLifetime is a TokenRequest's default expirationSeconds.
	DefaultTokenLifetime = time.Hour
	// MinTokenLifetime is the shortest a TokenRequest may ask for.
	MinTokenLifetime = 10 * time.Minute
	// MaxTokenLifetime is the longest a TokenRequest may ask for (the
	// server then cuts it to its own maximum).
	MaxTokenLifetime = 1 << 32 * time.Second
)

// TokenRequestSpec defaults and checks a TokenRequest's spec: audiences
// default to apiAudiences, the lifetime to an hour; a lifetime below 10
// minutes or above 2^32 seconds, or an empty audience, is invalid (422,
// in kube-apiserver's words); a lifetime above max is cut to max. The
// bound object is the caller's to check. Pure; in is not modified.
func TokenRequestSpec(in authenticationv1.TokenRequestSpec, apiAudiences []string, max time.Duration) (authenticationv1.TokenRequestSpec, field.ErrorList) {
	spec := *in.DeepCopy()
	if len(spec.Audiences) == 0 {
		spec.Audiences = append([]string(nil), apiAudiences...)
	}
	if spec.ExpirationSeconds == nil {
		secs := int64(DefaultTokenLifetime / time.Second)
		spec.ExpirationSeconds = &secs
	}
	var errs field.ErrorList
	path := field.NewPath("spec")
	switch secs := *spec.ExpirationSeconds; {
	case secs < int64(MinTokenLifetime/time.Second):
		errs = append(errs, field.Invalid(path.Child("expirationSeconds"), secs, "may not specify a duration less than 10 minutes"))
	case secs > int64(MaxTokenLifetime/time.Second):
		errs = append(errs, field.Invalid(path.Child("expirationSeconds"), secs, "may not specify a duration larger than 2^32 seconds"))
	case secs > int64(max/time.Second):
		capped := int64(max / time.Second)
		spec.ExpirationSeconds = &capped
	}
	for i, aud := range spec.Audiences {
		if aud == "" {
			errs = append(errs, field.Invalid(path.Child("audiences").Index(i), aud, "must not be empty"))
		}
	}
	if errs != nil {
		return spec, errs
	}
	return spec, nil
}
