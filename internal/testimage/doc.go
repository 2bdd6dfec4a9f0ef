// Package testimage builds small OCI image archives offline, in Go
// (archive/tar and sha256, no external tool), from Debian's busybox-static
// binary, so that tests and machines without a registry can run
// `image: httpd` and `image: busybox` pods.
//
// Every image has one uncompressed layer: /bin/busybox, a symlink per
// common applet in /bin (sh, ls, cat, wget, httpd, sleep, nslookup, ping,
// ...), /etc/passwd and /etc/group, and
// /usr/local/apache2/htdocs/index.html reading "It works!". HTTPD's
// command is busybox httpd in the foreground on port 80 serving that
// directory, so a container of it answers like the real httpd image;
// Busybox's command is sh.
//
// The archive is an OCI image layout (oci-layout, index.json,
// blobs/sha256/...), each manifest annotated with its full name
// (io.containerd.image.name) and tag (org.opencontainers.image.ref.name).
// Digests depend only on the busybox binary and the images' settings:
// file times are fixed.
//
// Example:
//
//	refs, err := testimage.Import(ctx, rt, testimage.Options{}) // HTTPD and Busybox
//	if errors.Is(err, testimage.ErrNoBusybox) {
//		t.Skip(err)
//	}
//
// or, for a machine without a registry:
//
//	testimage.WriteFile("/tmp/images.tar", testimage.Options{})
//	// kelson images import /tmp/images.tar
package testimage
