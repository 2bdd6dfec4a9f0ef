# Kelson — see README.md. `make run` starts a server, `make test` runs what CI runs.
GO      ?= go
BIN     := bin/kelson
# An execution count, not a duration: Go before 1.27 can fail a fuzz run
# with a bare "context deadline exceeded" when a duration's deadline races
# its workers (golang/go#75804). 8000 inputs take 1-10 s per target here.
FUZZTIME ?= 8000x

.PHONY: all build test run bench lint fuzz deps clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/kelson

# run: `kelson server` with its state in ./default.kelson: a single store member
# on etcd's ports (clients 127.0.0.1:2379, peers 127.0.0.1:2380), the
# Kubernetes API on https://127.0.0.1:6443 (it writes an admin kubeconfig),
# the controllers, the scheduler, and a node agent that runs pods through
# containerd (installed first when missing; the agent needs root, and without
# it the server runs as a control plane alone).
run: build
	@./scripts/test-deps.sh || echo "warning: could not install containerd and runc: the server runs without its node agent"
	@echo "Kelson server: the API on https://127.0.0.1:6443, the store on 127.0.0.1:2379 (peers 2380), state in ./default.kelson"
	@echo "Try it:  export KUBECONFIG=$(CURDIR)/default.kelson/admin.kubeconfig; kubectl get nodes"
	@echo "         etcdctl --endpoints=127.0.0.1:2379 endpoint status -w table"
	@echo "Stop it with Ctrl-C."
	./$(BIN) server

deps:
	./scripts/test-deps.sh

# test: everything CI runs — vet, the race-detected test suite, short fuzzing.
test: deps build lint
	$(GO) test -race -timeout 25m ./...
	$(MAKE) fuzz

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzApplyRequest$$' -fuzztime $(FUZZTIME) ./kvstore/
	$(GO) test -run '^$$' -fuzz '^FuzzTxnRequest$$' -fuzztime $(FUZZTIME) ./kvstore/
	$(GO) test -run '^$$' -fuzz '^FuzzRevKey$$' -fuzztime $(FUZZTIME) ./kvstore/
	$(GO) test -run '^$$' -fuzz '^FuzzKVRecord$$' -fuzztime $(FUZZTIME) ./kvstore/
	$(GO) test -run '^$$' -fuzz '^FuzzSnapshotRestore$$' -fuzztime $(FUZZTIME) ./kvstore/
	$(GO) test -run '^$$' -fuzz '^FuzzRecordReader$$' -fuzztime $(FUZZTIME) ./raftnode/transport/
	$(GO) test -run '^$$' -fuzz '^FuzzSnapBody$$' -fuzztime $(FUZZTIME) ./raftnode/transport/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCreate$$' -fuzztime $(FUZZTIME) ./apiserver/
	$(GO) test -run '^$$' -fuzz '^FuzzPatch$$' -fuzztime $(FUZZTIME) ./apiserver/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRequest$$' -fuzztime $(FUZZTIME) ./apiserver/

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./kvstore/ ./raftnode/...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin

# openapi-gen: regenerate apiserver/openapi/zz_generated.openapi.go (the
# OpenAPI schemas of the served k8s.io/api kinds) with kube-openapi's
# openapi-gen at the version go.mod requires. Rerun after changing the k8s.io
# versions or the served group versions (listed in the script).
.PHONY: openapi-gen
openapi-gen:
	GO=$(GO) ./scripts/openapi-gen.sh

# bench-compare: the same benchmark suite against a local etcd (Debian's
# etcd-server, or $$ETCD_BIN) and Kelson, three members then one; prints a
# table, keeps JSON and charts in bench/results/. QUICK=1 for a ~1 min run.
# BIG=1 adds the big phase after it (bench-big alone runs just that phase):
# 1M keys of 1 KB written twice, put p99 during their compaction, disk use
# after it, and the restart time of a member holding them; about 6 min on a
# quiet 2-core machine (more under load), ~3 GB free per member in $$TMPDIR. BIG_KEYS=n, BIG_RATE=puts/s,
# BIG_SYSTEMS=kelson (or etcd) for one system only.
.PHONY: bench-compare bench-big
bench-compare: build
	./scripts/bench-compare.sh

bench-big: build
	BIG=only ./scripts/bench-compare.sh

# bench-api: `kelson bench api` (create, get, list, watch, mix through
# client-go) against `kelson server`, then against kube-apiserver
# ($$KUBE_APISERVER_BIN, default /work/peer/bin/kube-apiserver; skipped when
# absent) over a `kelson store`; a side-by-side table with ratios and idle RSS.
# QUICK=1 for a short run (~2 min). Results in bench/results/api-<time>/.
# bench-scheduler: `kelson bench scheduler` (5,000 simulated nodes, 10,000
# pods) with Kelson's scheduler and then with the upstream kube-scheduler
# against the same server, and `kelson bench deploy` (1,000 replicas on 100
# nodes); see scripts/bench-scheduler-compare.sh. NODES=, PODS= shrink it.
.PHONY: bench-scheduler
bench-scheduler: build
	./scripts/bench-scheduler-compare.sh

.PHONY: bench-api
bench-api: build
	QUICK=$(QUICK) ./scripts/bench-api-compare.sh

# chaos: the robustness suite (package chaos) at length: three `kelson store`
# processes under a client workload and injected faults (kills, partitions,
# pauses, slow and failing disks, membership changes), the history checked
# afterwards; plus its regression and bad-input tests, longer. `make test` runs
# a short version. SEED=n (or random) reruns a schedule; DURATION is the fault
# phase of TestChaos; RUN=regexp picks tests.
QUICK    ?= 0
SEED     ?= 1
DURATION ?= 5m
RUN      ?= .
.PHONY: chaos
chaos:
	KELSON_CHAOS_SEED=$(SEED) KELSON_CHAOS_DURATION=$(DURATION) $(GO) test -count=1 -v -timeout 3h -run '$(RUN)' ./chaos/
