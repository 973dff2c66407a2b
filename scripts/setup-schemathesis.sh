#!/usr/bin/env bash
# schemathesis for the e2e tier (test/e2e/schemathesis.spec.ts), in a Python venv outside the repository:
# ~/.cache/platform-bff/venv-schemathesis (SCHEMATHESIS_VENV overrides). The version is the pin of
# test/e2e/schemathesis-requirements.txt; a venv that already holds it is reused as is, one holding
# another version is upgraded in place. Needs python3 (3.10 or newer) with the venv module.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQUIREMENTS="$ROOT/test/e2e/schemathesis-requirements.txt"
VENV="${SCHEMATHESIS_VENV:-$HOME/.cache/platform-bff/venv-schemathesis}"
log() { printf '[setup] %s\n' "$*"; }

pinned="$(sed -n 's/^schemathesis==\([^[:space:]]*\).*/\1/p' "$REQUIREMENTS")"
[ -n "$pinned" ] || { echo "setup-schemathesis.sh: no schemathesis==<version> in $REQUIREMENTS" >&2; exit 1; }

installed=""
if [ -x "$VENV/bin/st" ]; then
  installed="$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("schemathesis"))' 2>/dev/null || true)"
fi
if [ "$installed" = "$pinned" ]; then
  log "schemathesis $pinned present ($VENV)"
  exit 0
fi

command -v python3 >/dev/null 2>&1 || { echo "setup-schemathesis.sh: python3 is needed for schemathesis" >&2; exit 1; }
if [ ! -x "$VENV/bin/python" ]; then
  log "creating the venv $VENV"
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
fi
log "installing schemathesis $pinned into $VENV${installed:+ (had $installed)}"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
log "schemathesis: $("$VENV/bin/st" --version)"
