package node

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The --node-label and --node-taint flags: pure parsers with errors that
// say what was expected.

// ParseLabels parses --node-label values: each KEY=VALUE, or several
// separated by commas ("a=1,b=2"). A key given twice keeps its last
// value. Keys are qualified names (prefix/name), values label values.
func ParseLabels(values []string) (map[string]string, error) {
	out := map[string]string{}
	var errs []error
	for _, v := range values {
		for item := range strings.SplitSeq(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			k, val, ok := strings.Cut(item, "=")
			if !ok {
				errs = append(errs, fmt.Errorf("node label %q: want KEY=VALUE (e.g. disktype=ssd)", item))
				continue
			}
			k, val = strings.TrimSpace(k), strings.TrimSpace(val)
			if err := validateLabel(k, val); err != nil {
				errs = append(errs, err)
				continue
			}
			out[k] = val
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func validateLabel(k, v string) error {
	if errs := validation.IsQualifiedName(k); len(errs) > 0 {
		return fmt.Errorf("node label key %q: %s", k, strings.Join(errs, "; "))
	}
	if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
		return fmt.Errorf("node label %s value %q: %s", k, v, strings.Join(errs, "; "))
	}
	return nil
}

// validateLabels checks every label, in key order.
func validateLabels(l map[string]string) error {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		if err := validateLabel(k, l[k]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// taintForm is the syntax ParseTaints accepts, for error messages.
const taintForm = "want KEY[=VALUE]:EFFECT with EFFECT NoSchedule, PreferNoSchedule or NoExecute (e.g. dedicated=gpu:NoSchedule)"

// ParseTaints parses --node-taint values: each KEY[=VALUE]:EFFECT, or
// several separated by commas. The same key and effect given twice keep
// the last value; the taints come out in the order first given.
func ParseTaints(values []string) ([]corev1.Taint, error) {
	var out []corev1.Taint
	var errs []error
	for _, v := range values {
		for item := range strings.SplitSeq(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			t, err := parseTaint(item)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			replaced := false
			for i := range out {
				if out[i].Key == t.Key && out[i].Effect == t.Effect {
					out[i], replaced = t, true
				}
			}
			if !replaced {
				out = append(out, t)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func parseTaint(s string) (corev1.Taint, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return corev1.Taint{}, fmt.Errorf("node taint %q: no effect; %s", s, taintForm)
	}
	kv, effect := s[:i], s[i+1:]
	k, v, _ := strings.Cut(kv, "=")
	t := corev1.Taint{Key: k, Value: v, Effect: corev1.TaintEffect(effect)}
	if err := validateTaint(t); err != nil {
		return corev1.Taint{}, fmt.Errorf("node taint %q: %w", s, err)
	}
	return t, nil
}

func validateTaint(t corev1.Taint) error {
	switch t.Effect {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
	default:
		return fmt.Errorf("effect %q unknown; %s", t.Effect, taintForm)
	}
	if errs := validation.IsQualifiedName(t.Key); len(errs) > 0 {
		return fmt.Errorf("key %q: %s; %s", t.Key, strings.Join(errs, "; "), taintForm)
	}
	if errs := validation.IsValidLabelValue(t.Value); len(errs) > 0 {
		return fmt.Errorf("value %q: %s; %s", t.Value, strings.Join(errs, "; "), taintForm)
	}
	return nil
}
