"""Browser tests: the real app on 127.0.0.1 (SQLite file, embedded dispatcher), real
loopback receivers, and Debian's chromium driven by Playwright.

Every test leaves screenshots under ``artifacts/e2e/<test name>/`` (CI keeps them).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Response,
    sync_playwright,
)

from stagehook.config import Settings
from tests.support.api import Api
from tests.support.browser import (
    ADMIN_KEY,
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    EGRESS,
    Server,
    Shot,
)
from tests.support.server import serve_app

pytestmark = pytest.mark.e2e


# Package scope, not session: Playwright's sync API keeps an event loop running in this
# thread until it stops, which would break every asyncio test collected after e2e/.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; scripts/test installs it with apt")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'stagehook.db'}",
        bootstrap_api_key=ADMIN_KEY,
        allowed_target_networks=["127.0.0.0/8"],
        retry_schedule=[0, 0.2, 0.4],
        retry_jitter=0.0,
        egress_cidrs=EGRESS,
        deployment="e2e",
    )


@pytest.fixture
def server(settings: Settings) -> Iterator[Server]:
    from stagehook.server import build_server_app

    app = build_server_app(settings, embedded_dispatcher=True)
    with serve_app(app) as base_url:
        yield Server(base_url, app.state.store)
    app.state.store.db.dispose()


@pytest.fixture
def api(server: Server) -> Iterator[Api]:
    with Api(server.url, ADMIN_KEY) as client:
        yield client


def _folder(request: pytest.FixtureRequest) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    folder = ARTIFACTS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def viewport() -> dict[str, int]:
    """1280x800; a test parametrizes ``viewport`` with PHONE to run at 390 px."""
    return DESKTOP


@pytest.fixture
def context(browser: Browser, server: Server, viewport: dict[str, int]) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=viewport, base_url=server.url)
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A desktop-sized page that fails the test on script errors, CSP violations,
    server errors and missing static files."""
    page = context.new_page()
    errors: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        # 4xx answers to fetch() are expected (the editor shows their message inline).
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            errors.append(msg.text)

    def on_response(response: Response) -> None:
        broken_asset = "/static/" in response.url and response.status >= 400
        if response.status >= 500 or broken_asset:
            errors.append(f"{response.status} {response.url}")

    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", on_console)
    page.on("response", on_response)
    yield page
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    if not page.is_closed():
        page.screenshot(path=folder / "99-last.png", full_page=True)
    assert errors == [], f"the page logged errors: {errors}"


@pytest.fixture
def shot(page: Page, request: pytest.FixtureRequest) -> Shot:
    """``shot("name")`` saves a full-page screenshot, numbered in the order taken."""
    folder = _folder(request)
    taken: list[Path] = []

    def take(name: str, target: Page | None = None, *, full_page: bool = True) -> Path:
        path = folder / f"{len(taken) + 1:02d}-{name}.png"
        (target or page).screenshot(path=path, full_page=full_page)
        taken.append(path)
        return path

    return take
