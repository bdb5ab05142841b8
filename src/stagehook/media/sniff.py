"""The image type, from the first bytes of the file (never from its name or header)."""

from __future__ import annotations

#: Bytes needed to tell the supported types apart.
HEAD_BYTES = 12

#: MIME type → the Pillow format name that must agree with it.
PILLOW_FORMATS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/webp": "WEBP",
    "image/gif": "GIF",
}


def sniff(head: bytes) -> str | None:
    """``image/png``, ``image/jpeg``, ``image/webp``, ``image/gif``, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None
