#!/usr/bin/env bash
# oauth2-proxy for `npm run bench:peers` (the nginx auth_request peer): the pinned release built from
# its Go module with `go install` into a cache outside the repository; nothing of it is committed.
# Idempotent: with the binary cached it prints its path and exits at once. Prints the binary's path
# on its last line.
#
#   scripts/fetch-oauth2-proxy.sh
#   PLATFORM_BFF_CACHE=/path scripts/fetch-oauth2-proxy.sh   cache elsewhere (default ~/.cache/platform-bff)
#
# Needs Go (oauth2-proxy 7.15 wants Go >= 1.25; the toolchain directive of its go.mod is honoured).
set -euo pipefail

OAUTH2_PROXY_VERSION=v7.15.6
CACHE="${PLATFORM_BFF_CACHE:-$HOME/.cache/platform-bff}/oauth2-proxy-$OAUTH2_PROXY_VERSION"
BIN="$CACHE/bin/oauth2-proxy"
log() { printf '[fetch-oauth2-proxy] %s\n' "$*" >&2; }

if [ -x "$BIN" ] && "$BIN" --version 2>&1 | grep -q "${OAUTH2_PROXY_VERSION}"; then
  echo "$BIN"
  exit 0
fi
command -v go >/dev/null || { log "go is not installed (the bench builds oauth2-proxy $OAUTH2_PROXY_VERSION from its Go module)"; exit 1; }
mkdir -p "$CACHE/bin"
start=$(date +%s)
log "building oauth2-proxy $OAUTH2_PROXY_VERSION with go install (a few minutes the first time)"
# The version string is the release's, as its own build sets it.
GOBIN="$CACHE/bin" GOFLAGS=-buildvcs=false nice go install \
  -ldflags "-X github.com/oauth2-proxy/oauth2-proxy/v7/pkg/version.VERSION=$OAUTH2_PROXY_VERSION" \
  "github.com/oauth2-proxy/oauth2-proxy/v7@$OAUTH2_PROXY_VERSION"
log "built in $(( $(date +%s) - start )) s"
echo "$BIN"
