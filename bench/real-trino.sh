#!/usr/bin/env bash
# A plain, single-node Trino (the release of scripts/fetch-trino.sh) on loopback for bench/trino.bench.ts:
# HTTP only, no authentication (it trusts X-Trino-User, as the BFF's TRINO_AUTH=none expects), the tpch
# catalog, one JVM of 1 GB. Prints the URL once the coordinator runs queries, then waits; stop it with
# Ctrl-C or by the pid it prints (it stops Trino by its pid).
#
#   bash bench/real-trino.sh            # then, in another shell:
#   BENCH_TRINO_URL=http://127.0.0.1:PORT node dist/app/bench/trino.bench.js
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../scripts/platform-versions.env
source "$ROOT/scripts/platform-versions.env"
CACHE="${PLATFORM_BFF_CACHE:-$HOME/.cache/platform-bff}/trino-$TRINO_VERSION"
JAVA_HOME="${TRINO_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
[ -x "$CACHE/server/bin/launcher" ] || { echo "Trino $TRINO_VERSION is not fetched: run scripts/fetch-trino.sh" >&2; exit 1; }
[ -x "$JAVA_HOME/bin/java" ] || { echo "no Java >= 24 at $JAVA_HOME (set TRINO_JAVA_HOME)" >&2; exit 1; }

PORT="${BENCH_TRINO_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
DIR="$(mktemp -d "${TMPDIR:-/tmp}/bench-trino.XXXXXX")"
mkdir -p "$DIR/etc/catalog"
cat >"$DIR/etc/config.properties" <<PROPS
coordinator=true
node-scheduler.include-coordinator=true
http-server.http.port=$PORT
discovery.uri=http://127.0.0.1:$PORT
query.max-memory=256MB
query.max-memory-per-node=256MB
task.concurrency=2
PROPS
printf 'node.environment=bench\nnode.id=bench\nnode.data-dir=%s/data\n' "$DIR" >"$DIR/etc/node.properties"
printf -- '-server\n-Xmx1G\n-XX:+UseG1GC\n-XX:+ExitOnOutOfMemoryError\n-Djdk.attach.allowAttachSelf=true\n' >"$DIR/etc/jvm.config"
cp "$ROOT/docker/trino/catalog/tpch.properties" "$DIR/etc/catalog/"

JAVA_HOME="$JAVA_HOME" "$CACHE/server/bin/launcher" run --etc-dir="$DIR/etc" --data-dir="$DIR/data" >"$DIR/server.log" 2>&1 &
TRINO_PID=$!
trap 'kill "$TRINO_PID" 2>/dev/null; wait "$TRINO_PID" 2>/dev/null; rm -rf "$DIR"' EXIT INT TERM
echo "[real-trino] starting Trino $TRINO_VERSION (pid $TRINO_PID, log $DIR/server.log) ..."
until curl -sf -X POST -H 'X-Trino-User: bench' --data 'SELECT 1' "http://127.0.0.1:$PORT/v1/statement" >/dev/null 2>&1 &&
  grep -q 'SERVER STARTED' "$DIR/server.log"; do
  kill -0 "$TRINO_PID" 2>/dev/null || { tail -20 "$DIR/server.log" >&2; exit 1; }
  sleep 2
done
echo "[real-trino] ready: BENCH_TRINO_URL=http://127.0.0.1:$PORT (script pid $$)"
wait "$TRINO_PID"
