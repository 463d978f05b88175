"""The BlobStore port: where uploaded and dropped files live (a folder, or Cloud Storage)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

# Uploads (image_classify, label_detection) are kept under this prefix, content-addressed;
# on Google Cloud the bucket deletes them after UPLOADS_KEPT_DAYS.
UPLOAD_PREFIX = "uploads/"
UPLOADS_KEPT_DAYS = 30


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    name: str
    generation: str
    size: int
    content_type: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}"


class BlobStore(Protocol):
    bucket: str

    def put(self, name: str, data: bytes, content_type: str = "",
            metadata: Mapping[str, str] | None = None) -> StoredObject:  # fmt: skip
        """Store `data` at `name` unless an object is there already (names are content
        addressed, so the one there holds the same bytes); return the stored object."""
        ...

    def get(self, name: str) -> bytes: ...

    def stat(self, name: str) -> StoredObject | None: ...

    def list(self, prefix: str = "") -> Iterator[StoredObject]: ...
