#!/usr/bin/env bash
# The real Trino side of the platform test tier (test/platform/trino*): pinned releases fetched with
# the ordinary clients (Maven for Maven Central artifacts, pip for PyPI) into a cache outside the
# repository, so that later runs start at once. Idempotent: a run with everything cached prints
# "cached" and takes about a second.
#
#   scripts/fetch-trino.sh            fetch what is missing
#   PLATFORM_BFF_CACHE=/path scripts/...  cache elsewhere (default ~/.cache/platform-bff)
#
# Layout under $PLATFORM_BFF_CACHE/trino-476:
#   server/            trino-server-core 476 unpacked, plugins tpch and memory unpacked in server/plugin
#   trino-cli.jar      the executable CLI jar
#   trino-jdbc.jar     the JDBC driver
#   gateway-ha.jar     Trino Gateway (jar with dependencies), the version of docker/compose.yaml
#   venv/              Python venv with the `trino` client
#
# The Trino Gateway's database is Debian's PostgreSQL (package postgresql, installed with apt-get when
# missing; test/support/platform/postgres.ts starts a throwaway cluster of it per run).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=platform-versions.env
source "$ROOT/scripts/platform-versions.env"
GATEWAY_VERSION=$TRINO_GATEWAY_VERSION
PY_TRINO_VERSION=0.340.0
CACHE="${PLATFORM_BFF_CACHE:-$HOME/.cache/platform-bff}/trino-$TRINO_VERSION"
log() { printf '[fetch-trino] %s\n' "$*"; }

mkdir -p "$CACHE"
start=$(date +%s)
fetched=()

mvn_copy() { # artifact (g:a:v[:type[:classifier]]) destination-file
  local artifact="$1" dest="$2" tmp
  [ -s "$dest" ] && return 0
  tmp="$(mktemp -d "$CACHE/.mvn.XXXXXX")"
  mvn -q -B dependency:copy -Dartifact="$artifact" -DoutputDirectory="$tmp" -Dmdep.stripVersion=false >&2
  mv "$tmp"/* "$dest"
  rmdir "$tmp"
  fetched+=("$artifact")
}

if [ ! -x "$CACHE/server/bin/launcher" ]; then
  mvn_copy "io.trino:trino-server-core:$TRINO_VERSION:tar.gz" "$CACHE/trino-server-core.tar.gz"
  rm -rf "$CACHE/server.tmp" && mkdir -p "$CACHE/server.tmp"
  tar -xzf "$CACHE/trino-server-core.tar.gz" -C "$CACHE/server.tmp" --strip-components=1
  for plugin in tpch memory; do
    mvn_copy "io.trino:trino-$plugin:$TRINO_VERSION:zip" "$CACHE/trino-$plugin.zip"
    mkdir -p "$CACHE/server.tmp/plugin"
    (cd "$CACHE/server.tmp/plugin" && unzip -q -o "$CACHE/trino-$plugin.zip" && \
      if [ -d "trino-$plugin-$TRINO_VERSION" ]; then mv "trino-$plugin-$TRINO_VERSION" "$plugin"; fi)
  done
  rm -f "$CACHE/trino-server-core.tar.gz" "$CACHE"/trino-tpch.zip "$CACHE"/trino-memory.zip
  mv "$CACHE/server.tmp" "$CACHE/server"
fi
mvn_copy "io.trino:trino-cli:$TRINO_VERSION:jar:executable" "$CACHE/trino-cli.jar"
mvn_copy "io.trino:trino-jdbc:$TRINO_VERSION" "$CACHE/trino-jdbc.jar"
mvn_copy "io.trino.gateway:gateway-ha:$GATEWAY_VERSION:jar:jar-with-dependencies" "$CACHE/gateway-ha.jar"

if [ ! -x "$CACHE/venv/bin/python" ] || ! "$CACHE/venv/bin/python" -c 'import trino' 2>/dev/null; then
  python3 -m venv "$CACHE/venv"
  "$CACHE/venv/bin/pip" install -q --disable-pip-version-check "trino==$PY_TRINO_VERSION" >&2
  fetched+=("pip trino==$PY_TRINO_VERSION")
fi

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian's postgresql (the Trino Gateway's database)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >&2 ||
      { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >&2; }
    fetched+=("apt postgresql")
  else
    echo "fetch-trino.sh: PostgreSQL is needed for the Trino Gateway tier: apt-get install postgresql (as root)" >&2
    exit 1
  fi
fi

if [ "${#fetched[@]}" -eq 0 ]; then
  log "cached in $CACHE ($(($(date +%s) - start))s)"
else
  log "fetched ${fetched[*]} in $(($(date +%s) - start))s; cache $(du -sh "$CACHE" | cut -f1)"
fi
