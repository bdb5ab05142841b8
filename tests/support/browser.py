"""What the browser tests share: the e2e server's settings, viewports and types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stagehook.store.context import Store

ADMIN_KEY = "shk_e2e_admin_key"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "e2e"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
#: 203.0.113.0/24 is a documentation range: a source list a receiver admin would copy.
EGRESS = ["203.0.113.0/28", "2001:db8:5::/48"]


@dataclass
class Server:
    url: str
    store: Store


#: ``shot("name")`` saves a numbered full-page screenshot (see the ``shot`` fixture).
Shot = Callable[..., Path]
