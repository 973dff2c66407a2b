#!/usr/bin/env bash
# Mutation testing of the security-critical decision code, one module at a time (npm run test:mutation).
#   bash scripts/mutation.sh                  every module below
#   bash scripts/mutation.sh token-verifier   one module (or several names)
#   MUTATION_FORCE=1 bash scripts/mutation.sh ws-ticket   every mutant again, not only those a change touched
#   MUTATION_LINES=126-174 bash scripts/mutation.sh token-verifier   only those lines of a one-file module: a long
#     module in chunks, each chunk's results kept in the module's incremental file (a later run of the whole
#     module reuses them)
# Each module is mutated with Stryker against the unit specs listed beside it (MUTATION_SPECS, read by
# test/mutation/jest.config.js), each mutant against only the tests that cover it (perTest), and keeps its
# own incremental file (test/mutation/incremental/<name>.json, git-ignored): a rerun after a small change
# tests only the mutants that change touched. The score table is printed per module; docs/mutation.md
# records the scores and explains every surviving mutant.
set -euo pipefail
cd "$(dirname "$0")/.."

# name | what to mutate (file, or file:lines, comma-separated) | the specs it is tested by
MODULES=(
  "access-policy|src/auth/access-policy.ts,src/config/request-path.ts|src/auth/access-policy.spec.ts,src/config/request-path.spec.ts"
  "token-source|src/auth/token-source.ts|src/auth/token-source.spec.ts"
  "token-verifier|src/auth/token-verifier.service.ts|src/auth/token-verifier.spec.ts"
  "access-decider|src/auth/access-decider.service.ts,src/auth/credentials.ts|src/auth/access-decider.service.spec.ts"
  "ws-ticket|src/auth/ws-ticket.service.ts|src/auth/ws-ticket.service.spec.ts,src/auth/access-decider.service.spec.ts"
  "query-ownership|src/trino-query/query-ownership.ts|src/trino-query/query-ownership.spec.ts"
  "uri-rewriter|src/trino-query/uri-rewriter.ts|src/trino-query/uri-rewriter.spec.ts"
  "token-exchange-cache|src/token-exchange/token-exchange.service.ts:23-34,src/token-exchange/exchanged-token-cache.ts:37-39|src/token-exchange/token-exchange.service.spec.ts"
  "route-policy|src/auth/route-policy.resolver.ts,src/auth/hot-routes.ts|src/auth/route-policy.resolver.spec.ts,src/auth/hot-routes.spec.ts"
  "mlflow-endpoints|src/mlflow/mlflow-endpoints.ts|src/mlflow/mlflow-rest.spec.ts,src/mlflow/mlflow-rules.spec.ts"
  "mlflow-permission|src/mlflow/mlflow-permission.service.ts|src/mlflow/mlflow-permission.service.spec.ts,src/mlflow/mlflow-rules.spec.ts,src/mlflow/mlflow-rest.spec.ts"
  "mlflow-rest|src/mlflow/mlflow-rest.ts|src/mlflow/mlflow-rest.spec.ts,src/mlflow/mlflow-rest-decisions.spec.ts"
  "mlflow-proxy|src/mlflow/mlflow-proxy.service.ts|src/mlflow/mlflow-proxy.service.spec.ts"
)

wanted=("$@")
ran=0
for row in "${MODULES[@]}"; do
  IFS='|' read -r name file specs <<<"$row"
  if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " == *" $name "* ]]; then continue; fi
  ran=$((ran + 1))
  echo "== $name ($file)"
  force=()
  # Stryker records no per-test coverage for static mutants (module-level tables and regexes): an
  # incremental run keeps their old result even when a new test would kill them. MUTATION_FORCE=1
  # retests every mutant of the module.
  if [ "${MUTATION_FORCE:-0}" = 1 ]; then force=(--force); fi
  if [ -n "${MUTATION_LINES:-}" ]; then
    if [[ "$file" == *,* || "$file" == *:* ]]; then
      echo "MUTATION_LINES needs a module of one whole file ($name mutates $file)" >&2
      exit 2
    fi
    file="$file:$MUTATION_LINES"
  fi
  MUTATION_MODULE="$name" MUTATION_SPECS="$specs" npx stryker run --mutate "$file" --concurrency "${MUTATION_CONCURRENCY:-2}" "${force[@]}"
done
if [ "$ran" -eq 0 ]; then
  echo "no such module: ${wanted[*]} (one of: $(printf '%s\n' "${MODULES[@]}" | cut -d'|' -f1 | tr '\n' ' '))" >&2
  exit 2
fi
