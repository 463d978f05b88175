"""Reading `classifications`: the latest row of each (key, classifier, model), filtered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..tables import CLASSIFICATIONS as TABLE
from ..warehouse import Row, Warehouse, WarehouseError

LATEST = """WITH latest AS (
  SELECT * FROM classifications
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY request_key, classifier, model ORDER BY classified_at DESC) = 1)
SELECT request_key, source_uri, bucket, object, generation, image_id, classifier, model,
       labels, status, error, event_id, classified_at, latency_ms
FROM latest
WHERE (@key = '' OR request_key = @key)
  AND (@classifier = '' OR classifier = @classifier)
  AND (@status = '' OR status = @status)
  AND STARTS_WITH(object, @prefix)
  AND classified_at >= @since AND classified_at < @until
  AND (@min_score <= 0 AND @label = '' OR EXISTS (
    SELECT 1 FROM UNNEST(labels) AS l
    WHERE l.score >= @min_score AND STRPOS(LOWER(l.label), LOWER(@label)) > 0))
ORDER BY classified_at DESC, request_key, classifier
LIMIT @n OFFSET @offset"""


@dataclass(frozen=True)
class Filters:
    since: datetime
    until: datetime
    key: str = ""
    classifier: str = ""
    status: str = ""
    prefix: str = ""
    label: str = ""
    min_score: float = 0.0


def latest(warehouse: Warehouse, f: Filters, limit: int, offset: int = 0) -> tuple[list[Row], bool]:
    """A page of results, newest first, and whether more follow."""
    params: dict[str, Any] = {
        "key": f.key, "classifier": f.classifier, "status": f.status, "prefix": f.prefix,
        "since": f.since, "until": f.until, "label": f.label, "min_score": f.min_score,
        "n": limit + 1, "offset": offset,
    }  # fmt: skip
    try:
        rows = warehouse.query(LATEST, params)
    except WarehouseError:
        if warehouse.row_count(TABLE) is None:
            return [], False  # nothing classified yet
        rows = warehouse.query(LATEST, params)  # the first classifier just created it
    return rows[:limit], len(rows) > limit
