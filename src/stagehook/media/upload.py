"""Receive a multipart upload straight into temp files, capped per file while it streams.

The body is never held in memory: each chunk is parsed (python-multipart) and its file
bytes go to the part's temp file. Nothing is kept unless every file arrived whole; the
caller decides what to keep (``MediaStore.keep``) once the images have been checked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from anyio import to_thread
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from stagehook.errors import InvalidInput, TooLarge
from stagehook.media.storage import Blob, MediaStore

FILES_FIELD = "files"


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    blob: Blob | None = None
    other: bool = False


class _Receiver:
    """python-multipart callbacks; file writes are queued and done off the event loop."""

    def __init__(self, media: MediaStore, max_bytes: int, max_files: int) -> None:
        self.media = media
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.blobs: list[Blob] = []
        self.whole = 0
        self.pending: list[tuple[Blob, bytes]] = []
        self.part = _Part()
        self._name = b""
        self._value = b""

    def on_part_begin(self) -> None:
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers[self._name.lower()] = self._value
        self._name = self._value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.part.headers.get(b"content-disposition", b""))
        if options.get(b"name") != FILES_FIELD.encode() or b"filename" not in options:
            self.part.other = True  # other fields are ignored, not stored
            return
        if len(self.blobs) >= self.max_files:
            raise TooLarge(f"one upload takes at most {self.max_files} files")
        filename = options[b"filename"].decode("utf-8", "replace")
        self.part.blob = self.media.new_blob(filename[:1000] or "image")
        self.blobs.append(self.part.blob)

    def on_part_end(self) -> None:
        if self.part.blob is not None:
            self.whole += 1

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        blob = self.part.blob
        if blob is None:
            return
        chunk = data[start:end]
        queued = sum(len(c) for b, c in self.pending if b is blob)
        if blob.size + queued + len(chunk) > self.max_bytes:
            raise TooLarge(f"{blob.filename} is over the upload limit of {self.max_bytes} bytes")
        self.pending.append((blob, chunk))

    def flush(self) -> None:
        for blob, chunk in self.pending:
            blob.write(chunk)
        self.pending.clear()


async def receive_files(
    content_type: str,
    stream: AsyncIterator[bytes],
    media: MediaStore,
    *,
    max_bytes: int,
    max_files: int,
) -> list[Blob]:
    """The uploaded files as whole temp blobs; on any failure none is left behind."""
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InvalidInput("send the images as multipart/form-data in the field 'files'")
    receiver = _Receiver(media, max_bytes, max_files)
    callbacks: dict[str, Callable[..., None]] = {
        name: getattr(receiver, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
        )
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in stream:
            try:
                parser.write(chunk)
            finally:
                if receiver.pending:
                    await to_thread.run_sync(receiver.flush)
        parser.finalize()
        if receiver.whole != len(receiver.blobs):
            raise InvalidInput("the multipart body ended inside a file; nothing was stored")
    except MultipartParseError as exc:
        for blob in receiver.blobs:
            media.discard(blob)
        raise InvalidInput(f"the multipart body is malformed: {exc}") from exc
    except BaseException:
        for blob in receiver.blobs:
            media.discard(blob)
        raise
    if not receiver.blobs:
        raise InvalidInput("no images: send one or more files in the multipart field 'files'")
    return receiver.blobs
