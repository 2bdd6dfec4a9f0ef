package pki

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// A running server keeps its leaf certificates current without a restart:
// a Reloader runs Ensure again every CheckInterval (sooner when a leaf
// falls due before that) and swaps in what it returns. The TLS callbacks
// (Reloader.GetCertificate, GetKubeletClientCertificate) read the current
// bundle at every handshake; files that the check renews, or that an
// operator replaced, are served from the next handshake on. The CA is
// never rotated: Ensure only checks it (see the package doc).

// CheckInterval is how often a running server checks its certificates.
const CheckInterval = 12 * time.Hour

// minCheckDelay bounds how soon checks follow each other, so that a leaf
// that cannot be renewed (a read-only disk) does not spin the loop.
const minCheckDelay = time.Minute

// Renewal is one leaf certificate that Ensure replaces, and why.
type Renewal struct {
	// File is the certificate's file name (ServingCertFile, ...).
	File   string
	Reason string
}

// leafView is one leaf of a Bundle as the decisions read it.
type leafView struct {
	file    string
	certPEM []byte // when cert is nil
	cert    *x509.Certificate
	usage   x509.ExtKeyUsage
}

// leaves lists b's leaf certificates in a fixed order.
func (b *Bundle) leaves() []leafView {
	return []leafView{
		{file: ServingCertFile, cert: b.Serving.Leaf, usage: x509.ExtKeyUsageServerAuth},
		{file: AdminCertFile, certPEM: b.AdminCertPEM, usage: x509.ExtKeyUsageClientAuth},
		{file: ControllerManagerCertFile, certPEM: b.ControllerManager.CertPEM, usage: x509.ExtKeyUsageClientAuth},
		{file: SchedulerCertFile, certPEM: b.Scheduler.CertPEM, usage: x509.ExtKeyUsageClientAuth},
		{file: KubeletClientCertFile, cert: b.KubeletClient.Leaf, usage: x509.ExtKeyUsageClientAuth},
	}
}

func (l leafView) parsed() (*x509.Certificate, error) {
	if l.cert != nil {
		return l.cert, nil
	}
	return ParseCertPEM(l.certPEM)
}

// Due lists the leaf certificates of b that Ensure replaces at now with
// the serving names sans: those it would find not yet valid, expiring
// within RenewBefore, not from b's CA or — the serving one — naming
// other SANs. The CA is never listed (see CAExpiring).
func (b *Bundle) Due(now time.Time, sans SANs) []Renewal {
	var out []Renewal
	want := sans.normalized()
	for _, l := range b.leaves() {
		c, err := l.parsed()
		if err != nil {
			out = append(out, Renewal{l.file, "unreadable: " + err.Error()})
			continue
		}
		var names *SANs
		if l.file == ServingCertFile {
			names = &want
		}
		if why := leafProblem(c, b.CA, l.usage, nil, names, now); why != "" {
			out = append(out, Renewal{l.file, why})
		}
	}
	return out
}

// CheckDelay is how long a running server waits from now before its next
// check: interval, or less when one of b's leaves falls due sooner (its
// end minus RenewBefore), but at least a minute (or interval, when that is
// shorter: tests).
func CheckDelay(b *Bundle, now time.Time, interval time.Duration) time.Duration {
	d := interval
	for _, l := range b.leaves() {
		c, err := l.parsed()
		if err != nil {
			continue
		}
		if until := c.NotAfter.Add(-RenewBefore).Sub(now); until < d {
			d = until
		}
	}
	return max(d, min(minCheckDelay, interval))
}

// CAExpiring says, when the CA ends within RenewBefore of now, what an
// operator must do ("" otherwise): the CA is never replaced automatically.
func CAExpiring(ca *x509.Certificate, now time.Time) string {
	if ca == nil || now.Add(RenewBefore).Before(ca.NotAfter) {
		return ""
	}
	return fmt.Sprintf("the cluster CA expires %s and is not renewed automatically: plan a new cluster CA "+
		"(remove the CA files and every certificate it signed, then join the agents again)", ca.NotAfter.UTC().Format(time.RFC3339))
}

// Changed lists the leaf certificates (by file name) that differ between
// old and new, in leaves' order: what a running server must start using.
func Changed(old, new *Bundle) []string {
	var out []string
	ol, nl := old.leaves(), new.leaves()
	raw := func(l leafView) []byte {
		if l.cert != nil {
			return l.cert.Raw
		}
		return l.certPEM
	}
	for i := range ol {
		if !bytes.Equal(raw(ol[i]), raw(nl[i])) {
			out = append(out, ol[i].file)
		}
	}
	return out
}

// Reloader holds a running server's current Bundle and renews it. Its
// methods are safe for concurrent use.
type Reloader struct {
	cfg   Config
	cur   atomic.Pointer[Bundle]
	check sync.Mutex // one Check at a time
}

// NewReloader starts from b, the Bundle Ensure(cfg) returned at start.
func NewReloader(cfg Config, b *Bundle) *Reloader {
	r := &Reloader{cfg: cfg}
	r.cur.Store(b)
	return r
}

// Bundle is the current bundle; never modify it.
func (r *Reloader) Bundle() *Bundle { return r.cur.Load() }

// GetCertificate serves the current serving certificate (for
// tls.Config.GetCertificate).
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return &r.cur.Load().Serving, nil
}

// GetKubeletClientCertificate presents the current kube-apiserver-kubelet-
// client certificate (for tls.Config.GetClientCertificate).
func (r *Reloader) GetKubeletClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return &r.cur.Load().KubeletClient, nil
}

// GetCertificate serves b's serving certificate: a fixed one (a
// Reloader's follows renewals).
func (b *Bundle) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return &b.Serving, nil
}

// GetKubeletClientCertificate presents b's kubelet client certificate: a
// fixed one (a Reloader's follows renewals).
func (b *Bundle) GetKubeletClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return &b.KubeletClient, nil
}

// Check runs Ensure again — renewing what is due, taking files replaced
// on disk — and makes its bundle the current one when a leaf changed. It
// returns the current bundle and the leaves that changed (nil when none
// did). On an error the current bundle stays.
func (r *Reloader) Check() (*Bundle, []string, error) {
	r.check.Lock()
	defer r.check.Unlock()
	old := r.cur.Load()
	// Ensure would make a new CA where none is, and sign every leaf with
	// it: the running server (which trusts the old one) would refuse its own
	// components. Only the CA this process started with is used.
	caPath := filepath.Join(r.cfg.Dir, CACertFile)
	if onDisk, err := os.ReadFile(caPath); err != nil || !bytes.Equal(onDisk, old.CAPEM) {
		return old, nil, fmt.Errorf("%w: %s is gone or changed while the server runs (%v): restore it, "+
			"or restart the server to use another CA", ErrCA, caPath, err)
	}
	b, err := Ensure(r.cfg)
	if err != nil {
		return old, nil, err
	}
	if !bytes.Equal(b.CAPEM, old.CAPEM) { // replaced between the read and Ensure
		return old, nil, fmt.Errorf("%w: %s changed while the server runs: restart the server to use another CA", ErrCA, caPath)
	}
	changed := Changed(old, b)
	if len(changed) == 0 {
		return old, nil, nil
	}
	r.cur.Store(b)
	return b, changed, nil
}

// Run checks every CheckDelay(interval) until ctx ends; after a check
// that changed certificates it calls onChange (when not nil) with the new
// bundle and the changed files. Errors are logged, and the check repeats
// after the delay.
func (r *Reloader) Run(ctx context.Context, interval time.Duration, onChange func(*Bundle, []string)) {
	log := r.cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	now := time.Now
	if r.cfg.Now != nil {
		now = r.cfg.Now
	}
	for {
		b := r.Bundle()
		delay := CheckDelay(b, now(), interval)
		if msg := CAExpiring(b.CA, now()); msg != "" {
			log.Warn(msg, "cert", r.cfg.Dir+"/"+CACertFile)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if due := r.Bundle().Due(now(), r.cfg.SANs); len(due) > 0 {
			log.Info("certificates due for renewal", "due", due)
		}
		nb, changed, err := r.Check()
		if err != nil {
			if !errors.Is(err, ErrCA) {
				err = fmt.Errorf("%w (the current certificates stay in use; the check repeats)", err)
			}
			log.Error("certificate check", "err", err)
			continue
		}
		if len(changed) > 0 {
			log.Info("using renewed certificates", "changed", changed)
			if onChange != nil {
				onChange(nb, changed)
			}
		}
	}
}
