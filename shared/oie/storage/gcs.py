"""BlobStore adapter for Cloud Storage (google-cloud-storage; an emulator via
STORAGE_EMULATOR_HOST, which the client library honours itself)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from . import StoredObject


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

    def get(self, name: str) -> bytes:
        from google.api_core.exceptions import NotFound

        try:
            return self._bucket().blob(name).download_as_bytes()
        except NotFound as exc:
            raise FileNotFoundError(f"gs://{self.bucket}/{name}") from exc

    def stat(self, name: str) -> StoredObject | None:
        blob = self._bucket().get_blob(name)
        return self._stored(blob) if blob is not None else None

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        for blob in self._bucket().list_blobs(prefix=prefix):
            yield self._stored(blob)
