"""Where a client finds the server: its base URL and an API key.

``stagehook serve`` writes ``<data dir>/server.json`` once it listens (and removes it when
it stops); the first start keeps the admin key in ``<data dir>/admin-api-key``. The CLI
(``stagehook url``, ``stagehook key``) and the Python client (``Client.local()``) read
both, so nothing needs to know the port or where the data dir is. ``STAGEHOOK_URL`` and
``STAGEHOOK_API_KEY`` take precedence: that is how a client reaches a server on another
machine.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from stagehook.config import Settings

SERVER_FILE = "server.json"
KEY_FILE = "admin-api-key"
URL_ENV = "STAGEHOOK_URL"
KEY_ENV = "STAGEHOOK_API_KEY"


class NotConfigured(Exception):
    """No URL or key can be found; the message says where we looked and what to do."""


@dataclass(frozen=True)
class Connection:
    url: str
    api_key: str


def public_url(host: str, port: int) -> str:
    """The URL a local client uses for a server bound to ``host:port``."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def write_server_file(data_dir: Path, url: str) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SERVER_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}) + "\n")
    tmp.replace(path)
    return path


def remove_server_file(data_dir: Path) -> None:
    """Remove the file if this process wrote it (another server may have replaced it)."""
    path = data_dir / SERVER_FILE
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def base_url(settings: Settings | None = None) -> str:
    """``STAGEHOOK_URL``, else the URL the server running on this data dir listens on."""
    if os.environ.get(URL_ENV):
        return os.environ[URL_ENV].rstrip("/")
    data_dir = (settings or Settings()).data_dir
    path = data_dir / SERVER_FILE
    try:
        facts = json.loads(path.read_text())
    except (OSError, ValueError):
        facts = None
    if not isinstance(facts, dict) or not isinstance(facts.get("url"), str):
        raise NotConfigured(
            f"no stagehook server is running on the data dir {data_dir} (no {path}); "
            f"start one with 'stagehook serve', pass the same --data-dir / STAGEHOOK_DATA_DIR "
            f"the server uses, or set {URL_ENV}"
        )
    if not _alive(facts.get("pid")):
        raise NotConfigured(
            f"the server that wrote {path} (pid {facts['pid']}) is no longer running; "
            "start it again with 'stagehook serve'"
        )
    return str(facts["url"]).rstrip("/")


def api_key(settings: Settings | None = None) -> str:
    """``STAGEHOOK_API_KEY``, else the bootstrap key setting, else the admin key file."""
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].strip()
    settings = settings or Settings()
    if settings.bootstrap_api_key:
        return settings.bootstrap_api_key
    path = settings.data_dir / KEY_FILE
    try:
        key = path.read_text().strip()
    except OSError:
        key = ""
    if not key:
        raise NotConfigured(
            f"no admin API key in {path}: it is written on the first start of "
            f"'stagehook serve' on this data dir; or set {KEY_ENV}"
        )
    return key


def connection(settings: Settings | None = None) -> Connection:
    settings = settings or Settings()
    return Connection(url=base_url(settings), api_key=api_key(settings))
