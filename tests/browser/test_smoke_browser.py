"""The browser fixtures work: a person logs in through Chromium and sees the Japanese home page."""
from __future__ import annotations

from app.models import Role
from tests.browser.conftest import login
from tests.factories import PASSWORD, make_user

import pytest

pytestmark = pytest.mark.browser


def test_a_person_logs_in_and_sees_japanese(live_server: str, page, db) -> None:  # type: ignore[no-untyped-def]
    make_user(db, role=Role.INSTRUCTOR, login="sensei")
    db.commit()
    page.goto(f"{live_server}/login")
    assert page.locator("html").get_attribute("lang") == "ja"
    login(page, live_server, "sensei", PASSWORD)
    assert page.url.rstrip("/") == live_server
    assert "ログアウト" in page.content()
