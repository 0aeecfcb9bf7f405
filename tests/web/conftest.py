"""Fixtures of the web suite: a store on SQLite per module, the application over it, an API key, and
(for the browser tests) one Chromium per session and one live server per module."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from vertaid.services.keys import create_key
from vertaid.store import Store, open_store
from vertaid.web import create_app

VIGNETTES: Final = Path(__file__).parent.parent / "vignettes"

KYPHOPLASTY: Final = "19-one-healed-one-fresh"
"""A kyphoplasty vignette with two fractures (the form adds a level for it)."""
VERTEBROPLASTY: Final = "01-stable-pain-only"
CONSERVATIVE: Final = "07-mild-pain"


def vignette(name: str) -> dict[str, Any]:
    """A public vignette (tests/vignettes/NAME.json): its title, case and expected result."""
    document: dict[str, Any] = json.loads((VIGNETTES / f"{name}.json").read_text(encoding="utf-8"))
    return document


def vignette_case(name: str) -> dict[str, Any]:
    """The case of a public vignette."""
    case: dict[str, Any] = vignette(name)["case"]
    return case


def csrf_token(page: str) -> str:
    """The CSRF token a page's form carries."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None, "the page has no CSRF token"
    return match.group(1)


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An SQLite store's URL in a folder of the module's own."""
    return f"sqlite:///{tmp_path_factory.mktemp('web-store') / 'vertaid.db'}"


@pytest.fixture(scope="module")
def store(database_url: str) -> Iterator[Store]:
    """The module's store, closed afterwards."""
    opened = open_store(database_url)
    try:
        yield opened
    finally:
        opened.dispose()


@pytest.fixture(scope="module")
def app(store: Store) -> FastAPI:
    """The web application over the module's store."""
    return create_app(store)


@pytest.fixture(scope="module")
def api_key(store: Store) -> str:
    """An API key issued by the module's store, named ``web-tests``."""
    return create_key(store, "web-tests")


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client of the application (a fresh cookie jar per test)."""
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def live_server(app: FastAPI) -> Iterator[str]:
    """The module's application served by uvicorn on a free loopback port, in a thread; its base URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="web-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


CHROMIUM: Final = Path("/usr/bin/chromium")
"""Debian's Chromium, which `make test` installs when it is missing and the user is root."""

CHROMIUM_ARGUMENTS: Final = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Debian Chromium for the whole session, driven by Playwright."""
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (make test installs it when root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGUMENTS)
        )
        try:
            yield launched
        finally:
            launched.close()
