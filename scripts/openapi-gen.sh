#!/usr/bin/env bash
# Regenerates apiserver/openapi/zz_generated.openapi.go: the OpenAPI
# definitions (Go schemas) of every k8s.io/api group version the API server
# serves and of the apimachinery types they reference. Runs kube-openapi's
# openapi-gen at the version go.mod requires, fetched like any module (Go is
# the only thing needed). API-rule violations (list-type tags missing from
# upstream types, etc.) are upstream's business: they go to a temporary file,
# not to the repository. `make openapi-gen` runs this.
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}

# The packages whose types are served. Add a group version here when the API
# server starts serving it, then rerun.
inputs=(
	k8s.io/api/core/v1
	k8s.io/api/apps/v1
	k8s.io/api/batch/v1
	k8s.io/api/autoscaling/v1
	k8s.io/api/autoscaling/v2
	k8s.io/api/coordination/v1
	k8s.io/api/discovery/v1
	k8s.io/api/events/v1
	k8s.io/api/policy/v1
	k8s.io/api/rbac/v1
	k8s.io/api/resource/v1
	k8s.io/api/scheduling/v1
	k8s.io/api/storage/v1
	# Not served, but batch/v1's JobSpec refers to its types; the
	# package's test TestDefinitionsClosed finds such references.
	k8s.io/api/scheduling/v1alpha3
	k8s.io/apimachinery/pkg/apis/meta/v1
	k8s.io/apimachinery/pkg/runtime
	k8s.io/apimachinery/pkg/util/intstr
	k8s.io/apimachinery/pkg/api/resource
	k8s.io/apimachinery/pkg/version
)

version=$($GO list -m -f '{{.Version}}' k8s.io/kube-openapi)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

printf '// Copyright The Kelson Authors.\n\n' >"$tmp/header.txt"

$GO run "k8s.io/kube-openapi/cmd/openapi-gen@$version" \
	--go-header-file "$tmp/header.txt" \
	--output-dir apiserver/openapi \
	--output-pkg github.com/kelson-dev/kelson/apiserver/openapi \
	--output-file zz_generated.openapi.go \
	--report-filename "$tmp/violations.txt" \
	"${inputs[@]}"

n=$(grep -c '^API rule violation' "$tmp/violations.txt" || true)
echo "openapi-gen: wrote apiserver/openapi/zz_generated.openapi.go ($(wc -c <apiserver/openapi/zz_generated.openapi.go) bytes); ignored $n upstream API rule violation(s)"
