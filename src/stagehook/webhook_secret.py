"""A webhook's signing secret: the ``whsec_<base64>`` form receivers paste into their code."""

from __future__ import annotations

import base64
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24


def generate_secret() -> str:
    """A fresh per-webhook secret."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()
