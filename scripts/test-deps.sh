#!/usr/bin/env bash
# Installs what `make test` needs beyond Go's module cache: etcdctl (Debian's
# etcd-client), the real etcd client the integration tests drive Kelson with,
# and etcd (etcd-server), the real store the API test suite also runs on.
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail

need=()
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
[ ${#need[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "missing ${need[*]} and no apt-get: install etcdctl (etcd v3.4 or newer) yourself" >&2
	exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing ${need[*]} (for the etcdctl compatibility tests and the API suite over etcd)"
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y -q "${need[@]}" >/dev/null; then
	$sudo apt-get update -q >/dev/null
	$sudo apt-get install -y -q "${need[@]}" >/dev/null
fi
