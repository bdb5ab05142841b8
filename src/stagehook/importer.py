"""``stagehook import``: upload a folder of images, skipping what the dataset already has.

Re-runnable: files are matched by content (sha256) against the dataset's data units, so a
second run (or a run after an interruption) uploads only what is missing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from stagehook.client import ApiError, Client

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif"})
#: One request carries at most this many files or bytes.
BATCH_FILES = 50
BATCH_BYTES = 32 * 1024 * 1024


@dataclass
class ImportResult:
    uploaded: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def find_images(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _batches(files: Sequence[Path]) -> Iterator[list[Path]]:
    batch: list[Path] = []
    size = 0
    for path in files:
        length = path.stat().st_size
        if batch and (len(batch) >= BATCH_FILES or size + length > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(path)
        size += length
    if batch:
        yield batch


class Importer:
    def __init__(self, client: Client, dataset_hash: str, folder: Path) -> None:
        self.client = client
        self.dataset_hash = dataset_hash
        self.folder = folder

    def _upload(self, batch: list[Path]) -> None:
        with ExitStack() as stack:
            files = [
                (p.relative_to(self.folder).as_posix(), stack.enter_context(p.open("rb")))
                for p in batch
            ]
            self.client.upload_images(self.dataset_hash, files)

    def _send(self, batch: list[Path]) -> ImportResult:
        """Upload a batch; if it is refused, retry file by file to name the bad ones."""
        try:
            self._upload(batch)
            return ImportResult(uploaded=len(batch))
        except ApiError as exc:
            if len(batch) == 1 or exc.status >= 500:
                names = [p.relative_to(self.folder).as_posix() for p in batch]
                return ImportResult(failed=[(name, exc.message) for name in names])
        result = ImportResult()
        for path in batch:
            one = self._send([path])
            result.uploaded += one.uploaded
            result.failed.extend(one.failed)
        return result

    def run(
        self, *, jobs: int = 4, progress: Callable[[int, int], None] = lambda done, total: None
    ) -> ImportResult:
        """``progress(done, total)`` is called as files are skipped or uploaded."""
        files = find_images(self.folder)
        have = {u.sha256 for u in self.client.iter_data_units(self.dataset_hash) if u.sha256}
        result = ImportResult()
        todo: list[Path] = []
        for path in files:
            digest = file_sha256(path)
            if digest in have:
                result.skipped += 1
            else:
                have.add(digest)
                todo.append(path)
        done = result.skipped
        progress(done, len(files))
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for batch, sent in pool.map(lambda b: (b, self._send(b)), _batches(todo)):
                result.uploaded += sent.uploaded
                result.failed.extend(sent.failed)
                done += len(batch)
                progress(done, len(files))
        return result
