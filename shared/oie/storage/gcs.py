"""BlobStore adapter for Cloud Storage (google-cloud-storage; an emulator via
STORAGE_EMULATOR_HOST, which the client library honours itself)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from . import NotThatGeneration, ObjectTooLarge, StoredObject


class GCSStore:
    def __init__(self, bucket: str, project: str = ""):
        self.bucket = bucket
        self.project = project
        self._client: Any = None
        self._lock = threading.Lock()

    def _bucket(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import storage

                self._client = storage.Client(project=self.project or None)
            return self._client.bucket(self.bucket)

    @staticmethod
    def _stored(blob: Any) -> StoredObject:
        return StoredObject(blob.bucket.name, blob.name, str(blob.generation), blob.size or 0,
                            blob.content_type or "", dict(blob.metadata or {}))  # fmt: skip

    def put(self, name: str, data: bytes, content_type: str = "",
            metadata: Mapping[str, str] | None = None) -> StoredObject:  # fmt: skip
        from google.api_core.exceptions import PreconditionFailed

        blob = self._bucket().blob(name)
        blob.metadata = dict(metadata or {})
        try:  # content-addressed: an object already there holds the same bytes
            blob.upload_from_string(data, content_type=content_type or None,
                                    if_generation_match=0)  # fmt: skip
        except PreconditionFailed:
            # Already there with the same bytes. Not read back: the upload functions' account
            # may create objects but not read them.
            return StoredObject(self.bucket, name, "", len(data), content_type,
                                dict(metadata or {}))  # fmt: skip
        return self._stored(blob)

    def get(self, name: str, generation: str = "", max_bytes: int | None = None) -> bytes:
        from google.api_core.exceptions import NotFound

        uri = f"gs://{self.bucket}/{name}"
        blob = self._bucket().blob(name, generation=int(generation) if generation else None)
        try:
            if max_bytes is not None:
                blob.reload()  # the size of that generation, before any byte is downloaded
                if (blob.size or 0) > max_bytes:
                    raise ObjectTooLarge(uri, max_bytes, blob.size)
            # `end` is inclusive: at most max_bytes + 1 bytes, whatever happened since the stat
            data: bytes = blob.download_as_bytes(end=max_bytes)
        except NotFound as exc:
            if generation and self.stat(name) is not None:
                raise NotThatGeneration(f"{uri} is at another generation than #{generation}"
                                        ) from exc  # fmt: skip
            raise FileNotFoundError(uri) from exc
        if max_bytes is not None and len(data) > max_bytes:
            raise ObjectTooLarge(uri, max_bytes)
        return data

    def stat(self, name: str) -> StoredObject | None:
        blob = self._bucket().get_blob(name)
        return self._stored(blob) if blob is not None else None

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        for blob in self._bucket().list_blobs(prefix=prefix):
            yield self._stored(blob)
