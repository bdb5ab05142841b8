"""Content-addressed files: ``<media dir>/sha256/ab/<sha256>``, written via a temp file.

A blob is written to ``tmp/`` while it streams in and renamed into place only when it is
whole, so a file under ``sha256/`` is never partial; an aborted blob is simply deleted.
Several hosts may share the directory: the rename is atomic and identical content has
the same name, so concurrent writers of one image agree.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from stagehook.media.sniff import HEAD_BYTES


class Blob:
    """A file being received: hashed and counted as it is written."""

    def __init__(self, handle: BinaryIO, path: Path, filename: str) -> None:
        self.handle = handle
        self.path = path
        self.filename = filename
        self.size = 0
        self.head = b""
        self._sha = hashlib.sha256()

    def write(self, data: bytes) -> None:
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]
        self._sha.update(data)
        self.size += len(data)
        self.handle.write(data)

    def close(self) -> None:
        """Flush to disk: a kept file must survive a crash right after its row commits."""
        if not self.handle.closed:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"

    def path_of(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256

    def new_blob(self, filename: str) -> Blob:
        self.tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.tmp, prefix="upload-")
        return Blob(os.fdopen(fd, "wb"), Path(name), filename)

    def discard(self, blob: Blob) -> None:
        blob.close()
        blob.path.unlink(missing_ok=True)

    def keep(self, blob: Blob) -> bool:
        """Move a whole blob into place; True if this created the file."""
        blob.close()
        target = self.path_of(blob.sha256)
        if target.exists():
            blob.path.unlink(missing_ok=True)
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(blob.path, target)
        return True
