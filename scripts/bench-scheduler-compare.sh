#!/usr/bin/env bash
# bench-scheduler-compare: `kelson bench scheduler` and `kelson bench deploy`
# against `kelson server` with its own scheduler (pods scheduled as they are
# created: the creates' pace bounds it), then with the server's scheduler
# disabled: pods created first, then Kelson's scheduler (in the bench's
# process, through the API) or the upstream kube-scheduler v1.37.2 started on
# the backlog, and kube-scheduler with the pods streamed — the same server,
# the same simulated nodes, the same client — and one side-by-side summary. JSON results go to
# bench/results/scheduler-<timestamp>/.
#
#   make bench-scheduler                      # 5,000 nodes, 10,000 pods; deploy 100 nodes, 1,000 replicas
#   NODES=500 PODS=2000 make bench-scheduler  # smaller
#   KUBE_SCHEDULER_BIN=/path/to/kube-scheduler make bench-scheduler
#
# kube-scheduler is $KUBE_SCHEDULER_BIN, else /work/peer/bin/kube-scheduler
# (built from Go modules outside the repository); without it that half is
# skipped with a message. Everything listens on 127.0.0.1 ports from
# $BENCH_SCHED_PORT_BASE (default 23443); data lives in a temporary
# directory removed on exit, and every process started here is stopped on
# exit. The server's --cluster-cidr is 100.64.0.0/10 so that 5,000 nodes
# each get a /24.
set -euo pipefail

cd "$(dirname "$0")/.."
PORT_BASE=${BENCH_SCHED_PORT_BASE:-23443}
KELSON=${KELSON_BIN:-bin/kelson}
KSCHED=${KUBE_SCHEDULER_BIN:-/work/peer/bin/kube-scheduler}
NODES=${NODES:-5000}
PODS=${PODS:-10000}
DEPLOY_NODES=${DEPLOY_NODES:-100}
REPLICAS=${REPLICAS:-1000}
CLIENTS=${CLIENTS:-64}

log() { printf '%s\n' "$*" >&2; }
die() { log "bench-scheduler-compare: $*"; exit 1; }
command -v jq >/dev/null 2>&1 || die "needs jq (apt-get install jq)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/kelson-bench-sched.XXXXXX")
PIDS=()
stop_all() {
	local i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill "${PIDS[$i]}" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "${PIDS[$i]}" 2>/dev/null || break; sleep 0.1; done
		kill -9 "${PIDS[$i]}" 2>/dev/null || true
		wait "${PIDS[$i]}" 2>/dev/null || true
	done
	PIDS=()
}
trap 'stop_all; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

OUT=bench/results/scheduler-$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$OUT"

# start_server NAME EXTRA...: a fresh kelson server; sets KC.
start_server() {
	local name=$1
	shift
	local dir=$TMP/$name
	"$KELSON" server --data-dir "$dir" --https-listen-port "$PORT_BASE" \
		--listen-client-urls "http://127.0.0.1:$((PORT_BASE + 1))" --advertise-client-urls "http://127.0.0.1:$((PORT_BASE + 1))" \
		--listen-peer-urls "http://127.0.0.1:$((PORT_BASE + 2))" --initial-advertise-peer-urls "http://127.0.0.1:$((PORT_BASE + 2))" \
		--initial-cluster "default=http://127.0.0.1:$((PORT_BASE + 2))" --cluster-cidr 100.64.0.0/10 --disable-agent \
		--log-level warn "$@" >"$OUT/$name-server.log" 2>&1 &
	PIDS+=($!)
	KC=$dir/admin.kubeconfig
	for _ in $(seq 300); do
		[ -s "$KC" ] && KUBECONFIG=$KC kubectl get --raw /readyz >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	die "kelson server ($name) did not become ready; see $OUT/$name-server.log"
}

log "kelson server with its own scheduler and controllers"
start_server kelson
"$KELSON" bench scheduler --kubeconfig "$KC" --nodes "$NODES" --pods "$PODS" --clients "$CLIENTS" --json >"$OUT/scheduler-kelson.json"
"$KELSON" bench deploy --kubeconfig "$KC" --nodes "$DEPLOY_NODES" --replicas "$REPLICAS" --clients "$CLIENTS" --node-prefix deploy-node --json >"$OUT/deploy-kelson.json"
stop_all

log "kelson server with --disable scheduler: pods created first, then Kelson's scheduler alone"
start_server backlog --disable scheduler
"$KELSON" bench scheduler --kubeconfig "$KC" --nodes "$NODES" --pods "$PODS" --clients "$CLIENTS" --start-scheduler kelson --json >"$OUT/scheduler-kelson-backlog.json"
KSCHED_CMD="$KSCHED --kubeconfig $KC --leader-elect=false --secure-port 0 --kube-api-qps 1000 --kube-api-burst 2000"
if [ -x "$KSCHED" ]; then
	log "the same, kube-scheduler alone"
	"$KELSON" bench scheduler --kubeconfig "$KC" --nodes "$NODES" --pods "$PODS" --clients "$CLIENTS" --start-scheduler "exec $KSCHED_CMD >$OUT/kube-scheduler-backlog.log 2>&1" --json >"$OUT/scheduler-kube-backlog.json"
	log "kube-scheduler running while the pods are created"
	$KSCHED_CMD >"$OUT/kube-scheduler.log" 2>&1 &
	PIDS+=($!)
	"$KELSON" bench scheduler --kubeconfig "$KC" --nodes "$NODES" --pods "$PODS" --clients "$CLIENTS" --json >"$OUT/scheduler-kube.json"
else
	log "no kube-scheduler at $KSCHED (set KUBE_SCHEDULER_BIN): Kelson's figures only"
fi
stop_all

row() { jq -r --arg who "$1" '"| \($who) | \(.nodes) | \(.config.pods) | \(.pods_per_second|floor) | \(.latency.p50_ns/1e6|floor) / \(.latency.p99_ns/1e6|floor) | \(.nodes_used) / \(.max_per_node) |"' "$2"; }
{
	echo "| scheduler | nodes | pods | pods/s | create→bound p50 / p99 ms | nodes used / max pods on one |"
	echo "|---|---|---|---|---|---|"
	row "kelson, pods streamed" "$OUT/scheduler-kelson.json"
	[ -f "$OUT/scheduler-kube.json" ] && row "kube-scheduler, pods streamed" "$OUT/scheduler-kube.json"
	row "kelson, backlog" "$OUT/scheduler-kelson-backlog.json"
	[ -f "$OUT/scheduler-kube-backlog.json" ] && row "kube-scheduler, backlog" "$OUT/scheduler-kube-backlog.json"
	echo
	jq -r '"deploy: \(.config.replicas) replicas on \(.nodes) nodes: create → all Ready \(.ready_ns/1e9*10|floor/10) s, rolling update \(.rollout_ns/1e9*10|floor/10) s"' "$OUT/deploy-kelson.json"
} | tee "$OUT/summary.md"
