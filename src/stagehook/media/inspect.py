"""Read an image's size with Pillow, decoding it whole so corrupt or truncated files fail."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from stagehook.errors import InvalidInput
from stagehook.media.sniff import PILLOW_FORMATS


def image_size(path: Path, mime_type: str, filename: str) -> tuple[int, int]:
    """(width, height); a file Pillow cannot decode completely is a 422."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.format != PILLOW_FORMATS[mime_type]:
                    raise InvalidInput(f"{filename}: its bytes are not a valid {mime_type} image")
                image.load()
                return image.size
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as exc:
        # Pillow's messages name our temp file; the client only needs to know it is broken.
        raise InvalidInput(f"{filename}: the {mime_type} image is corrupt or truncated") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidInput(f"{filename}: the image has too many pixels ({exc})") from exc
