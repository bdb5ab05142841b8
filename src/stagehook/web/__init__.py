"""The server-rendered web UI; ``server.py`` mounts it beside the API."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from stagehook.config import Settings
from stagehook.web import (
    annotate,
    api_docs,
    auth,
    datasets,
    deliveries,
    members,
    meta,
    ontologies,
    projects,
    sessions,
    tasks,
    users,
    webhooks,
    workflow_templates,
    workflows,
)
from stagehook.web.cookies import SecureCookies

SECRET_FILE = "session-secret"
SESSION_COOKIE = "stagehook_session"


def session_secret(settings: Settings) -> str:
    """``STAGEHOOK_SESSION_SECRET``, or one generated once and kept in the data dir.

    Several processes behind one load balancer must share a secret, so they set it.
    """
    if settings.session_secret:
        return settings.session_secret
    path = Path(settings.data_dir) / SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race; use its secret
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret


def install_ui(app: FastAPI, settings: Settings) -> None:
    # The cookie only carries the session token (and CSRF token, flashes); the server
    # decides whether the session is alive (stagehook.store.sessions).
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(settings),
        session_cookie=SESSION_COOKIE,
        max_age=int(settings.session_absolute_timeout),
        same_site="lax",
    )
    app.add_middleware(SecureCookies, force=settings.cookie_secure)
    # Client address and scheme from X-Forwarded-* only when a configured proxy sent them.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    for module in (
        auth,
        meta,
        users,
        projects,
        members,
        datasets,
        workflows,
        workflow_templates,
        webhooks,
        ontologies,
        annotate,
        tasks,
        deliveries,
        sessions,
        api_docs,
    ):
        app.include_router(module.router)
