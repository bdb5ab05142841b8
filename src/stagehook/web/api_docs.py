"""``/docs`` (Swagger UI) and ``/redoc`` from packaged assets, under the UI's headers.

The scripts come from the ``fastapi-offline`` package (it ships swagger-ui-dist and the
Redoc standalone build), so the pages work on an offline deployment and load nothing
from a CDN. Nothing runs inline: each page loads its start-up script from /static.
Redoc and Swagger UI set element styles at run time, so these two pages allow inline
*styles* (never inline scripts); every other header is the UI's.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import Request, Response
from fastapi.responses import FileResponse, HTMLResponse

from stagehook.errors import NotFound
from stagehook.web.common import SECURITY_HEADERS, web_router

router = web_router()

ASSETS = Path(fastapi_offline.__file__).parent / "static"
SERVED = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
}
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

_SWAGGER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>stagehook API</title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui" data-spec-url="/openapi.json"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/static/docs-swagger.js"></script></body></html>
"""

_REDOC = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>stagehook API</title>
<link rel="icon" href="/static/favicon.svg"></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="/docs/assets/redoc.standalone.js"></script></body></html>
"""


def _page(html: str) -> HTMLResponse:
    response = HTMLResponse(html)
    response.headers.update(SECURITY_HEADERS)
    response.headers["content-security-policy"] = DOCS_CSP
    return response


@router.get("/docs")
def swagger_ui() -> Response:
    return _page(_SWAGGER)


@router.get("/redoc")
def redoc() -> Response:
    return _page(_REDOC)


@router.get("/docs/assets/{name}")
def asset(name: str, request: Request) -> Response:
    if name not in SERVED:
        raise NotFound(f"no documentation asset {name!r}")
    response = FileResponse(ASSETS / name, media_type=SERVED[name])
    response.headers["cache-control"] = "public, max-age=86400"
    return response
