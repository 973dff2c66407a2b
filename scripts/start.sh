#!/usr/bin/env bash
# `npm start`: npm dependencies (npm ci when needed), build, then the app (sandbox mode without KEYCLOAK_URL).
set -euo pipefail
# Runs on the project's Node 24 (scripts/node24.sh), also when started directly.
[ -n "${PLATFORM_BFF_NODE24:-}" ] || exec bash "$(dirname "${BASH_SOURCE[0]}")/node24.sh" bash "$0" "$@"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh --runtime
bash scripts/build.sh
exec node dist/main.js
