"""A fake of the Google REST APIs deploy.sh reaches through the real gcloud and bq.

`start()` gives a running `FakeGoogle`; `gcloud_config(dir, url)` makes a gcloud config
dir whose endpoints are the fake's.
"""

from __future__ import annotations

from . import artifacts, bigquery, functions, iam, pubsub, resourcemanager, storage
from .server import ApiError, FakeGoogle, Project, Request

ROUTERS = [storage.router, pubsub.router, iam.router, resourcemanager.router, functions.router,
           bigquery.router, artifacts.router]  # fmt: skip

__all__ = ["ApiError", "FakeGoogle", "Project", "Request", "start"]


def start() -> FakeGoogle:
    """A fake with every API's routes, serving (use it as a context manager to stop it)."""
    return FakeGoogle(ROUTERS).__enter__()
