from __future__ import annotations

from stagehook.cli import app

app()
