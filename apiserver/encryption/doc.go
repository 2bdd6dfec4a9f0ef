// Package encryption encrypts API objects at rest: the transformers of a
// kube-apiserver EncryptionConfiguration file
// (apiserver.config.k8s.io/v1, --encryption-provider-config), applied by
// the API server to every value it writes to the store and every value it
// reads back.
//
// # Model
//
// A Config is an ordered list of resources[] entries; each names
// resources ("secrets", "deployments.apps", "*.apps", "*.", "*.*") and
// lists providers. Config.For returns the Transformer of the first entry
// naming a resource (nil when none does: values are stored as they are).
// A Transformer is a pure function pair over (store key, value):
//
//	Encrypt(key, plain)  -> the first provider's form of plain
//	Decrypt(key, stored) -> plain, stale, err
//
// Encrypted values carry an envelope that names their provider and key:
//
//	k8s:enc:<provider>:v1:<key name>:<ciphertext>
//
//	aescbc     16-byte random IV, AES-CBC, PKCS#7 padding
//	aesgcm     12-byte random nonce, AES-GCM, the store key as additional data
//	secretbox  24-byte random nonce, NaCl secretbox (XSalsa20-Poly1305)
//	identity   no envelope: the value as it is
//
// the same bytes kube-apiserver writes, so either server reads the other's
// data given the same file.
//
// # Invariants
//
//   - New values are written with the first provider's first key (as they
//     are when identity is first).
//   - Every listed provider and key decrypts, chosen by the value's
//     envelope, never by trial. A value whose envelope names no listed key
//     fails with ErrUnknownKey naming the provider and key; a plain value
//     fails with ErrNotEncrypted unless identity is listed. A value that
//     does not authenticate fails with ErrDecrypt. Decrypt never returns
//     ciphertext as plain text.
//   - Errors name keys, providers and store keys, never a secret or a value.
//   - stale is true when a rewrite would change the envelope (a value of an
//     older key or provider): the API server then rewrites a value even
//     when the object is unchanged, which is what makes rotation by
//     `kubectl replace` work.
//
// # Rotation
//
// As Kubernetes documents it: add the new key as a second key (every
// server restarts with it, so each can read it), move it first and restart,
// rewrite every object (kubectl get secrets -A -o json | kubectl replace -f -),
// then remove the old key and restart.
//
// # Example
//
//	cfg, err := encryption.Parse([]byte(`
//	apiVersion: apiserver.config.k8s.io/v1
//	kind: EncryptionConfiguration
//	resources:
//	- resources: [secrets]
//	  providers:
//	  - aescbc: {keys: [{name: key1, secret: c2VjcmV0IGlzIHNlY3VyZQ==}]}
//	  - identity: {}
//	`))
//	t := cfg.For(schema.GroupResource{Resource: "secrets"})
//	stored, _ := t.Encrypt([]byte("/registry/secrets/default/s"), value)
//	// stored begins "k8s:enc:aescbc:v1:key1:"
//	plain, stale, err := t.Decrypt([]byte("/registry/secrets/default/s"), stored)
package encryption
