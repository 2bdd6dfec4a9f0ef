#!/usr/bin/env bash
# bench-compare: run one benchmark suite against etcd and against Kelson on
# this machine — three-member clusters, then single members — and print one
# table with both, their ratio and the members' memory (VmRSS) after the
# suite. Raw JSON results and charts go to bench/results/<timestamp>/.
#
#   make bench-compare            # full suite (under 10 minutes on 2 cores)
#   QUICK=1 make bench-compare    # about a minute: fewer requests and puts
#   ETCD_BIN=/path/to/etcd make bench-compare
#
# etcd is $ETCD_BIN if set, else `etcd` on PATH, else Debian's etcd-server
# package (etcd 3.4), installed with apt-get. jq (Debian's jq) reads the
# JSON results. Everything listens on 127.0.0.1 ports from $BENCH_PORT_BASE
# (default 40379); data directories live in a temporary directory removed
# on exit, and every member started here is stopped on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
QUICK=${QUICK:-0}
PORT_BASE=${BENCH_PORT_BASE:-40379}
KELSON=${KELSON_BIN:-bin/kelson}

log() { printf '%s\n' "$*" >&2; }
die() { log "bench-compare: $*"; exit 1; }

apt_install() {
	command -v apt-get >/dev/null 2>&1 || die "missing $* and no apt-get: install it yourself"
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	log "installing $* with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	if ! $sudo apt-get install -y -q "$@" >/dev/null; then
		$sudo apt-get update -q >/dev/null
		$sudo apt-get install -y -q "$@" >/dev/null
	fi
}

command -v jq >/dev/null 2>&1 || apt_install jq
ETCD=${ETCD_BIN:-}
if [ -z "$ETCD" ]; then
	if ! command -v etcd >/dev/null 2>&1; then
		apt_install etcd-server
	fi
	ETCD=$(command -v etcd) || die "etcd not found after installing etcd-server"
fi
[ -x "$ETCD" ] || die "ETCD_BIN=$ETCD is not an executable"
[ -x "$KELSON" ] || die "$KELSON missing: run make build"
ETCD_VERSION=$("$ETCD" --version 2>/dev/null | sed -n 's/^etcd Version: //p')
KELSON_VERSION=$("$KELSON" version)

# Suite sizes.
if [ "$QUICK" = 1 ]; then
	PUT_TOTAL=5000 PUT1_TOTAL=300 RANGE_TOTAL=10000 WATCHERS=10000 WATCH_PUTS=10 K8S_TOTAL=1000 K8S_OBJECTS=200
else
	PUT_TOTAL=50000 PUT1_TOTAL=2000 RANGE_TOTAL=50000 WATCHERS=10000 WATCH_PUTS=100 K8S_TOTAL=10000 K8S_OBJECTS=1000
fi

STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=bench/results/$STAMP
mkdir -p "$RESULTS"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kelson-bench-compare.XXXXXX")
PIDS=()

stop_members() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		# Give each member 10 s to stop, then kill it.
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	PIDS=()
}
cleanup() {
	stop_members
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_members SYSTEM N: start N members of SYSTEM (etcd or kelson) with
# the same flags; sets ENDPOINTS.
start_members() {
	local system=$1 n=$2 i cluster="" bin
	case $system in
	etcd) bin=("$ETCD") ;;
	kelson) bin=("$KELSON" store) ;;
	esac
	for ((i = 0; i < n; i++)); do
		cluster+="${cluster:+,}m$i=http://127.0.0.1:$((PORT_BASE + 1000 * i + 1))"
	done
	ENDPOINTS=""
	for ((i = 0; i < n; i++)); do
		local cport=$((PORT_BASE + 1000 * i)) pport=$((PORT_BASE + 1000 * i + 1))
		ENDPOINTS+="${ENDPOINTS:+,}127.0.0.1:$cport"
		"${bin[@]}" --name "m$i" --data-dir "$WORK/$system-$n-m$i" \
			--listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
			--listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
			--initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "bench-$system-$n" \
			--log-level warn >"$RESULTS/$system-$n-m$i.log" 2>&1 &
		PIDS+=($!)
	done
	# Ready when a linearizable read succeeds (the cluster has a leader).
	for _ in $(seq 60); do
		if "$KELSON" bench range --endpoints "$ENDPOINTS" --total 1 --dial-timeout 1s --progress=false >/dev/null 2>&1; then
			return 0
		fi
		for pid in "${PIDS[@]}"; do
			kill -0 "$pid" 2>/dev/null || die "$system member exited at start; see $RESULTS/$system-$n-m*.log"
		done
		sleep 0.5
	done
	die "$system ($n members) not ready after 30 s; see $RESULTS/$system-$n-m*.log"
}

# rss_mib: VmRSS of the running members, summed, in MiB.
rss_mib() {
	local pid kb total=0
	for pid in "${PIDS[@]}"; do
		kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
		total=$((total + ${kb:-0}))
	done
	echo $((total / 1024))
}

# The suite: NAME|ARGS. Each runs as `kelson bench ARGS --endpoints ...`.
SUITE=(
	"put-1000c|put --clients 1000 --conns 100 --total $PUT_TOTAL --key-space-size 100000 --val-size 256"
	"put-1c|put --clients 1 --conns 1 --total $PUT1_TOTAL --key-space-size 100000 --val-size 256"
	"range-l-1000c|range --clients 1000 --conns 100 --total $RANGE_TOTAL --key-space-size 100000 --consistency l"
	"range-s-1000c|range --clients 1000 --conns 100 --total $RANGE_TOTAL --key-space-size 100000 --consistency s"
	"watch-${WATCHERS}w|watch --watchers $WATCHERS --streams 10 --conns 10 --puts $WATCH_PUTS"
	"k8s-mix|k8s-mix --clients 100 --conns 10 --total $K8S_TOTAL --objects $K8S_OBJECTS"
)

run_setup() {
	local system=$1 n=$2 entry name args
	log "== $system, $n member(s)"
	start_members "$system" "$n"
	for entry in "${SUITE[@]}"; do
		name=${entry%%|*}
		args=${entry#*|}
		log "   $name"
		# shellcheck disable=SC2086 # args is a word list on purpose
		"$KELSON" bench $args --endpoints "$ENDPOINTS" --progress=false --json \
			--out "$RESULTS/$system-$n-$name.html" >"$RESULTS/$system-$n-$name.json" \
			2>"$RESULTS/$system-$n-$name.err" || log "   ($name exited $?; see $RESULTS/$system-$n-$name.err)"
	done
	find "$RESULTS" -name "$system-$n-*.err" -empty -delete
	rss_mib >"$RESULTS/$system-$n-rss"
	stop_members
}

START=$(date +%s)
log "etcd $ETCD_VERSION ($ETCD) vs $KELSON_VERSION; results in $RESULTS; data in $WORK"
for n in 3 1; do
	run_setup etcd "$n"
	run_setup kelson "$n"
done

# field FILE JQ: a number from a result, "-" if missing.
field() {
	[ -s "$1" ] || { echo "-"; return; }
	jq -r "$2 // \"-\"" "$1" 2>/dev/null || echo "-"
}
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a + 0 == 0) print "-"; else printf "%.2f", b / a }'
}
num() {
	awk -v v="$1" 'BEGIN { if (v == "-") print "-"; else if (v + 0 >= 100) printf "%.0f", v; else printf "%.2f", v }'
}

{
	printf '\nkelson bench-compare %s%s: etcd %s vs %s, %s cores, data in %s\n' \
		"$STAMP" "$([ "$QUICK" = 1 ] && echo ' (QUICK=1)')" "$ETCD_VERSION" "$KELSON_VERSION" "$(nproc)" "${TMPDIR:-/tmp}"
	printf 'throughput in requests/s (watch: events/s); p99 in ms (watch: put-to-event delivery); k/e = kelson / etcd\n\n'
	printf '%-8s %-15s %12s %12s %6s  %10s %10s %6s  %s\n' members benchmark "etcd /s" "kelson /s" "k/e" "etcd p99" "kelson p99" "k/e" "errors e/k"
	for n in 3 1; do
		for entry in "${SUITE[@]}"; do
			name=${entry%%|*}
			e="$RESULTS/etcd-$n-$name.json" k="$RESULTS/kelson-$n-$name.json"
			et=$(field "$e" .throughput) kt=$(field "$k" .throughput)
			ep=$(field "$e" .latency_ms.p99) kp=$(field "$k" .latency_ms.p99)
			errs="$(field "$e" .errors)/$(field "$k" .errors)"
			ev=$(field "$e" .watch.violation_count) kv=$(field "$k" .watch.violation_count)
			[ "$ev$kv" != "--" ] && [ "$ev$kv" != "00" ] && errs+=" violations $ev/$kv"
			printf '%-8s %-15s %12s %12s %6s  %10s %10s %6s  %s\n' "$n" "$name" "$(num "$et")" "$(num "$kt")" \
				"$(ratio "$et" "$kt")" "$(num "$ep")" "$(num "$kp")" "$(ratio "$ep" "$kp")" "$errs"
		done
		er=$(cat "$RESULTS/etcd-$n-rss") kr=$(cat "$RESULTS/kelson-$n-rss")
		printf '%-8s %-15s %12s %12s %6s  (VmRSS after the suite, MiB, all members)\n' "$n" "RSS MiB" "$er" "$kr" "$(ratio "$er" "$kr")"
	done
	printf '\nraw JSON, charts (.html) and member logs: %s/  (%ds)\n' "$RESULTS" $(($(date +%s) - START))
} | tee "$RESULTS/table.txt"
