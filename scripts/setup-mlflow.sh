#!/usr/bin/env bash
# The real MLflow server and Python client for the test tier test/mlflow-real: MLflow of the version in
# docker/mlflow/VERSION (the same as docker/compose.yaml's image tag), in a virtual environment cached
# outside the repository, ~/.cache/platform-bff/venv-mlflow-<version> (PLATFORM_BFF_CACHE overrides the
# cache directory). scikit-learn is installed beside it for log_model, and flit_core, the build backend of
# the repository's auth plugin (clients/python/platform-bff-mlflow-auth), which the tests install from
# source without network, and the OpenTelemetry OTLP/HTTP exporter for the OTLP traces tests. Idempotent: nothing is fetched when the venv already has all of them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="$(tr -d '[:space:]' <"$ROOT/docker/mlflow/VERSION")"
CACHE="${PLATFORM_BFF_CACHE:-$HOME/.cache/platform-bff}"
VENV="$CACHE/venv-mlflow-$VERSION"
log() { printf '[setup-mlflow] %s\n' "$*"; }

# The OpenTelemetry OTLP/HTTP protobuf exporter (what the Collector sends), of the OpenTelemetry SDK MLflow brought.
otlp_exporter() {
  "$VENV/bin/python" -c 'import opentelemetry.exporter.otlp.proto.http' 2>/dev/null && return 0
  local sdk
  sdk="$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("opentelemetry-sdk"))')"
  log "installing opentelemetry-exporter-otlp-proto-http $sdk"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "opentelemetry-exporter-otlp-proto-http==$sdk"
}

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import mlflow, sklearn, flit_core, sys; sys.exit(mlflow.__version__ != '$VERSION')" 2>/dev/null; then
  otlp_exporter
  log "mlflow $VERSION present in $VENV"
  exit 0
fi
command -v python3 >/dev/null 2>&1 || { echo "setup-mlflow.sh: python3 is needed" >&2; exit 1; }
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "setup-mlflow.sh: python3's venv module is missing (Debian: apt-get install python3-venv)" >&2
  exit 1
fi
mkdir -p "$CACHE"
log "creating $VENV"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "mlflow==$VERSION" scikit-learn "flit_core>=3.4,<5"
otlp_exporter
log "mlflow $("$VENV/bin/python" -c 'import mlflow; print(mlflow.__version__)') installed in $VENV"
