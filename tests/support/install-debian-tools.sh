#!/usr/bin/env bash
# Debian packages the test tiers use: chromium for the browser tests (never a browser
# download of a test tool's own), shellcheck for deploy.sh. Installed when missing.
set -euo pipefail
missing=()
for tool in chromium shellcheck; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's ${missing[*]} for the tests..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
elif [ "${CI:-}" = true ]; then
  echo "${missing[*]} missing and cannot be installed here (needs root and apt-get)" >&2
  exit 1
else
  echo "note: no ${missing[*]}; the tests that need them will be skipped" \
    "(apt-get install ${missing[*]})" >&2
fi
