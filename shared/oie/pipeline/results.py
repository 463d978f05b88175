"""Reading `classifications`: the latest row of each (key, classifier, model), filtered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..tables import CLASSIFICATIONS as TABLE
from ..warehouse import Row, Warehouse, WarehouseError

# Without `since`, a page covers this much before `until`: the table is partitioned by
# day, so the scan is a month of partitions however long the table has been growing.
DEFAULT_WINDOW = timedelta(days=30)
ALL_TIME = datetime(1970, 1, 1, tzinfo=UTC)  # one object's page looks at all of its rows
CLOCK_SKEW = timedelta(days=1)  # a default `until` this far ahead keeps rows a fast clock wrote

# The filters on what is fixed per (key, classifier, model) and on the time apply in the
# scan, before the window function, so BigQuery prunes partitions and clustered blocks;
# status and labels belong to the latest row and apply after it.
LATEST = """WITH latest AS (
  SELECT * FROM classifications
  WHERE classified_at >= @since AND classified_at < @until
    AND (@key = '' OR request_key = @key)
    AND (@classifier = '' OR classifier = @classifier)
    AND (@prefix = '' OR STARTS_WITH(object, @prefix))
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY request_key, classifier, model ORDER BY classified_at DESC) = 1)
SELECT request_key, source_uri, bucket, object, generation, image_id, classifier, model,
       labels, status, error, event_id, classified_at, latency_ms
FROM latest
WHERE (@status = '' OR status = @status)
  AND (@min_score <= 0 AND @label = '' OR EXISTS (
    SELECT 1 FROM UNNEST(labels) AS l
    WHERE l.score >= @min_score AND STRPOS(LOWER(l.label), LOWER(@label)) > 0))
ORDER BY classified_at DESC, request_key, classifier
LIMIT @n OFFSET @offset"""


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None  # None: DEFAULT_WINDOW before `until` (all time for a key)
    until: datetime | None = None  # None: now (and CLOCK_SKEW ahead)
    key: str = ""
    classifier: str = ""
    status: str = ""
    prefix: str = ""
    label: str = ""
    min_score: float = 0.0

    def window(self) -> tuple[datetime, datetime]:
        """`since` and `until` as the query uses them, defaults filled in."""
        now = datetime.now(UTC)
        until = self.until or now + CLOCK_SKEW
        since = self.since or (ALL_TIME if self.key else (self.until or now) - DEFAULT_WINDOW)
        return since, until


def latest(warehouse: Warehouse, f: Filters, limit: int, offset: int = 0) -> tuple[list[Row], bool]:
    """A page of results, newest first, and whether more follow."""
    since, until = f.window()
    params: dict[str, Any] = {
        "key": f.key, "classifier": f.classifier, "status": f.status, "prefix": f.prefix,
        "since": since, "until": until, "label": f.label, "min_score": f.min_score,
        "n": limit + 1, "offset": offset,
    }  # fmt: skip
    try:
        rows = warehouse.query(LATEST, params)
    except WarehouseError:
        if warehouse.row_count(TABLE) is None:
            return [], False  # nothing classified yet
        rows = warehouse.query(LATEST, params)  # the first classifier just created it
    return rows[:limit], len(rows) > limit
