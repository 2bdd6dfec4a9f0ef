#!/usr/bin/env bash
# bench-tls-compare: what TLS and auth cost the store. Three members,
# started plain, then with client and peer TLS (--cert-file --key-file
# --trusted-ca-file --client-cert-auth and the --peer-* equivalents, one
# test CA made here with openssl), then with TLS and etcd's auth enabled
# (the bench logs in as a user with a role), run the same `kelson bench`
# workloads;
# the setups alternate ROUNDS times (default 2) so that a busy machine
# weighs on both alike. With etcd on PATH (or $ETCD_BIN) etcd runs the same
# setups with the same flags. Prints one line per system, setup, round and
# workload: throughput and p50/p99 latency.
#
#   scripts/bench-tls-compare.sh                  # put and range, 2 rounds
#   ROUNDS=1 TOTAL=10000 scripts/bench-tls-compare.sh
#   SYSTEMS=kelson scripts/bench-tls-compare.sh   # without etcd
#
# Ports from $BENCH_PORT_BASE (default 21379) on 127.0.0.1; data and
# certificates in a temporary directory removed on exit; every member
# started here is stopped on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
KELSON=${KELSON_BIN:-bin/kelson}
ROUNDS=${ROUNDS:-2}
TOTAL=${TOTAL:-30000}
PORT_BASE=${BENCH_PORT_BASE:-21379}
ETCD=${ETCD_BIN:-$(command -v etcd || true)}
SYSTEMS=${SYSTEMS:-kelson${ETCD:+ etcd}}

[ -x "$KELSON" ] || make build >/dev/null
command -v jq >/dev/null || { echo "bench-tls-compare: needs jq" >&2; exit 1; }
command -v etcdctl >/dev/null || { echo "bench-tls-compare: needs etcdctl (Debian etcd-client)" >&2; exit 1; }
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

# A CA, one member certificate for 127.0.0.1 (serving and client: peers
# present it when they dial) and a client certificate for the bench.
cd "$TMP"
openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -subj /CN=bench-ca -days 2 -out ca.crt 2>/dev/null
for name in member root; do
	openssl ecparam -name prime256v1 -genkey -noout -out "$name.key" 2>/dev/null
	openssl req -new -key "$name.key" -subj "/CN=$name" -out "$name.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$name.ext"
	openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile "$name.ext" -out "$name.crt" 2>/dev/null
done
cd - >/dev/null

start_members() { # system scheme
	local system=$1 scheme=$2 i cluster="" tlsflags=()
	[ "$scheme" = https ] && tlsflags=(--cert-file "$TMP/member.crt" --key-file "$TMP/member.key" --trusted-ca-file "$TMP/ca.crt" --client-cert-auth
		--peer-cert-file "$TMP/member.crt" --peer-key-file "$TMP/member.key" --peer-trusted-ca-file "$TMP/ca.crt" --peer-client-cert-auth)
	for i in 0 1 2; do cluster+="${cluster:+,}m$i=$scheme://127.0.0.1:$((PORT_BASE + 100 * i + 1))"; done
	ENDPOINTS=""
	PIDS=()
	for i in 0 1 2; do
		local c="$scheme://127.0.0.1:$((PORT_BASE + 100 * i))" p="$scheme://127.0.0.1:$((PORT_BASE + 100 * i + 1))"
		local bin=$KELSON args=(store)
		[ "$system" = etcd ] && bin=$ETCD args=()
		rm -rf "$TMP/m$i"
		"$bin" "${args[@]}" --name "m$i" --data-dir "$TMP/m$i" --listen-client-urls "$c" --advertise-client-urls "$c" \
			--listen-peer-urls "$p" --initial-advertise-peer-urls "$p" --initial-cluster "$cluster" \
			--initial-cluster-state new "${tlsflags[@]}" >"$TMP/m$i.log" 2>&1 &
		PIDS+=($!)
		ENDPOINTS+="${ENDPOINTS:+,}$c"
	done
	for _ in $(seq 150); do
		"$KELSON" bench range --endpoints "$ENDPOINTS" --total 1 --dial-timeout 1s --progress=false "${CLIENT[@]}" >/dev/null 2>&1 && return
		sleep 0.2
	done
	echo "bench-tls-compare: $system ($scheme) did not start; see $TMP/m0.log" >&2
	exit 1
}

stop_members() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	PIDS=()
}

# enable_auth turns etcd's auth on through the first member: a root user,
# and a user "bench" whose role may read and write every key the bench
# writes (decimal keys, all >= "0"); the bench then logs in as bench, so
# every request carries a token and is permission-checked.
enable_auth() {
	local ctl=(etcdctl --endpoints "${ENDPOINTS%%,*}" --cacert "$TMP/ca.crt" --cert "$TMP/root.crt" --key "$TMP/root.key")
	"${ctl[@]}" user add root --new-user-password rootpw --interactive=false >/dev/null
	"${ctl[@]}" user grant-role root root >/dev/null
	"${ctl[@]}" user add bench --new-user-password benchpw --interactive=false >/dev/null
	"${ctl[@]}" role add bench >/dev/null
	"${ctl[@]}" role grant-permission bench readwrite --from-key 0 >/dev/null
	"${ctl[@]}" user grant-role bench bench >/dev/null
	"${ctl[@]}" auth enable >/dev/null
}

printf '%-7s %-9s %-5s %-8s %10s %9s %9s\n' system setup round bench "req/s" "p50 ms" "p99 ms"
for round in $(seq "$ROUNDS"); do
	for system in $SYSTEMS; do
		for setup in plain tls tls+auth; do
			scheme=https CLIENT=(--cacert "$TMP/ca.crt" --cert "$TMP/root.crt" --key "$TMP/root.key")
			[ "$setup" = plain ] && scheme=http CLIENT=()
			start_members "$system" "$scheme"
			if [ "$setup" = tls+auth ]; then
				enable_auth
				CLIENT+=(--user bench:benchpw)
			fi
			for b in "put --clients 100 --conns 10 --total $TOTAL --key-space-size 100000 --val-size 256" \
				"range --clients 100 --conns 10 --total $TOTAL --key-space-size 100000 --consistency l"; do
				# shellcheck disable=SC2086 # b is a word list on purpose
				out=$("$KELSON" bench $b --endpoints "$ENDPOINTS" --progress=false --json "${CLIENT[@]}")
				printf '%-7s %-9s %-5s %-8s %10.0f %9.2f %9.2f\n' "$system" "$setup" "$round" "${b%% *}" \
					"$(jq -r .throughput <<<"$out")" "$(jq -r .latency_ms.p50 <<<"$out")" "$(jq -r .latency_ms.p99 <<<"$out")"
			done
			stop_members
		done
	done
done
