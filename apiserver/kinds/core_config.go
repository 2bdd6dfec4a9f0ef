package kinds

// ConfigMaps, Secrets and ServiceAccounts.

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxDataSize is the most a ConfigMap or Secret may hold (1 MiB).
const maxDataSize = 1 << 20

func configMapKind() *Kind {
	k := base(coreGV, "ConfigMap", "configmaps", "configmap", true, obj[corev1.ConfigMap](), obj[corev1.ConfigMapList]())
	k.ShortNames = []string{"cm"}
	k.Validate = func(o runtime.Object) field.ErrorList {
		cm := o.(*corev1.ConfigMap)
		var errs field.ErrorList
		size := 0
		for _, key := range sortedKeys(cm.Data) {
			size += len(cm.Data[key])
			errs = append(errs, validateDataKey(key, field.NewPath("data"))...)
			if _, dup := cm.BinaryData[key]; dup {
				errs = append(errs, field.Invalid(field.NewPath("data").Key(key), key, "duplicate of key present in binaryData"))
			}
		}
		for _, key := range sortedKeys(cm.BinaryData) {
			size += len(cm.BinaryData[key])
			errs = append(errs, validateDataKey(key, field.NewPath("binaryData"))...)
		}
		if size > maxDataSize {
			errs = append(errs, field.TooLong(field.NewPath(""), "", maxDataSize))
		}
		return errs
	}
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		cm, p := o.(*corev1.ConfigMap), old.(*corev1.ConfigMap)
		return immutableData(cm.Immutable, p.Immutable, map[string][2]interface{}{
			"data":       {cm.Data, p.Data},
			"binaryData": {cm.BinaryData, p.BinaryData},
		})
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Data", "string", "Data contains the configuration data.", false),
		colAge,
	}
	k.Cells = func(o runtime.Object) []interface{} {
		cm := o.(*corev1.ConfigMap)
		return []interface{}{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), age(cm.CreationTimestamp)}
	}
	return k
}

func validateDataKey(key string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsConfigMapKey(key) {
		errs = append(errs, field.Invalid(fld.Key(key), key, msg))
	}
	return errs
}

// immutableData: once immutable is true it stays true and the data
// fields (name -> new, old) may not change.
func immutableData(immutable, oldImmutable *bool, data map[string][2]interface{}) field.ErrorList {
	if oldImmutable == nil || !*oldImmutable {
		return nil
	}
	var errs field.ErrorList
	if immutable == nil || !*immutable {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
	}
	for _, name := range sortedKeys(data) {
		if !reflect.DeepEqual(data[name][0], data[name][1]) {
			errs = append(errs, field.Forbidden(field.NewPath(name), "field is immutable when `immutable` is set"))
		}
	}
	return errs
}

func secretKind() *Kind {
	k := base(coreGV, "Secret", "secrets", "secret", true, obj[corev1.Secret](), obj[corev1.SecretList]())
	k.Default = func(o runtime.Object) { defaultSecret(o.(*corev1.Secret)) }
	k.Validate = func(o runtime.Object) field.ErrorList { return validateSecret(o.(*corev1.Secret)) }
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		s, p := o.(*corev1.Secret), old.(*corev1.Secret)
		errs := immutable(s.Type, p.Type, field.NewPath("type"))
		return append(errs, immutableData(s.Immutable, p.Immutable, map[string][2]interface{}{"data": {s.Data, p.Data}})...)
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Type", "string", "Used to facilitate programmatic handling of secret data.", false),
		col("Data", "string", "Data contains the secret data.", false),
		colAge,
	}
	k.Cells = func(o runtime.Object) []interface{} {
		s := o.(*corev1.Secret)
		return []interface{}{s.Name, string(s.Type), int64(len(s.Data)), age(s.CreationTimestamp)}
	}
	k.Fields = func(o runtime.Object) fields.Set {
		return fields.Set{"type": string(o.(*corev1.Secret).Type)}
	}
	return k
}

// defaultSecret sets type Opaque and folds stringData into data (as
// kube-apiserver's conversion does: stringData is write-only).
func defaultSecret(s *corev1.Secret) {
	setDefaultString(&s.Type, corev1.SecretTypeOpaque)
	if len(s.StringData) > 0 && s.Data == nil {
		s.Data = map[string][]byte{}
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
}

func validateSecret(s *corev1.Secret) field.ErrorList {
	data := field.NewPath("data")
	var errs field.ErrorList
	size := 0
	for _, key := range sortedKeys(s.Data) {
		size += len(s.Data[key])
		errs = append(errs, validateDataKey(key, data)...)
	}
	if size > maxDataSize {
		errs = append(errs, field.TooLong(data, "", maxDataSize))
	}
	need := func(key string) {
		if _, ok := s.Data[key]; !ok {
			errs = append(errs, field.Required(data.Key(key), ""))
		}
	}
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		need(corev1.DockerConfigKey)
	case corev1.SecretTypeDockerConfigJson:
		need(corev1.DockerConfigJsonKey)
	case corev1.SecretTypeBasicAuth:
		if len(s.Data[corev1.BasicAuthUsernameKey]) == 0 && len(s.Data[corev1.BasicAuthPasswordKey]) == 0 {
			errs = append(errs, field.Required(data.Key(corev1.BasicAuthUsernameKey), ""), field.Required(data.Key(corev1.BasicAuthPasswordKey), ""))
		}
	case corev1.SecretTypeSSHAuth:
		if len(s.Data[corev1.SSHAuthPrivateKey]) == 0 {
			errs = append(errs, field.Required(data.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeTLS:
		need(corev1.TLSCertKey)
		need(corev1.TLSPrivateKeyKey)
	case "":
		errs = append(errs, field.Required(field.NewPath("type"), ""))
	}
	return errs
}

func serviceAccountKind() *Kind {
	k := base(coreGV, "ServiceAccount", "serviceaccounts", "serviceaccount", true, obj[corev1.ServiceAccount](), obj[corev1.ServiceAccountList]())
	k.ShortNames = []string{"sa"}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Secrets", "string", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.", false),
		colAge,
	}
	k.Cells = func(o runtime.Object) []interface{} {
		sa := o.(*corev1.ServiceAccount)
		return []interface{}{sa.Name, int64(len(sa.Secrets)), age(sa.CreationTimestamp)}
	}
	return k
}
