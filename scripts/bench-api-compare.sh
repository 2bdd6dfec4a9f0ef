#!/usr/bin/env bash
# bench-api-compare: the `kelson bench api` workloads against `kelson server`
# (a store member and the Kubernetes API in one process; its controllers and
# scheduler disabled, so the API is measured alone), then against the
# upstream kube-apiserver over a separate `kelson store` — the same store and
# the same client — and one side-by-side table with ratios. Raw JSON results
# go to bench/results/api-<timestamp>/.
#
#   make bench-api              # full configuration (about 10 minutes on 2 cores)
#   QUICK=1 make bench-api      # short (~75 s): small totals, 1000 pods to list
#   KUBE_APISERVER_BIN=/path/to/kube-apiserver make bench-api
#
# kube-apiserver is $KUBE_APISERVER_BIN, else /work/peer/bin/kube-apiserver,
# started with $PEER_RUN (default /work/peer/run-kube-apiserver.sh ENDPOINTS
# PORT DATA_DIR, which writes DATA_DIR/kubeconfig). Without it the second half
# is skipped with a message and the table has Kelson's column only.
#
# Workloads: create, get, list (consistent "" and "0", decoded by client-go,
# then "" with --raw: bytes not decoded, the client's decoding left out),
# watch (fan-out with the delivery check), mix (with background watchers).
# Measured per workload: requests (or events) per second, p50 and p99 from
# the client, the server's summed RSS after the workload and its CPU time
# per request, read from /proc by `kelson bench api --server-pid`. For
# kube-apiserver the processes are kube-apiserver and its kelson store, so CPU
# per request covers the whole control plane on both sides; the RSS columns
# show kube-apiserver alone and with its store. Idle RSS is read 5 s after
# each server answers. Everything listens on 127.0.0.1 ports from
# $BENCH_API_PORT_BASE (default 21443); data lives in a temporary directory
# removed on exit, and every process started here is stopped on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
QUICK=${QUICK:-0}
PORT_BASE=${BENCH_API_PORT_BASE:-21443}
KELSON=${KELSON_BIN:-bin/kelson}
KAS=${KUBE_APISERVER_BIN:-/work/peer/bin/kube-apiserver}
PEER_RUN=${PEER_RUN:-/work/peer/run-kube-apiserver.sh}
GO=${GO:-go}

log() { printf '%s\n' "$*" >&2; }
die() { log "bench-api-compare: $*"; exit 1; }

command -v jq >/dev/null 2>&1 || die "needs jq (apt-get install jq)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/kelson-bench-api.XXXXXX")
PIDS=()
stop_all() {
	local i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill "${PIDS[$i]}" 2>/dev/null || true
		# Give each a few seconds, then make sure.
		for _ in $(seq 50); do kill -0 "${PIDS[$i]}" 2>/dev/null || break; sleep 0.1; done
		kill -9 "${PIDS[$i]}" 2>/dev/null || true
		wait "${PIDS[$i]}" 2>/dev/null || true
	done
	PIDS=()
}
trap 'stop_all; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

log "building $KELSON"
$GO build -o "$KELSON" ./cmd/kelson

OUT=bench/results/api-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
# Other work on the machine skews every number here: say how busy it was.
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

# free_port N: the first port from PORT_BASE+N upwards nobody listens on.
free_port() {
	local p=$((PORT_BASE + $1))
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
	echo "$p"
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# The workloads: name and `kelson bench api` arguments.
if [ "$QUICK" = 1 ]; then
	CLIENTS=20
	WORKLOADS=(
		"create|create --clients $CLIENTS --conns 4 --total 2000"
		"get|get --clients $CLIENTS --conns 4 --total 4000 --objects 500"
		"list-rv-empty|list --clients 1 --total 20 --objects 1000 --resource-version= --namespace bench-list --keep"
		"list-rv-0|list --clients 1 --total 20 --objects 1000 --resource-version=0 --namespace bench-list --keep"
		"list-raw|list --clients 1 --total 20 --objects 1000 --resource-version= --raw --namespace bench-list"
		"watch|watch --clients 10 --watchers 200 --watch-conns 4 --writes 100"
		"mix|mix --clients $CLIENTS --conns 4 --total 3000 --objects 500 --watchers 10"
	)
else
	CLIENTS=100
	WORKLOADS=(
		"create|create --clients $CLIENTS --conns 10 --total 20000"
		"get|get --clients $CLIENTS --conns 10 --total 30000 --objects 1000"
		"list-rv-empty|list --clients 1 --total 50 --objects 10000 --resource-version= --namespace bench-list --keep"
		"list-rv-0|list --clients 1 --total 50 --objects 10000 --resource-version=0 --namespace bench-list --keep"
		"list-raw|list --clients 1 --total 50 --objects 10000 --resource-version= --raw --namespace bench-list"
		"watch|watch --clients 10 --watchers 1000 --watch-conns 10 --writes 200"
		"mix|mix --clients $CLIENTS --conns 10 --total 20000 --objects 1000 --watchers 10"
	)
fi

# run_workloads SYSTEM KUBECONFIG PIDS: each workload in its own namespace
# (bench-NAME) unless it names one (the lists share their 10,000 pods, kept
# until the last), JSON to $OUT/SYSTEM-NAME.json; the first PID's RSS after
# each workload to $OUT/SYSTEM-NAME.rss (KiB).
run_workloads() {
	local sys=$1 kc=$2 pids=$3 w name args first=${3%%,*}
	for w in "${WORKLOADS[@]}"; do
		name=${w%%|*}
		args=${w#*|}
		case " $args " in *" --namespace "*) ;; *) args="$args --namespace bench-$name" ;; esac
		log "  $sys: kelson bench api $args"
		# shellcheck disable=SC2086
		if ! "$KELSON" bench api $args --kubeconfig "$kc" \
			--server-pid "$pids" --progress=false --json >"$OUT/$sys-$name.json" 2>"$OUT/$sys-$name.err"; then
			log "  $sys $name failed: $(tail -3 "$OUT/$sys-$name.err")"
		fi
		rss_kib "$first" >"$OUT/$sys-$name.rss"
	done
}

# wait_for CMD...: retry CMD for 90 s.
wait_for() {
	for _ in $(seq 900); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	return 1
}

# --- Kelson: kelson server ---------------------------------------------------
API=$(free_port 0)
CLIENT=$(free_port 10)
PEER=$(free_port 20)
KDIR=$TMP/kelson-server
log "kelson server: API https://127.0.0.1:$API, store 127.0.0.1:$CLIENT, data $KDIR"
"$KELSON" server --data-dir "$KDIR" --https-listen-port "$API" \
	--listen-client-urls "http://127.0.0.1:$CLIENT" --advertise-client-urls "http://127.0.0.1:$CLIENT" \
	--listen-peer-urls "http://127.0.0.1:$PEER" --initial-advertise-peer-urls "http://127.0.0.1:$PEER" \
	--initial-cluster "default=http://127.0.0.1:$PEER" --disable scheduler,controller-manager --disable-agent >"$OUT/kelson-server.log" 2>&1 &
KPID=$!
PIDS+=("$KPID")
wait_for grep -q "export KUBECONFIG=" "$OUT/kelson-server.log" || die "kelson server did not start; see $OUT/kelson-server.log"
KKC=$KDIR/admin.kubeconfig
sleep 5
K_IDLE=$(rss_kib "$KPID")
log "kelson server idle RSS: $(mib "$K_IDLE") MiB"
run_workloads kelson "$KKC" "$KPID"
stop_all

# --- kube-apiserver over kelson store ----------------------------------------
HAVE_PEER=0
if [ -x "$KAS" ] && [ -x "$PEER_RUN" ]; then
	HAVE_PEER=1
	SCLIENT=$(free_port 30)
	SPEER=$(free_port 40)
	KASPORT=$(free_port 50)
	log "kelson store: 127.0.0.1:$SCLIENT; kube-apiserver ($KAS): https://127.0.0.1:$KASPORT"
	"$KELSON" store --name peerstore --data-dir "$TMP/peer-store" \
		--listen-client-urls "http://127.0.0.1:$SCLIENT" --advertise-client-urls "http://127.0.0.1:$SCLIENT" \
		--listen-peer-urls "http://127.0.0.1:$SPEER" --initial-advertise-peer-urls "http://127.0.0.1:$SPEER" \
		--initial-cluster "peerstore=http://127.0.0.1:$SPEER" >"$OUT/peer-store.log" 2>&1 &
	SPID=$!
	PIDS+=("$SPID")
	KUBE_APISERVER=$KAS "$PEER_RUN" "127.0.0.1:$SCLIENT" "$KASPORT" "$TMP/peer-kas" >"$OUT/kube-apiserver.log" 2>&1 &
	APID=$!
	PIDS+=("$APID")
	TOKEN=${TOKEN:-kelson-peer-admin-token}
	wait_for curl -sfk -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$KASPORT/readyz" ||
		die "kube-apiserver did not become ready; see $OUT/kube-apiserver.log"
	sleep 5
	P_IDLE=$(rss_kib "$APID")
	S_IDLE=$(rss_kib "$SPID")
	log "kube-apiserver idle RSS: $(mib "$P_IDLE") MiB (its kelson store: $(mib "$S_IDLE") MiB)"
	run_workloads peer "$TMP/peer-kas/kubeconfig" "$APID,$SPID"
	stop_all
else
	log "kube-apiserver: $KAS (or $PEER_RUN) not found: skipping the comparison; set KUBE_APISERVER_BIN to run it"
fi

# --- The table -----------------------------------------------------------------
field() { jq -r "($2) // \"-\"" "$1" 2>/dev/null | head -1 || echo -; }
num() { awk -v v="$1" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.1f", v }'; }
num2() { awk -v v="$1" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.2f", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }

# The mutating kinds' worst p99 of the mix (create, update, delete).
mut_p99() { field "$1" '[.kinds[] | select(.name == "create" or .name == "update" or .name == "delete") | .latency_ms.p99] | max'; }

{
	printf '\nkelson bench api: kelson server vs kube-apiserver (on a kelson store), same client; %s\n' \
		"$([ "$QUICK" = 1 ] && echo "QUICK configuration" || echo "full configuration")"
	printf 'results in %s; %s cores; load average %s at the start, %s at the end\n\n' "$OUT" "$(nproc)" \
		"$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")"
	printf '%-14s | %10s %9s %9s %9s %10s | %10s %9s %9s %9s %10s | %7s %7s %7s\n' \
		workload "K qps" "K p50" "K p99" "K RSS" "K cpu/req" "P qps" "P p50" "P p99" "P RSS" "P cpu/req" "qps×" "p99×" "RSS×"
	printf '%-14s | %10s %9s %9s %9s %10s | %10s %9s %9s %9s %10s | %7s %7s %7s\n' \
		"" "/s" ms ms MiB ms "/s" ms ms MiB ms "K/P" "K/P" "K/P"
	for w in "${WORKLOADS[@]}"; do
		name=${w%%|*}
		k=$OUT/kelson-$name.json
		p=$OUT/peer-$name.json
		kq=$(field "$k" .throughput); k50=$(field "$k" .latency_ms.p50); k99=$(field "$k" .latency_ms.p99)
		kr=$(awk -v k="$(cat "$OUT/kelson-$name.rss" 2>/dev/null || echo 0)" 'BEGIN { printf "%.1f", k / 1024 }')
		kc=$(field "$k" .api.process.cpu_per_request_ms)
		pq=-; p50=-; p99=-; pr=-; pc=-
		if [ "$HAVE_PEER" = 1 ]; then
			pq=$(field "$p" .throughput); p50=$(field "$p" .latency_ms.p50); p99=$(field "$p" .latency_ms.p99)
			pr=$(awk -v k="$(cat "$OUT/peer-$name.rss" 2>/dev/null || echo 0)" 'BEGIN { printf "%.1f", k / 1024 }')
			pc=$(field "$p" .api.process.cpu_per_request_ms)
		fi
		printf '%-14s | %10s %9s %9s %9s %10s | %10s %9s %9s %9s %10s | %7s %7s %7s\n' "$name" \
			"$(num "$kq")" "$(num2 "$k50")" "$(num2 "$k99")" "$(num "$kr")" "$(num2 "$kc")" \
			"$(num "$pq")" "$(num2 "$p50")" "$(num2 "$p99")" "$(num "$pr")" "$(num2 "$pc")" \
			"$(ratio "$kq" "$pq")" "$(ratio "$k99" "$p99")" "$(ratio "$kr" "$pr")"
	done
	printf '\nK = kelson server (store + API, one process); P = kube-apiserver v1.37.2 over a kelson store. RSS: the server\n'
	printf 'process after the workload (P: kube-apiserver alone); cpu/req: K the one process, P kube-apiserver + its store.\n'
	printf 'qps = requests/s (watch: events/s); errors per run are in the JSON files.\n'
	printf '\n%-14s | %8s %8s %14s | %8s %8s %14s\n' workload "K ops" "K errs" "K client ms/op" "P ops" "P errs" "P client ms/op"
	for w in "${WORKLOADS[@]}"; do
		name=${w%%|*}
		k=$OUT/kelson-$name.json
		p=$OUT/peer-$name.json
		po=-; pe=-; pcl=-
		if [ "$HAVE_PEER" = 1 ]; then
			po=$(field "$p" .ops); pe=$(field "$p" .errors); pcl=$(num2 "$(field "$p" .api.client_cpu_per_request_ms)")
		fi
		printf '%-14s | %8s %8s %14s | %8s %8s %14s\n' "$name" "$(field "$k" .ops)" "$(field "$k" .errors)" \
			"$(num2 "$(field "$k" .api.client_cpu_per_request_ms)")" "$po" "$pe" "$pcl"
	done
	printf '(client ms/op: CPU of the kelson bench process itself per request, on the same cores as the server)\n'
	km=$(mut_p99 "$OUT/kelson-mix.json")
	printf '\nmix, mutating kinds (create/update/delete) worst p99: kelson %s ms' "$(num2 "$km")"
	[ "$HAVE_PEER" = 1 ] && printf ', kube-apiserver %s ms' "$(num2 "$(mut_p99 "$OUT/peer-mix.json")")"
	printf '\nwatch delivery check: kelson %s violations' "$(field "$OUT/kelson-watch.json" .watch.violation_count)"
	[ "$HAVE_PEER" = 1 ] && printf ', kube-apiserver %s' "$(field "$OUT/peer-watch.json" .watch.violation_count)"
	printf '\nidle RSS: kelson server (store + API) %s MiB' "$(mib "$K_IDLE")"
	if [ "$HAVE_PEER" = 1 ]; then
		printf '; kube-apiserver %s MiB (+ its kelson store %s MiB); ratio kelson server / kube-apiserver %s' \
			"$(mib "$P_IDLE")" "$(mib "$S_IDLE")" "$(ratio "$K_IDLE" "$P_IDLE")"
	fi
	printf '\n'
	[ "$HAVE_PEER" = 1 ] || printf '(kube-apiserver not found: no comparison)\n'
} | tee "$OUT/summary.txt"
