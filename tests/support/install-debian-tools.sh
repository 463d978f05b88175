#!/usr/bin/env bash
# Debian's chromium for the browser tests (never a browser download of a test tool's own).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
elif [ "${CI:-}" = true ]; then
  echo "chromium is missing and cannot be installed here (needs root and apt-get)" >&2
  exit 1
else
  echo "note: no chromium; browser tests will be skipped (apt-get install chromium)" >&2
fi
