"""BlobStore adapter for a local folder: the bucket of the local stack."""

from __future__ import annotations

import errno
import json
import os
import stat as stat_mod
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from . import BadName, NotThatGeneration, ObjectTooLarge, StoredObject

META_SUFFIX = ".meta.json"


def file_generation(st: os.stat_result) -> str:
    """A file's generation: its ctime in nanoseconds. Every write, replacement or rename
    sets ctime to now, and no user can set it back (only the system clock can), unlike
    mtime, which `cp -p`, `touch -d` or `os.utime` restore: a file replaced with its old
    mtime is still a new generation. (inode, mtime) would miss `cp -p` onto an existing
    file, which rewrites the same inode and then restores the mtime. The cost: chmod,
    chown and new hard links change ctime too, so they make a new generation (and a new
    row), where Cloud Storage would bump only the metageneration."""
    return str(st.st_ctime_ns)


def _missing(exc: OSError, uri: str) -> OSError | BadName:
    """What an OSError on opening a name means for the store: no such object (also when a
    part of the name is a file, or the whole is a folder), a name no file can have, or
    itself (a transient fault, such as a permission being fixed)."""
    if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR):
        return FileNotFoundError(f"{uri}: no such object")
    if exc.errno == errno.ENAMETOOLONG:
        return BadName(f"{uri}: the name is too long for a file")
    return exc


class FolderStore:
    """Objects are files under `root`; their metadata lives beside the bucket, in `meta`."""

    def __init__(self, root: Path, bucket: str = "local-bucket"):
        self.root = root
        self.meta = root.with_name(root.name + "-meta")
        self.bucket = bucket

    def _path(self, name: str) -> Path:
        """The file of an object; BadName for a name that leads out of the folder (on
        Cloud Storage "../x" is just a name), or that no file can have."""
        if not name or "\0" in name:
            raise BadName(f"object name {name!r} is not a file in the bucket folder")
        path = (self.root / name).resolve()
        if (
            ".." in Path(name).parts
            or name.startswith("/")
            or not path.is_relative_to(self.root.resolve())
        ):
            raise BadName(f"object name {name!r} leads out of the bucket folder")
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

    def get(self, name: str, generation: str = "", max_bytes: int | None = None) -> bytes:
        uri = f"gs://{self.bucket}/{name}"
        path = self._path(name)
        # O_NONBLOCK: a FIFO named by an event must not hang the read (regular files ignore it)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise _missing(exc, uri) from None
        with os.fdopen(fd, "rb") as file:
            st = os.fstat(file.fileno())  # the opened file's own: no race with a rename
            if not stat_mod.S_ISREG(st.st_mode):
                raise FileNotFoundError(f"{uri} is not a regular file")
            if generation and file_generation(st) != generation:
                raise NotThatGeneration(f"{uri} is at another generation than #{generation}")
            if max_bytes is not None and st.st_size > max_bytes:
                raise ObjectTooLarge(uri, max_bytes, st.st_size)
            data = file.read() if max_bytes is None else file.read(max_bytes + 1)
            if max_bytes is not None and len(data) > max_bytes:
                raise ObjectTooLarge(uri, max_bytes)  # it grew since the stat
            if generation and file_generation(os.fstat(file.fileno())) != generation:
                raise NotThatGeneration(f"{uri} changed while it was read")
        return data

    def stat(self, name: str) -> StoredObject | None:
        path = self._path(name)
        try:
            st = path.stat()
        except OSError as exc:
            meaning = _missing(exc, f"gs://{self.bucket}/{name}")
            if isinstance(meaning, FileNotFoundError):
                return None
            raise meaning from None
        if not stat_mod.S_ISREG(st.st_mode):
            return None  # a folder, or a FIFO: not an object
        try:
            meta = json.loads((self.meta / (name + META_SUFFIX)).read_text())
        except (OSError, ValueError):
            meta = {}  # none (a file dropped in, not put), or a name too long to have one
        content_type = meta.pop("contentType", "")
        return StoredObject(self.bucket, name, file_generation(st), st.st_size, content_type, meta)

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith(".incoming-"):
                name = path.relative_to(self.root).as_posix()
                if name.startswith(prefix) and (found := self.stat(name)) is not None:
                    yield found
