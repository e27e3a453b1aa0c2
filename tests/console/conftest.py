"""One kefu on a loopback port and one headless Chromium per test module, shared by the
console's browser tests (h2's pages use the same fixtures).

The runtime is the widget tests' (``tests.widget.conftest.build_runtime``): a fresh copy of
the migrated SQLite database, the real embedding model, ingestion in this process, and a
knowledge base "shop" with the widget tests' FAQ sheet.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from app.console.models import ConsoleRole
from app.main import create_app
from app.runtime import Runtime
from tests.console.support import PASSWORD, make_user
from tests.widget.conftest import ARTIFACTS, FAQ, Server, build_runtime

# The widget tests' headless Chromium (one per module), reused rather than copied.
from tests.widget.test_browser import browser as browser

SCREENSHOTS = ARTIFACTS / "console"
TIMEOUT_MS = 30_000
ADMIN, AGENT = "ada", "bo"


@pytest.fixture
def backend() -> str:
    """The HTTP tests of sessions run on PostgreSQL (the browser tests run on SQLite)."""
    return "postgresql"


@pytest.fixture(scope="module")
def console_runtime(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Runtime]:
    runtime = build_runtime(tmp_path_factory.mktemp("console"), sqlite_template, {"faq.csv": FAQ})
    make_user(runtime.session_factory, ADMIN, ConsoleRole.ADMIN, display_name="Ada")
    yield runtime
    runtime.close()
    runtime.engine.dispose()


@pytest.fixture(scope="module")
def console_url(console_runtime: Runtime) -> Iterator[str]:
    with Server(create_app(runtime=console_runtime)) as url:
        yield url


def new_page(browser: Browser, console_url: str) -> tuple[BrowserContext, Page]:
    """A fresh browser context (its own cookies): one person at one laptop."""
    context = browser.new_context(base_url=console_url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


def sign_in(page: Page, name: str, password: str = PASSWORD) -> None:
    page.goto("/console/login")
    page.get_by_label("用户名").fill(name)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
