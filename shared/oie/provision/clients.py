"""The Google clients of one run, made in this one place, each on first use."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..settings import Settings
from .config import Config

if TYPE_CHECKING:
    from google.cloud import pubsub_v1, storage

    from ..warehouse.bigquery_adapter import BigQueryWarehouse

# Deriving the tables of the full data set (60 million labels) takes longer than a page's
# 20 s deadline.
DERIVE_TIMEOUT_S = 600.0
CLOUD = "Google Cloud (Application Default Credentials)"


class Clients:
    """Storage, Pub/Sub and BigQuery for one run; a dry run makes (and imports) none.

    The Storage and Pub/Sub libraries honour STORAGE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST
    themselves (without credentials); BigQuery is the project's adapter, at OIE_BQ_ENDPOINT
    when set. Otherwise Application Default Credentials apply.
    """

    def __init__(self, config: Config, settings: Settings):
        self.config = config
        self.settings = settings

    @cached_property
    def storage(self) -> storage.Client:
        from google.cloud import storage

        return storage.Client(project=self.config.project)

    @cached_property
    def publisher(self) -> pubsub_v1.PublisherClient:
        from google.cloud import pubsub_v1

        return pubsub_v1.PublisherClient()

    @cached_property
    def subscriber(self) -> pubsub_v1.SubscriberClient:
        from google.cloud import pubsub_v1

        return pubsub_v1.SubscriberClient()

    @cached_property
    def warehouse(self) -> BigQueryWarehouse:
        from ..warehouse.bigquery_adapter import BigQueryWarehouse

        c = self.config
        return BigQueryWarehouse(c.project, c.dataset, endpoint=self.settings.bq_endpoint,
                                 timeout_s=DERIVE_TIMEOUT_S)  # fmt: skip

    def close(self) -> None:
        """Close the Pub/Sub channels opened (the others hold no connection of their own)."""
        made: dict[str, Any] = self.__dict__
        if "publisher" in made:
            made["publisher"].transport.close()
        if "subscriber" in made:
            made["subscriber"].close()


def endpoints(settings: Settings) -> dict[str, str]:
    """Where each service is reached, for the dry run's header."""
    return {
        "storage": settings.storage_emulator or CLOUD,
        "pubsub": settings.pubsub_emulator or CLOUD,
        "bigquery": settings.bq_endpoint or CLOUD,
    }
