#!/usr/bin/env bash
# Install bqemulator (BigQuery REST emulator) into its own venv, .venv-bqemu.
# It pins an older protobuf than google-cloud-bigquery, hence the separate venv.
# Idempotent: does nothing when the venv already imports bqemulator.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.venv-bqemu"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import bqemulator, numpy' 2>/dev/null; then
    echo "bqemulator already installed in $venv"
    exit 0
fi

python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "bqemulator==1.4.0" numpy
"$venv/bin/python" -c 'import bqemulator; print("bqemulator", bqemulator.__version__, "installed in", "'"$venv"'")'
