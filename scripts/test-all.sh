#!/usr/bin/env bash
# The whole test suite, as `npm test` runs it (after scripts/setup.sh --test):
# build (the e2e tier runs dist/main.js), type-check, then every jest tier on real servers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

npm run build
npx tsc --noEmit -p tsconfig.json

results="$(mktemp)"
trap 'rm -f "$results"' EXIT
status=0
npx jest --maxWorkers=2 --json --outputFile="$results" "$@" || status=$?
if [ -s "$results" ]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(`\n${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`);
  ' "$results"
fi
exit "$status"
