#!/usr/bin/env bash
# Platform BFF machine setup (Debian). Idempotent and fast when everything is already present.
#
#   scripts/setup.sh            same as --test
#   scripts/setup.sh --runtime  Node 24 (scripts/node24.sh) and the npm dependencies (npm ci when needed)
#   scripts/setup.sh --test     + redis-server, nginx (with auth_request), chromium — what the
#                               real-server tests (test/support/*) and the sandbox need, the
#                               real Trino of the platform tier (scripts/fetch-trino.sh, cached) and
#                               schemathesis (scripts/setup-schemathesis.sh), kubeconform and the Kubernetes
#                               schemas (scripts/fetch-kubeconform.sh, from the Go module proxy)
#   scripts/setup.sh --with-browser   alias of --test
#
# System packages are installed only when their command is missing, with
# `apt-get install -y --no-install-recommends`; `apt-get update` runs only when something must be
# installed. No system service is started: Debian's postinst scripts would start nginx (port 80)
# and redis (port 6379); a temporary /usr/sbin/policy-rc.d (exit 101) forbids that, and anything
# that got started anyway is stopped afterwards. The tests run their own nginx/redis processes.
set -euo pipefail

MODE=test
for arg in "$@"; do
  case "$arg" in
    --runtime) MODE=runtime ;;
    --test | --with-browser) MODE=test ;;
    -h | --help)
      sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "setup.sh: unknown argument '$arg' (use --runtime or --test)" >&2
      exit 2
      ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[setup] %s\n' "$*"; }

# Everything below (npm ci included) runs on the project's Node 24, also when this script is run directly.
[ -n "${PLATFORM_BFF_NODE24:-}" ] || exec bash "$ROOT/scripts/node24.sh" bash "$0" "$@"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
fi

# ---------------------------------------------------------------- system packages (test mode)
install_system_packages() {
  local -a missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  # nginx lives in /usr/sbin, which may not be on a non-root PATH.
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
  # The deployment checks run docker/init/init.sh for real (certificates, bcrypt password).
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)

  if [ "${#missing[@]}" -eq 0 ]; then
    log "system packages present: redis-server nginx chromium openssl htpasswd"
  else
    if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
      echo "setup.sh: need root (or sudo) to install: ${missing[*]}" >&2
      exit 1
    fi
    log "installing: ${missing[*]}"

    # Keep postinst scripts from starting services (nginx would take port 80).
    local created_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\n# temporary, written by platform-bff scripts/setup.sh\nexit 101\n' |
        $SUDO tee /usr/sbin/policy-rc.d >/dev/null
      $SUDO chmod 755 /usr/sbin/policy-rc.d
      created_policy=1
    fi
    # Remember what was running before, so that only services started by this install are stopped.
    local nginx_before="" redis_before=""
    pgrep -x nginx >/dev/null 2>&1 && nginx_before=1
    pgrep -x redis-server >/dev/null 2>&1 && redis_before=1

    local rc=0
    {
      $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
          -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
    } || rc=$?

    if [ -n "$created_policy" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi

    # Belt and braces: if a service got started anyway (no policy-rc.d support), stop it again.
    if [ -z "$nginx_before" ] && pgrep -x nginx >/dev/null 2>&1; then
      log "stopping the nginx service started by the package install"
      $SUDO systemctl stop nginx >/dev/null 2>&1 || $SUDO service nginx stop >/dev/null 2>&1 ||
        $SUDO /usr/sbin/nginx -s quit >/dev/null 2>&1 || true
    fi
    if [ -z "$redis_before" ] && pgrep -x redis-server >/dev/null 2>&1; then
      log "stopping the redis-server service started by the package install"
      $SUDO systemctl stop redis-server >/dev/null 2>&1 || $SUDO service redis-server stop >/dev/null 2>&1 || true
    fi
    # Do not bring them up at boot either (systemd hosts only; harmless elsewhere).
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      for unit in nginx redis-server; do
        case " ${missing[*]} " in *" $unit "*) $SUDO systemctl disable "$unit" >/dev/null 2>&1 || true ;; esac
      done
    fi
    [ "$rc" -eq 0 ] || { echo "setup.sh: apt-get failed ($rc)" >&2; exit "$rc"; }
  fi

  local nginx_bin
  nginx_bin="$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)"
  if ! "$nginx_bin" -V 2>&1 | grep -q http_auth_request; then
    echo "setup.sh: $nginx_bin lacks the http_auth_request module (needed by the sandbox and tests)" >&2
    exit 1
  fi
  log "redis-server: $(redis-server --version | awk '{print $3}')," \
    "nginx: $("$nginx_bin" -v 2>&1 | sed 's/.*nginx\///') (auth_request ok)," \
    "chromium: $( (chromium --version 2>/dev/null || /usr/bin/chromium --version 2>/dev/null) | awk '{print $2}')"
}

# ---------------------------------------------------------------- npm dependencies
# `npm ci` installs exactly the committed lock file, or fails: there is no fallback that would install
# something else. In test mode the lock file is also checked when node_modules is already current
# (`npm ci --dry-run`, ~5 s), so that the test command fails whenever `npm ci` on a clean clone would.
install_npm_deps() {
  cd "$ROOT"
  local marker="node_modules/.package-lock.json"
  if [ ! -d node_modules ] || [ ! -f "$marker" ] || [ package-lock.json -nt "$marker" ] || [ package.json -nt "$marker" ]; then
    log "npm ci (Node $(node -v), npm $(npm -v))"
    npm ci --no-audit --no-fund
  else
    log "node_modules up to date"
    if [ "$MODE" = test ]; then
      log "checking that npm ci accepts package-lock.json (npm ci --dry-run)"
      npm ci --dry-run --no-audit --no-fund >/dev/null
    fi
  fi
}

start=$(date +%s)
if [ "$MODE" = test ]; then install_system_packages; fi
if [ "$MODE" = test ]; then bash "$ROOT/scripts/setup-mlflow.sh"; fi
install_npm_deps
if [ "$MODE" = test ]; then bash "$ROOT/scripts/fetch-trino.sh"; fi
if [ "$MODE" = test ]; then bash "$ROOT/scripts/fetch-platform.sh"; fi # the real-platform tier's releases (test/platform)
if [ "$MODE" = test ]; then bash "$ROOT/scripts/setup-schemathesis.sh"; fi
if [ "$MODE" = test ]; then bash "$ROOT/scripts/fetch-kubeconform.sh" >/dev/null; fi # docker/k8s schema check (test/deploy)
log "done ($MODE) in $(($(date +%s) - start))s"
