#!/usr/bin/env bash
# bench-compare: run one benchmark suite against etcd and against Kelson on
# this machine — three-member clusters, then single members — and print one
# table with both, their ratio and the members' memory (VmRSS) after the
# suite. Raw JSON results and charts go to bench/results/<timestamp>/.
#
#   make bench-compare            # full suite (under 10 minutes on 2 cores)
#   QUICK=1 make bench-compare    # about a minute: fewer requests and puts
#   ETCD_BIN=/path/to/etcd make bench-compare
#   BIG=1 make bench-compare      # the suite, then the big phase (below)
#   make bench-big                # the big phase alone (BIG=only)
#
# The big phase (about 6 minutes on a quiet 2-core machine, more under load; ~3 GB free disk per member
# of the system being measured, one system at a time) starts each system as
# three members with --quota-backend-bytes 8 GiB and --snapshot-count 10000
# and runs `kelson bench compact`: BIG_KEYS keys (default 1000000) of 1 KB,
# each written twice, then put p99 at BIG_RATE puts/s (default 1000) before
# and during a compaction of the whole history (and in the 15 s after it,
# while the stores' own background work goes on); the members' DbSize once it
# has settled and the size of their data dirs (du), with no defragmentation;
# then a follower holding the data is stopped (SIGTERM, then later SIGKILL)
# and restarted with the same flags, and `kelson bench ready` measures the
# time from its start to its first linearizable read served. BIG_KEYS and
# BIG_RATE change the size and the put rate; BIG_SYSTEMS="kelson" measures
# one system only (the table then shows "-" for the other).
#
# etcd is $ETCD_BIN if set, else `etcd` on PATH, else Debian's etcd-server
# package (etcd 3.4), installed with apt-get. jq (Debian's jq) reads the
# JSON results. Everything listens on 127.0.0.1 ports from $BENCH_PORT_BASE
# (default 20379: below Linux's ephemeral range, from which outgoing
# connections take their ports); data directories live in a temporary
# directory removed on exit, and every member started here is stopped on
# exit.
set -euo pipefail

cd "$(dirname "$0")/.."
QUICK=${QUICK:-0}
BIG=${BIG:-0}
BIG_KEYS=${BIG_KEYS:-1000000}
BIG_RATE=${BIG_RATE:-1000}
PORT_BASE=${BENCH_PORT_BASE:-20379}
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
SAMPLER="" # the big phase's disk sampler, while it runs
cleanup() {
	if [ -n "$SAMPLER" ]; then kill "$SAMPLER" 2>/dev/null || true; fi
	stop_members
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# EXTRA_FLAGS are added to every member's command line (the big phase's
# quota and snapshot count).
EXTRA_FLAGS=()

# launch SYSTEM N I TAG: start member I of an N-member cluster of SYSTEM
# (etcd or kelson), data in $WORK/SYSTEM-TAG-mI, log appended to
# $RESULTS/SYSTEM-TAG-mI.log; sets PIDS[I]. The same call restarts it.
launch() {
	local system=$1 n=$2 i=$3 tag=$4 j cluster="" bin
	case $system in
	etcd) bin=("$ETCD") ;;
	kelson) bin=("$KELSON" store) ;;
	esac
	for ((j = 0; j < n; j++)); do
		cluster+="${cluster:+,}m$j=http://127.0.0.1:$((PORT_BASE + 1000 * j + 1))"
	done
	local cport=$((PORT_BASE + 1000 * i)) pport=$((PORT_BASE + 1000 * i + 1))
	"${bin[@]}" --name "m$i" --data-dir "$WORK/$system-$tag-m$i" \
		--listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
		--listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
		--initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "bench-$system-$tag" \
		--log-level warn ${EXTRA_FLAGS[@]+"${EXTRA_FLAGS[@]}"} >>"$RESULTS/$system-$tag-m$i.log" 2>&1 &
	PIDS[i]=$!
}

# start_members SYSTEM N [TAG]: start N members of SYSTEM with the same
# flags (TAG names their data dirs and logs, default N); sets ENDPOINTS.
start_members() {
	local system=$1 n=$2 tag=${3:-$2} i
	ENDPOINTS=""
	for ((i = 0; i < n; i++)); do
		ENDPOINTS+="${ENDPOINTS:+,}127.0.0.1:$((PORT_BASE + 1000 * i))"
		launch "$system" "$n" "$i" "$tag"
	done
	# Ready when a linearizable read succeeds (the cluster has a leader) and
	# every member started is still running (a member that found its port
	# taken exits; the read may then have reached whatever holds the port).
	for _ in $(seq 60); do
		sleep 0.5
		for pid in "${PIDS[@]}"; do
			kill -0 "$pid" 2>/dev/null || die "$system member exited at start (port in use?); see $RESULTS/$system-$tag-m*.log"
		done
		if "$KELSON" bench range --endpoints "$ENDPOINTS" --total 1 --dial-timeout 1s --progress=false >/dev/null 2>&1; then
			return 0
		fi
	done
	die "$system ($n members) not ready after 30 s; see $RESULTS/$system-$tag-m*.log"
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

# field FILE JQ: a number from a result, "-" if missing.
field() {
	[ -s "$1" ] || { echo "-"; return; }
	local v
	v=$(jq -r "($2) // \"-\"" "$1" 2>/dev/null | head -1) || v="-"
	echo "${v:--}"
}
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a + 0 == 0) print "-"; else printf "%.2f", b / a }'
}
num() {
	awk -v v="$1" 'BEGIN { if (v == "-") print "-"; else if (v + 0 >= 100) printf "%.0f", v; else printf "%.2f", v }'
}

# du_mib DIR: the disk space DIR takes, in MiB ("-" when missing).
du_mib() {
	[ -e "$1" ] || { echo "-"; return; }
	du -sk "$1" | awk '{printf "%.0f", $1 / 1024}'
}

# disk_usage SYSTEM: one line per member: total MiB of its data dir, then
# the MiB of its key-value data (Kelson's store dir, etcd's bbolt file) and
# of its replication log (Kelson's raft dir, etcd's wal and snap files
# other than the db).
disk_usage() {
	local system=$1 i d store wal
	for i in 0 1 2; do
		d="$WORK/$system-big-m$i"
		case $system in
		kelson)
			store=$(du_mib "$d/$(cat "$d/STORE" 2>/dev/null || echo store)")
			wal=$(du_mib "$d/raft")
			;;
		etcd)
			store=$(du_mib "$d/member/snap/db")
			wal=-
			[ "$store" != - ] && wal=$(($(du_mib "$d/member") - store))
			;;
		esac
		echo "m$i $(du_mib "$d") $store $wal"
	done
}

# sample_disk SYSTEM: every 2 s until killed, "seconds total-MiB" of the
# three members' data dirs, for the disk-over-time record.
sample_disk() {
	local t0=$SECONDS
	while :; do
		echo "$((SECONDS - t0)) $(du -sk "$WORK/$1-big-m"* 2>/dev/null | awk '{s += $1} END {printf "%.0f", s / 1024}')"
		sleep 2
	done
}

# restart_member SYSTEM I SIG: stop member I of the big cluster with SIG,
# start it again with the same flags, and measure with `kelson bench ready`
# the time from its start to its first linearizable read.
restart_member() {
	local system=$1 i=$2 sig=$3 pid t0
	pid=${PIDS[$i]}
	{
		kill "-$sig" "$pid" || true
		for _ in $(seq 300); do
			kill -0 "$pid" || break
			sleep 0.1
		done
		kill -KILL "$pid" || true
		wait "$pid" || true
	} 2>/dev/null # also quiets the shell's "Killed" notice
	sleep 1
	t0=$(date +%s%N)
	launch "$system" 3 "$i" big
	"$KELSON" bench ready --endpoints "127.0.0.1:$((PORT_BASE + 1000 * i))" --since "$t0" --wait 2m \
		--progress=false --json >"$RESULTS/$system-big-restart-$sig.json" 2>"$RESULTS/$system-big-restart-$sig.err" ||
		log "   (restart after SIG$sig: not serving; see $RESULTS/$system-big-restart-$sig.err and $system-big-m$i.log)"
}

run_big() {
	local system=$1 json leader i
	json="$RESULTS/$system-big-compact.json"
	log "== $system, 3 members, big phase: $BIG_KEYS keys of 1 KB, written twice, compacted; restart"
	log "   disk free in $WORK: $(df -h --output=avail "$WORK" | tail -1 | tr -d ' ')"
	EXTRA_FLAGS=(--quota-backend-bytes $((8 << 30)) --snapshot-count 10000)
	start_members "$system" 3 big
	sample_disk "$system" >"$RESULTS/$system-big-disk.txt" &
	SAMPLER=$!
	log "   compact"
	"$KELSON" bench compact --endpoints "$ENDPOINTS" --conns 10 --keys "$BIG_KEYS" --rate "$BIG_RATE" --after 15s \
		--progress=false --json --out "$RESULTS/$system-big-compact.html" >"$json" 2>"$RESULTS/$system-big-compact.err" ||
		log "   (compact exited $?; see $RESULTS/$system-big-compact.err)"
	kill "$SAMPLER" 2>/dev/null || true
	wait "$SAMPLER" 2>/dev/null || true
	SAMPLER=""
	disk_usage "$system" >"$RESULTS/$system-big-du"
	# Restart a follower: a leader's restart would add an election.
	leader=$(field "$json" .compact.leader)
	for i in 2 1 0; do
		[ "127.0.0.1:$((PORT_BASE + 1000 * i))" != "$leader" ] && break
	done
	log "   restart m$i (SIGTERM, then SIGKILL)"
	restart_member "$system" "$i" TERM
	restart_member "$system" "$i" KILL
	find "$RESULTS" -name "$system-big-*.err" -empty -delete
	stop_members
	rm -rf "$WORK/$system-big-"*
	EXTRA_FLAGS=()
}

START=$(date +%s)
log "etcd $ETCD_VERSION ($ETCD) vs $KELSON_VERSION; results in $RESULTS; data in $WORK"
if [ "$BIG" != only ]; then
	for n in 3 1; do
		run_setup etcd "$n"
		run_setup kelson "$n"
	done
fi
if [ "$BIG" != 0 ]; then
	for system in ${BIG_SYSTEMS:-etcd kelson}; do
		run_big "$system"
	done
fi

# suite_table: the suite's table, both systems side by side.
suite_table() {
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
}

# sum_col FILE COL: the sum of column COL of a disk_usage file ("-" if none).
sum_col() {
	[ -s "$1" ] || { echo "-"; return; }
	awk -v c="$2" '$c == "-" {bad = 1} {s += $c} END {if (bad) print "-"; else print s}' "$1"
}

# big_row LABEL ETCD KELSON [NOTE]: one row of the big phase's table.
big_row() {
	printf '%-34s %10s %10s %6s  %s\n' "$1" "$(num "$2")" "$(num "$3")" "$(ratio "$2" "$3")" "${4:-}"
}

# big_table: the big phase's figures, both systems side by side.
big_table() {
	local e="$RESULTS/etcd-big-compact.json" k="$RESULTS/kelson-big-compact.json" sys
	printf '\nbig phase: 3 members, %s keys of 1 KB written twice, then compacted (no defragmentation); puts at %s/s\n\n' \
		"$BIG_KEYS" "$BIG_RATE"
	printf '%-34s %10s %10s %6s  %s\n' "" etcd kelson "k/e" "target"
	big_row "load + overwrite (s)" "$(field "$e" '.compact.load_s + .compact.overwrite_s')" \
		"$(field "$k" '.compact.load_s + .compact.overwrite_s')"
	big_row "put p99 before compaction (ms)" "$(field "$e" .compact.baseline_p99_ms)" "$(field "$k" .compact.baseline_p99_ms)"
	big_row "put p99 during compaction (ms)" "$(field "$e" .compact.compacting_p99_ms)" "$(field "$k" .compact.compacting_p99_ms)"
	big_row "  during / before" "$(field "$e" .compact.p99_ratio)" "$(field "$k" .compact.p99_ratio)" "kelson <= 2"
	big_row "put p99 in 15 s after it (ms)" "$(field "$e" '.kinds[] | select(.name == "after") | .latency_ms.p99')" \
		"$(field "$k" '.kinds[] | select(.name == "after") | .latency_ms.p99')"
	big_row "put max during compaction (ms)" "$(field "$e" .compact.compacting_max_ms)" "$(field "$k" .compact.compacting_max_ms)"
	big_row "compaction (s)" "$(field "$e" .compact.compaction_s)" "$(field "$k" .compact.compaction_s)"
	big_row "DbSize before, 3 members (MiB)" "$(field "$e" '[.compact.members[].db_size_before] | add / 1048576')" \
		"$(field "$k" '[.compact.members[].db_size_before] | add / 1048576')"
	big_row "DbSize after, 3 members (MiB)" "$(field "$e" '[.compact.members[].db_size_after] | add / 1048576')" \
		"$(field "$k" '[.compact.members[].db_size_after] | add / 1048576')"
	big_row "disk after, 3 data dirs (MiB)" "$(sum_col "$RESULTS/etcd-big-du" 2)" "$(sum_col "$RESULTS/kelson-big-du" 2)" "k/e <= 1"
	big_row "  of which kv data (MiB)" "$(sum_col "$RESULTS/etcd-big-du" 3)" "$(sum_col "$RESULTS/kelson-big-du" 3)" "(bbolt db / Pebble store)"
	big_row "  of which log (MiB)" "$(sum_col "$RESULTS/etcd-big-du" 4)" "$(sum_col "$RESULTS/kelson-big-du" 4)" "(wal+snap / raft log)"
	big_row "restart after SIGTERM: serving (s)" "$(field "$RESULTS/etcd-big-restart-TERM.json" .ready.ready_s)" \
		"$(field "$RESULTS/kelson-big-restart-TERM.json" .ready.ready_s)" "kelson <= 5"
	big_row "restart after SIGKILL: serving (s)" "$(field "$RESULTS/etcd-big-restart-KILL.json" .ready.ready_s)" \
		"$(field "$RESULTS/kelson-big-restart-KILL.json" .ready.ready_s)" "kelson <= 5"
	for sys in etcd kelson; do
		[ -s "$RESULTS/$sys-big-compact.json" ] && [ "$(field "$RESULTS/$sys-big-compact.json" .compact.error)" != "-" ] &&
			printf '%s compaction error: %s\n' "$sys" "$(field "$RESULTS/$sys-big-compact.json" .compact.error)"
	done
	printf 'errors during the compact run e/k: %s/%s; disk over time: *-big-disk.txt\n' "$(field "$e" .errors)" "$(field "$k" .errors)"
}

{
	printf '\nkelson bench-compare %s%s: etcd %s vs %s, %s cores, data in %s\n' \
		"$STAMP" "$([ "$QUICK" = 1 ] && echo ' (QUICK=1)')" "$ETCD_VERSION" "$KELSON_VERSION" "$(nproc)" "${TMPDIR:-/tmp}"
	[ "$BIG" != only ] && suite_table
	[ "$BIG" != 0 ] && big_table
	printf '\nraw JSON, charts (.html) and member logs: %s/  (%ds)\n' "$RESULTS" $(($(date +%s) - START))
} | tee "$RESULTS/table.txt"
