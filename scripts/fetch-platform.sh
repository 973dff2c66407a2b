#!/usr/bin/env bash
# Fetches the pinned releases of the real-platform test tier (test/platform) into ~/.cache/platform-bff
# (outside the repository), with the ordinary clients: Maven for Maven Central artifacts. Idempotent:
# a release already unpacked there is not fetched again. Versions: scripts/platform-versions.env.
#
#   Keycloak  org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip → $CACHE/keycloak/keycloak-$KEYCLOAK_VERSION
#
# PLATFORM_BFF_CACHE overrides the cache directory (default ~/.cache/platform-bff), as for scripts/node24.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=platform-versions.env
source "$ROOT/scripts/platform-versions.env"
CACHE="${PLATFORM_BFF_CACHE:-$HOME/.cache/platform-bff}"
log() { printf '[fetch-platform] %s\n' "$*"; }

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "fetch-platform.sh: '$1' is needed ($2)" >&2; exit 1; }
}

# mvn dependency:copy of one artifact (groupId:artifactId:version:type[:classifier]) into a directory.
maven_copy() {
  need mvn "Maven fetches the Maven Central artifacts"
  mvn -q -B dependency:copy -Dartifact="$1" -DoutputDirectory="$2" -Dmdep.overWriteIfNewer=true
}

fetch_keycloak() {
  local dir="$CACHE/keycloak" home="$CACHE/keycloak/keycloak-$KEYCLOAK_VERSION"
  if [ -x "$home/bin/kc.sh" ] && [ -f "$home/lib/quarkus-run.jar" ]; then
    log "Keycloak $KEYCLOAK_VERSION present ($home)"
    return
  fi
  need unzip "to unpack the Keycloak distribution"
  mkdir -p "$dir"
  local zip="$dir/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip"
  if [ ! -s "$zip" ]; then
    log "fetching org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip"
    maven_copy "org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip" "$dir"
  fi
  local tmp
  tmp="$(mktemp -d "$dir/.unpack.XXXXXX")"
  unzip -q "$zip" -d "$tmp"
  rm -rf "$home"
  mv "$tmp/keycloak-$KEYCLOAK_VERSION" "$home"
  rm -rf "$tmp"
  log "Keycloak $KEYCLOAK_VERSION unpacked into $home"
}

start=$(date +%s)
fetch_keycloak
log "done in $(($(date +%s) - start))s"
