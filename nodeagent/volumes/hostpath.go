package volumes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// kind is what exists at a host path.
type kind int

const (
	kindNone kind = iota
	kindDir
	kindFile
	kindSocket
	kindCharDevice
	kindBlockDevice
	kindOther
)

func kindOf(m fs.FileMode) kind {
	switch {
	case m.IsDir():
		return kindDir
	case m.IsRegular():
		return kindFile
	case m&fs.ModeSocket != 0:
		return kindSocket
	case m&fs.ModeCharDevice != 0:
		return kindCharDevice
	case m&fs.ModeDevice != 0:
		return kindBlockDevice
	}
	return kindOther
}

// hostPathCheck decides, for a hostPath volume of type typ whose path
// holds what (kindNone: nothing), what to create (kindDir, kindFile or
// kindNone) or why the volume cannot be used, as Kubernetes documents
// the types:
//
//	""                 no check
//	DirectoryOrCreate  a directory; made (0755) when nothing is there
//	Directory          an existing directory
//	FileOrCreate       a file; made empty (0644) when nothing is there (not its parent)
//	File               an existing file
//	Socket             an existing UNIX socket
//	CharDevice         an existing character device
//	BlockDevice        an existing block device
func hostPathCheck(typ corev1.HostPathType, p string, what kind) (kind, error) {
	want := map[corev1.HostPathType]struct {
		k    kind
		noun string
	}{
		corev1.HostPathDirectoryOrCreate: {kindDir, "a directory"},
		corev1.HostPathDirectory:         {kindDir, "a directory"},
		corev1.HostPathFileOrCreate:      {kindFile, "a file"},
		corev1.HostPathFile:              {kindFile, "a file"},
		corev1.HostPathSocket:            {kindSocket, "a socket file"},
		corev1.HostPathCharDev:           {kindCharDevice, "a character device"},
		corev1.HostPathBlockDev:          {kindBlockDevice, "a block device"},
	}
	if typ == corev1.HostPathUnset {
		return kindNone, nil
	}
	w, ok := want[typ]
	if !ok {
		return kindNone, fmt.Errorf("%s is an invalid volume type", typ)
	}
	if what == kindNone {
		switch typ {
		case corev1.HostPathDirectoryOrCreate:
			return kindDir, nil
		case corev1.HostPathFileOrCreate:
			return kindFile, nil
		}
		return kindNone, fmt.Errorf("hostPath type check failed: %s does not exist", p)
	}
	if what != w.k {
		return kindNone, fmt.Errorf("hostPath type check failed: %s is not %s", p, w.noun)
	}
	return kindNone, nil
}

// ensureHostPath checks p against typ and makes the directory or file
// the type asks for.
func ensureHostPath(p string, typ *corev1.HostPathType) error {
	t := corev1.HostPathUnset
	if typ != nil {
		t = *typ
	}
	what := kindNone
	if fi, err := os.Stat(p); err == nil {
		what = kindOf(fi.Mode())
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("hostPath %s: %w", p, err)
	}
	create, err := hostPathCheck(t, p, what)
	if err != nil {
		return err
	}
	switch create {
	case kindDir:
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("hostPath type DirectoryOrCreate: make %s: %w", p, err)
		}
	case kindFile:
		if _, err := os.Stat(filepath.Dir(p)); err != nil {
			return fmt.Errorf("hostPath type FileOrCreate: the parent directory of %s must exist: %w", p, err)
		}
		f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("hostPath type FileOrCreate: make %s: %w", p, err)
		}
		f.Close()
	}
	return nil
}
