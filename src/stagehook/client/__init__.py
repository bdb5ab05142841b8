"""Python client for the stagehook REST API: one typed method per operation.

    from stagehook.client import Client

    with Client.local() as sh:            # the server on this machine's data dir
        dataset = sh.create_dataset("frames")

Lists are iterators that fetch pages as you go (``iter_tasks``, ``iter_deliveries`` ...);
every error answer raises :class:`ApiError` with its ``status``, ``code`` and ``message``.
"""

from __future__ import annotations

from pathlib import Path

from stagehook.client import models
from stagehook.client.labeling import LabelingApi
from stagehook.client.operations import OperationsApi
from stagehook.client.transport import ApiError
from stagehook.client.work import WorkApi
from stagehook.client.workflows import WorkflowsApi


class Client(WorkflowsApi, WorkApi, LabelingApi, OperationsApi):
    """``Client(url, api_key)``; or ``Client.local()`` to find both like ``stagehook url``."""

    @classmethod
    def local(cls, data_dir: Path | None = None, *, timeout: float = 30.0) -> Client:
        """The server running on ``data_dir`` (default: ``STAGEHOOK_DATA_DIR`` or the
        platform's), with its admin key; ``STAGEHOOK_URL`` / ``STAGEHOOK_API_KEY`` win."""
        from stagehook.config import Settings
        from stagehook.connection import connection

        found = connection(Settings(data_dir=data_dir) if data_dir else Settings())
        return cls(found.url, found.api_key, timeout=timeout)


__all__ = ["ApiError", "Client", "models"]
