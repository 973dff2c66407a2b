#!/usr/bin/env bash
# mlflow-oidc-auth, the MLflow auth plugin `npm run bench:mlflow-peers` compares the BFF with: the release in
# bench/mlflow-peers/MLFLOW_OIDC_AUTH_VERSION with MLflow of docker/mlflow/VERSION (the same MLflow the BFF is
# tested against), in its own virtual environment cached outside the repository,
# ~/.cache/platform-bff/venv-mlflow-oidc-auth-<plugin version>-mlflow-<mlflow version> (PLATFORM_BFF_CACHE
# overrides the cache directory). Its own venv because the plugin pins its own SQLAlchemy, FastAPI and
# Authlib. Idempotent: nothing is fetched when the venv already has both versions.
#
# The pin is the newest release that runs on this machine's Python (3.11) with that MLflow: 10.2.1 to
# 11.0.2 declare Python >= 3.11 but fail at import on 3.11 (a dataclass field defaults to a
# MappingProxyType, which is hashable only from Python 3.12 on). The start is checked below.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MLFLOW_VERSION="$(tr -d '[:space:]' <"$ROOT/docker/mlflow/VERSION")"
PLUGIN_VERSION="$(tr -d '[:space:]' <"$ROOT/bench/mlflow-peers/MLFLOW_OIDC_AUTH_VERSION")"
CACHE="${PLATFORM_BFF_CACHE:-$HOME/.cache/platform-bff}"
VENV="$CACHE/venv-mlflow-oidc-auth-$PLUGIN_VERSION-mlflow-$MLFLOW_VERSION"
log() { printf '[setup-mlflow-oidc-auth] %s\n' "$*"; }

check='import sys, mlflow
from importlib.metadata import version
sys.exit(mlflow.__version__ != sys.argv[1] or version("mlflow-oidc-auth") != sys.argv[2])'
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "$check" "$MLFLOW_VERSION" "$PLUGIN_VERSION" 2>/dev/null; then
  log "mlflow-oidc-auth $PLUGIN_VERSION with mlflow $MLFLOW_VERSION present in $VENV"
  exit 0
fi
command -v python3 >/dev/null 2>&1 || { echo "setup-mlflow-oidc-auth.sh: python3 (3.11 or later) is needed" >&2; exit 1; }
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "setup-mlflow-oidc-auth.sh: mlflow-oidc-auth needs Python 3.11 or later" >&2; exit 1; }
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "setup-mlflow-oidc-auth.sh: python3's venv module is missing (Debian: apt-get install python3-venv)" >&2
  exit 1
fi
mkdir -p "$CACHE"
log "creating $VENV"
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "mlflow==$MLFLOW_VERSION" "mlflow-oidc-auth==$PLUGIN_VERSION"
"$VENV/bin/python" -c "$check" "$MLFLOW_VERSION" "$PLUGIN_VERSION" || { echo "setup-mlflow-oidc-auth.sh: the venv does not hold the pinned versions" >&2; exit 1; }
# The plugin's modules import on this Python (configuration is read at start, not at import).
"$VENV/bin/python" -c 'import mlflow_oidc_auth.permissions' || { echo "setup-mlflow-oidc-auth.sh: mlflow-oidc-auth $PLUGIN_VERSION does not import on $("$VENV/bin/python" --version)" >&2; exit 1; }
log "mlflow-oidc-auth $PLUGIN_VERSION with mlflow $MLFLOW_VERSION installed in $VENV"
