"""The BlobStore port: where uploaded and dropped files live (a folder, or Cloud Storage)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import InputError, OIEError, TooLarge

# Uploads (image_classify, label_detection) are kept under this prefix, content-addressed;
# on Google Cloud the bucket deletes them after UPLOADS_KEPT_DAYS.
UPLOAD_PREFIX = "uploads/"
UPLOADS_KEPT_DAYS = 30


class BadName(InputError):
    """A name this store cannot hold (the folder: one that leaves its root, or has a NUL)."""

    def __init__(self, message: str):
        super().__init__(None, message)


class NotThatGeneration(OIEError):
    """The object exists, but not at the generation asked for: superseded (its newer
    generation has its own event) or forged. 412, as Cloud Storage answers a generation
    precondition that does not hold; permanent."""

    status = 412


class ObjectTooLarge(TooLarge):
    """The object is over the caller's `max_bytes`: 413, the HTTP status for a body too
    large. The store knows bytes, not images, so the error is the store's, not the image
    layer's RejectedImage (422: bytes that are not a usable image); both are permanent."""

    def __init__(self, uri: str, max_bytes: int, size: int | None = None):
        size_text = f"{size:,} bytes; the limit is" if size is not None else "over the limit of"
        super().__init__(None, f"{uri} is {size_text} {max_bytes:,} bytes")


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

    def get(self, name: str, generation: str = "", max_bytes: int | None = None) -> bytes:
        """The object's bytes; FileNotFoundError when there is no such object.

        With `generation`, exactly that generation (NotThatGeneration when the object
        exists at another). With `max_bytes`, ObjectTooLarge rather than reading more:
        checked on the object's size before the download and on the download itself, which
        is capped, so an object that grows in between cannot bloat the caller."""
        ...

    def stat(self, name: str) -> StoredObject | None: ...

    def list(self, prefix: str = "") -> Iterator[StoredObject]: ...
