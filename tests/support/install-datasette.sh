#!/usr/bin/env bash
# Install Datasette, the peer `make bench-peer` measures the explorer against, into its own
# venv, .venv-peer (its ASGI stack has nothing to do with the functions' dependencies).
# Idempotent: does nothing when the venv already has it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.venv-peer"
version=0.65.5

if [ -x "$venv/bin/datasette" ] && [ "$("$venv/bin/datasette" --version)" = "datasette, version $version" ]; then
    echo "datasette $version already installed in $venv"
    exit 0
fi

python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "datasette==$version"
"$venv/bin/datasette" --version
