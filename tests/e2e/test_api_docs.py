"""/docs and /redoc work offline (packaged assets only) under the UI's security headers."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from tests.support.browser import Server, Shot

pytestmark = pytest.mark.e2e


def offline(context: BrowserContext, server: Server) -> list[str]:
    """Refuse every request that leaves the server; return what was attempted."""
    outside: list[str] = []

    def handle(route: Route) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", handle)
    return outside


def test_swagger_ui_and_redoc_render_from_packaged_assets(
    page: Page, context: BrowserContext, server: Server, shot: Shot
) -> None:
    outside = offline(context, server)
    for path in ("/docs", "/redoc"):
        response = page.request.get(path)
        assert response.status == 200
        headers = response.headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
    page.goto("/docs")
    # Swagger UI and Redoc lay out the whole API description: slow on a loaded machine.
    expect(page.get_by_text("/api/v1/datasets").first).to_be_visible(timeout=30_000)
    shot("swagger-ui")
    assert outside == []


def test_redoc_renders_and_its_one_cdn_image_is_refused(
    context: BrowserContext, server: Server
) -> None:
    """Redoc's footer always asks for a logo on a CDN: the page's CSP refuses it."""
    outside = offline(context, server)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/redoc")
    heading = page.get_by_role("heading", name="stagehook").first
    expect(heading).to_be_visible(timeout=30_000)
    expect(page.get_by_text("/api/v1/datasets").first).to_be_attached(timeout=30_000)
    unexpected = [e for e in errors if "cdn.redoc.ly/redoc/logo-mini.svg" not in e]
    assert unexpected == []
    assert outside == []
