#!/usr/bin/env bash
# Compiles the app (src/, sandbox/, bench/, scripts/) into dist/ with tsc; `node dist/main.js` starts it.
set -euo pipefail
# Runs on the project's Node 24 (scripts/node24.sh), also when started directly.
[ -n "${PLATFORM_BFF_NODE24:-}" ] || exec bash "$(dirname "${BASH_SOURCE[0]}")/node24.sh" bash "$0" "$@"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "[build] compiling TypeScript into dist/ (tsc -p tsconfig.build.json) ..."
rm -rf dist
tsc -p tsconfig.build.json
node scripts/write-entry.js
echo "[build] done"
