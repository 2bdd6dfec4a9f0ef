package main

import (
	"fmt"
	"log/slog"

	"github.com/kelson-dev/kelson/apiserver/audit"
	"github.com/kelson-dev/kelson/apiserver/encryption"
	"github.com/spf13/pflag"
)

// encAuditFlags are `kelson server`'s encryption at rest and audit
// flags, kube-apiserver's names and defaults.
type encAuditFlags struct {
	encryptionConfig               string
	auditPolicy, auditPath         string
	auditMaxSizeMB, auditMaxBackup int
}

func (e *encAuditFlags) bind(f *pflag.FlagSet) {
	f.StringVar(&e.encryptionConfig, "encryption-provider-config", "", "EncryptionConfiguration file (apiserver.config.k8s.io/v1): the resources encrypted in the store and their providers (aescbc, aesgcm, secretbox, identity)")
	f.StringVar(&e.auditPolicy, "audit-policy-file", "", "audit Policy file (audit.k8s.io/v1): which requests are recorded, and how much of each; needs --audit-log-path")
	f.StringVar(&e.auditPath, "audit-log-path", "", `file the audit events are appended to as JSON lines ("-" for standard output)`)
	f.IntVar(&e.auditMaxSizeMB, "audit-log-maxsize", 0, "rotate the audit log before it grows past this many megabytes (0: never)")
	f.IntVar(&e.auditMaxBackup, "audit-log-maxbackup", 0, "rotated audit logs to keep, the oldest removed first (0: all)")
}

// encAudit is what the flags configure.
type encAudit struct {
	// Encryption [--encryption-provider-config]; nil: nothing encrypted.
	Encryption *encryption.Config
	// AuditPolicy [--audit-policy-file]; nil: no audit. AuditLog: where
	// the events go [--audit-log-path, --audit-log-maxsize,
	// --audit-log-maxbackup].
	AuditPolicy *audit.Policy
	AuditLog    audit.LogConfig
}

// config reads the files the flags name: a bad file fails the start,
// with the field to fix.
func (e *encAuditFlags) config() (encAudit, error) {
	var c encAudit
	var err error
	if e.encryptionConfig != "" {
		if c.Encryption, err = encryption.Load(e.encryptionConfig); err != nil {
			return c, usagef("--encryption-provider-config: %v", err)
		}
	}
	if e.auditMaxSizeMB < 0 || e.auditMaxBackup < 0 {
		return c, usagef("--audit-log-maxsize and --audit-log-maxbackup must not be negative")
	}
	switch {
	case e.auditPolicy == "" && e.auditPath == "":
		return c, nil
	case e.auditPolicy == "":
		return c, usagef("--audit-log-path %s records nothing without --audit-policy-file (an audit.k8s.io/v1 Policy)", e.auditPath)
	case e.auditPath == "":
		return c, usagef("--audit-policy-file %s needs --audit-log-path: a file, or - for standard output", e.auditPolicy)
	}
	if c.AuditPolicy, err = audit.LoadPolicy(e.auditPolicy); err != nil {
		return c, usagef("--audit-policy-file: %v", err)
	}
	c.AuditLog = audit.LogConfig{Path: e.auditPath, MaxBytes: int64(e.auditMaxSizeMB) << 20, MaxBackups: e.auditMaxBackup}
	return c, nil
}

// openAuditLog opens the audit log when a policy is set (nil otherwise);
// close it after the API has stopped.
func openAuditLog(c encAudit, log *slog.Logger) (*audit.Log, error) {
	if c.AuditPolicy == nil {
		return nil, nil
	}
	c.AuditLog.Logger = log
	l, err := audit.NewLog(c.AuditLog)
	if err != nil {
		return nil, fmt.Errorf("--audit-log-path: %w", err)
	}
	return l, nil
}
