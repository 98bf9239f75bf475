"""Real-browser fixtures: the app served on loopback, driven by Playwright in Debian's Chromium.

``live_server`` serves the test app (same database as the ``db`` fixture:
commit what the browser must see) from a thread on 127.0.0.1; ``page`` is a
fresh Chromium tab in a Japanese locale and the Asia/Tokyo time zone.
Chromium comes from Debian (``apt-get install chromium``; ``make test`` and
``.ci/run`` install it); Playwright never downloads a browser.
"""
from __future__ import annotations

import os
import shutil
from typing import Iterator

import pytest
from flask import Flask

from tests.liveserver import served

CHROMIUM = os.environ.get("MAMORI_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served on a free loopback port; yields its base URL (no trailing slash)."""
    with served(app) as url:
        yield url


@pytest.fixture(scope="session")
def chromium():  # type: ignore[no-untyped-def]
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: run 'apt-get install chromium' (make test does it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium):  # type: ignore[no-untyped-def]
    """A factory of fresh tabs, each in its own context (its own cookies: one per user)."""
    contexts = []

    def make(locale: str = "ja-JP"):  # type: ignore[no-untyped-def]
        context = chromium.new_context(locale=locale, timezone_id="Asia/Tokyo", viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):  # type: ignore[no-untyped-def]
    return new_page()


def login(page, base_url: str, login_name: str, password: str) -> None:  # type: ignore[no-untyped-def]
    """Log in through the login form, as a person would."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=login]", login_name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state()
