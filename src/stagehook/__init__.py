"""stagehook: annotation workflow server whose stages fire durable, signed webhooks."""

from __future__ import annotations

__version__ = "0.1.0"
