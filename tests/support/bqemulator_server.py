"""Run the bqemulator REST server offline.

Meant to be run by the bqemulator virtualenv's interpreter, not the main one::

    .venv-bqemu/bin/python tests/support/bqemulator_server.py --port 9050 --project oie-test

bqemulator normally starts via ``bqemulator start`` (``bqemulator.cli:main``),
which builds a ``bqemulator.config.Settings`` and calls
``bqemulator.server.run_forever``. Offline, ``DuckDBEngine._load_spatial`` fails
(it INSTALLs the ``spatial`` extension from the internet), so it is replaced by
a no-op here; GEOGRAPHY / ``ST_*`` functions are therefore unavailable. The
``avro`` extension load is disabled too, and the gRPC (Storage API) server gets
a random port so parallel emulators do not clash. Data is in memory only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Python puts this script's folder first on sys.path, where the sibling helper
# bqemulator.py would shadow the real bqemulator package: drop that entry.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]


def _skip_spatial(self: object) -> None:
    """Replacement for ``DuckDBEngine._load_spatial``: no network, no GEOGRAPHY."""


def main() -> None:
    from bqemulator.config import LogLevel, PersistenceMode, Settings
    from bqemulator.server import EmulatorServer
    from bqemulator.storage.engine import DuckDBEngine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="REST port on 127.0.0.1")
    parser.add_argument("--project", default="oie-test", help="default project id")
    parser.add_argument("--log-level", default="warning", choices=[lv.value for lv in LogLevel])
    args = parser.parse_args()

    DuckDBEngine._load_spatial = _skip_spatial  # type: ignore[method-assign]
    settings = Settings(
        rest_host="127.0.0.1",
        rest_port=args.port,
        grpc_host="127.0.0.1",
        grpc_port=0,
        persistence_mode=PersistenceMode.EPHEMERAL,
        default_project_id=args.project,
        enable_format_extensions=False,
        log_level=LogLevel(args.log_level),
        metrics_enabled=False,
    )
    EmulatorServer(settings).run_forever()  # blocks until SIGINT/SIGTERM


if __name__ == "__main__":
    main()
