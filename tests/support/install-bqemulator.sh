#!/usr/bin/env bash
# Install bqemulator (BigQuery REST emulator) into its own venv, .venv-bqemu.
# It pins an older protobuf than google-cloud-bigquery, hence the separate venv.
# duckdb stays on 1.x: with duckdb 2.0, insertAll right after a DDL query fails
# ("connection has an unfinished result from execute()").
# Idempotent: does nothing when the venv already has all of it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.venv-bqemu"
duckdb_version=1.5.6

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "
import bqemulator, duckdb, numpy
assert bqemulator.__version__ == '1.4.0' and duckdb.__version__ == '$duckdb_version'
" 2>/dev/null; then
    echo "bqemulator already installed in $venv"
    exit 0
fi

python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "bqemulator==1.4.0" "duckdb==$duckdb_version" numpy
"$venv/bin/python" -c "import bqemulator; print('bqemulator', bqemulator.__version__, 'in $venv')"
