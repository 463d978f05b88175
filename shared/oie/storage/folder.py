"""BlobStore adapter for a local folder: the bucket of the local stack."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from . import StoredObject

META_SUFFIX = ".meta.json"


class FolderStore:
    """Objects are files under `root`; their metadata lives beside the bucket, in `meta`."""

    def __init__(self, root: Path, bucket: str = "local-bucket"):
        self.root = root
        self.meta = root.with_name(root.name + "-meta")
        self.bucket = bucket

    def _path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if not name or ".." in Path(name).parts or not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"bad object name {name!r}")
        return path

    def put(self, name: str, data: bytes, content_type: str = "",
            metadata: Mapping[str, str] | None = None) -> StoredObject:  # fmt: skip
        path = self._path(name)
        existing = self.stat(name)
        if existing is not None:
            return existing
        meta_path = self.meta / (name + META_SUFFIX)
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        meta_path.write_text(json.dumps({"contentType": content_type, **(metadata or {})}))
        path.parent.mkdir(parents=True, exist_ok=True)
        # write then rename: a watcher of the folder only ever sees complete files
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
        return self.stat(name)  # type: ignore[return-value]

    def get(self, name: str) -> bytes:
        return self._path(name).read_bytes()

    def stat(self, name: str) -> StoredObject | None:
        path = self._path(name)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        meta_path = self.meta / (name + META_SUFFIX)
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        content_type = meta.pop("contentType", "")
        return StoredObject(self.bucket, name, str(st.st_mtime_ns), st.st_size, content_type, meta)

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith(".incoming-"):
                name = path.relative_to(self.root).as_posix()
                if name.startswith(prefix) and (found := self.stat(name)) is not None:
                    yield found
