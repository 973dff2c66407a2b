#!/usr/bin/env bash
# kubeconform and the Kubernetes schemas that test/deploy/k8s-manifests.spec.ts validates docker/k8s against,
# fetched with the ordinary Go client from the Go module proxy into a cache outside the repository:
#
#   kubeconform                 github.com/yannh/kubeconform@$KUBECONFORM_VERSION    (go install)
#   Kubernetes API schemas      k8s.io/kubernetes@$KUBERNETES_VERSION: api/openapi-spec/swagger.json
#   Gateway API CRDs            sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION: config/crd/standard/*.yaml
#   Envoy Gateway CRDs          github.com/envoyproxy/gateway@$ENVOY_GATEWAY_VERSION: SecurityPolicy's CRD
#
# scripts/k8s-schemas.mjs turns them into one JSON schema per kind (strict: unknown fields are errors), in
# $CACHE/k8s-schemas-<versions>/<group>/<kind>_<version>.json, the layout the spec's -schema-location names.
# Idempotent: with the binary and the schemas cached it prints their paths and exits at once. Prints
# `KUBECONFORM=<binary>` and `K8S_SCHEMAS=<dir>` as its last two lines.
set -euo pipefail

KUBECONFORM_VERSION=v0.8.0
KUBERNETES_VERSION=v1.34.4
GATEWAY_API_VERSION=v1.6.3
ENVOY_GATEWAY_VERSION=v1.9.1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${PLATFORM_BFF_CACHE:-$HOME/.cache/platform-bff}"
BIN="$CACHE/kubeconform-$KUBECONFORM_VERSION/bin/kubeconform"
SCHEMAS="$CACHE/k8s-schemas-$KUBERNETES_VERSION-gwapi-$GATEWAY_API_VERSION-eg-$ENVOY_GATEWAY_VERSION"
log() { printf '[fetch-kubeconform] %s\n' "$*" >&2; }

command -v go >/dev/null || { log "go is not installed (kubeconform and the schemas come from the Go module proxy)"; exit 1; }
# The module cache of these downloads lives in the cache too (writable, so that it can be deleted).
export GOPATH="$CACHE/go" GOFLAGS=-modcacherw
start=$(date +%s)

if [ ! -x "$BIN" ]; then
  log "building kubeconform $KUBECONFORM_VERSION with go install"
  mkdir -p "$(dirname "$BIN")"
  GOBIN="$(dirname "$BIN")" nice go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
fi

if [ ! -f "$SCHEMAS/.complete" ]; then
  # go mod download prints the module's directory in the cache ("Dir").
  dir_of() { (cd "$CACHE" && go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'); }
  log "downloading the schema sources (k8s.io/kubernetes $KUBERNETES_VERSION, gateway-api $GATEWAY_API_VERSION, envoy gateway $ENVOY_GATEWAY_VERSION)"
  k8s="$(dir_of "k8s.io/kubernetes@$KUBERNETES_VERSION")"
  gwapi="$(dir_of "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION")"
  eg="$(dir_of "github.com/envoyproxy/gateway@$ENVOY_GATEWAY_VERSION")"
  rm -rf "$SCHEMAS.tmp"
  node "$ROOT/scripts/k8s-schemas.mjs" "$SCHEMAS.tmp" \
    --swagger "$k8s/api/openapi-spec/swagger.json" \
    --crds "$gwapi/config/crd/standard" \
    --crds "$eg/charts/gateway-helm/charts/crds/crds/generated/gateway.envoyproxy.io_securitypolicies.yaml"
  touch "$SCHEMAS.tmp/.complete"
  rm -rf "$SCHEMAS" && mv "$SCHEMAS.tmp" "$SCHEMAS"
fi
log "ready in $(( $(date +%s) - start )) s"
echo "KUBECONFORM=$BIN"
echo "K8S_SCHEMAS=$SCHEMAS"
