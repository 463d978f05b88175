"""`python -m infra.provision`, as deploy.sh runs it: the same command as `oie provision`.

The code is the package `oie.provision`; `--help` lists the options.
"""

from __future__ import annotations

import sys

from oie.provision.command import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
