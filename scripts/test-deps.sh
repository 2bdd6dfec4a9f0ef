#!/usr/bin/env bash
# Installs what `make test` needs beyond Go's module cache: etcdctl (Debian's
# etcd-client), the real etcd client the integration tests drive Kelson with,
# etcd (etcd-server), the real store the API test suite also runs on; and
# for the node agent's tests: containerd and runc (the runtime it drives),
# busybox-static (the test images are built from /bin/busybox), nftables
# (nft, to read back the Service rules) and iproute2 (ip netns, for the
# network namespaces every networking test runs in).
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail

need=()
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v runc >/dev/null 2>&1 || need+=(runc)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static) # a static /bin/busybox
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
[ ${#need[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "missing ${need[*]} and no apt-get: install them yourself (etcdctl v3.4 or newer, containerd 1.6 or newer, runc, busybox, nft, ip)" >&2
	exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing ${need[*]} (etcd for the compatibility tests and the API suite over etcd; containerd, runc, busybox, nft, ip for the node agent)"
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y -q "${need[@]}" >/dev/null; then
	$sudo apt-get update -q >/dev/null
	$sudo apt-get install -y -q "${need[@]}" >/dev/null
fi
