#!/usr/bin/env bash
# The whole test suite, as `npm test` runs it (after scripts/setup.sh --test):
# build (the e2e tier runs dist/main.js), type-check, lint (zero warnings), formatting, then every jest tier on real servers.
set -euo pipefail
# Runs on the project's Node 24 (scripts/node24.sh), also when started directly.
[ -n "${PLATFORM_BFF_NODE24:-}" ] || exec bash "$(dirname "${BASH_SOURCE[0]}")/node24.sh" bash "$0" "$@"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

npm run build
npx tsc --noEmit -p tsconfig.json
npm run lint
npm run format:check

results="$(mktemp)"
trap 'rm -f "$results"' EXIT
status=0
npx jest --maxWorkers=2 --json --outputFile="$results" "$@" || status=$?
if [ -s "$results" ]; then
  # A suite can fail outside its tests (an afterAll error: the log-hygiene scan of test/support/log-hygiene.setup.ts,
  # a file that does not compile): jest counts it in numFailedTestSuites, not numFailedTests. Each counts as one failure here.
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const rel = (p) => require("path").relative(process.cwd(), p);
    const plain = (s) => (s || "").replace(/\x1b\[[0-9;]*m/g, "");
    const outside = r.testResults.filter((t) => t.status === "failed" && !t.assertionResults.some((a) => a.status === "failed"));
    for (const t of outside) {
      const first = plain(t.message).split("\n").map((l) => l.trim()).find((l) => l && !/^●/.test(l)) || "failed to run";
      console.log(`suite failed outside its tests: ${rel(t.name)}: ${first}`);
    }
    const failed = r.numFailedTests + outside.length;
    const detail = outside.length ? ` (${r.numFailedTests} tests; ${outside.length} suite${outside.length > 1 ? "s" : ""} failed outside its tests: ${outside.map((t) => rel(t.name)).join(", ")})` : "";
    console.log(`\n${r.numPassedTests} passed, ${failed} failed, ${r.numPendingTests} skipped${detail}`);
    process.exitCode = failed > 0 || !r.success ? 1 : 0;
  ' "$results" || status=1
fi
exit "$status"
