#!/usr/bin/env bash
# Compiles the app (src/, sandbox/, bench/, scripts/) into dist/ with tsc; `node dist/main.js` starts it.
#
# Never breaks a running app (`npm start` while another `npm start` runs):
# - nothing changed since the last build (same sources, tsconfig, lock file, Node): dist/ is left as it
#   is and the build takes a fraction of a second;
# - something changed: tsc compiles into a new directory beside dist/, which then replaces dist/ by
#   renames (under tmp/, on the same file system); dist/ is never empty or half written.
set -euo pipefail
# Runs on the project's Node 24 (scripts/node24.sh), also when started directly.
[ -n "${PLATFORM_BFF_NODE24:-}" ] || exec bash "$(dirname "${BASH_SOURCE[0]}")/node24.sh" bash "$0" "$@"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[build] %s\n' "$*"; }

# What the output depends on, as one hash: every file tsc reads from the repository, and the compiler.
inputs_hash() {
  {
    node -v
    find src sandbox bench scripts -type f \( -name '*.ts' -o -name '*.js' -o -name '*.json' \) -not -path 'bench/peers/node_modules/*' -print0 |
      sort -z | xargs -0 sha1sum
    sha1sum tsconfig.json tsconfig.build.json package-lock.json
  } | sha1sum | cut -d' ' -f1
}

hash="$(inputs_hash)"
if [ -f dist/main.js ] && [ "$(cat dist/.inputs-hash 2>/dev/null || true)" = "$hash" ]; then
  log "dist/ is up to date (no source, tsconfig or lock file changed since it was built)"
  exit 0
fi

start=$(date +%s)
mkdir -p tmp # git, eslint and prettier ignore tmp/
next="$(mktemp -d tmp/dist.next.XXXXXX)"
trap 'rm -rf "$next"' EXIT
log "compiling src/, sandbox/, bench/ and scripts/ with tsc (tsconfig.build.json); this takes up to a minute ..."
node node_modules/typescript/bin/tsc -p tsconfig.build.json --outDir "$next/app"
printf "'use strict';\nrequire('./app/src/main');\n" >"$next/main.js"
printf '%s\n' "$hash" >"$next/.inputs-hash"

# Swap: the old tree is renamed away (a running app keeps the modules it has loaded) and removed.
if [ -d dist ]; then
  old="$(mktemp -d tmp/dist.old.XXXXXX)"
  mv dist "$old/dist"
  mv "$next" dist
  rm -rf "$old"
else
  mv "$next" dist
fi
trap - EXIT
log "done in $(($(date +%s) - start))s: dist/main.js"
