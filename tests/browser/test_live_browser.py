"""The live view updates itself in a real browser, without a reload and without breaking the CSP."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.models import ExerciseState, InjectRun, Role, RunStatus, utcnow
from app.services import lifecycle
from tests.browser.conftest import login
from tests.factories import PASSWORD, make_exercise, make_user

pytestmark = pytest.mark.browser


def test_the_live_view_updates_without_a_reload(live_server: str, page, db) -> None:  # type: ignore[no-untyped-def]
    sensei = make_user(db, role=Role.INSTRUCTOR, login="sensei")
    exercise = make_exercise(db, teams=2, instructor=sensei)  # the instructor who runs it
    exercise.state = ExerciseState.READY
    lifecycle.start(db, exercise, actor=None, speed=1, now=utcnow() - timedelta(seconds=700))
    db.commit()
    problems: list[str] = []
    # A CSP refusal is a console error; a missing asset (a page's favicon aside) an error response.
    page.on("console", lambda message: problems.append(message.text)
            if message.type == "error" and "Failed to load resource" not in message.text else None)
    page.on("response", lambda response: problems.append(f"{response.status} {response.url}")
            if response.status >= 400 and not response.url.endswith("/favicon.ico") else None)
    login(page, live_server, "sensei", PASSWORD)
    page.goto(f"{live_server}/exercises/{exercise.id}/live")
    board = page.locator("#live-board")
    assert board.locator("td.inject-fired").count() == 0
    page.evaluate("window.__notReloaded = true")

    db.add(InjectRun(exercise_id=exercise.id, team_id=exercise.teams[0].id, inject_id="beacon",
                     status=RunStatus.DONE, day=1, started_seconds=600))
    db.commit()

    board.locator("td.inject-fired").first.wait_for(timeout=15_000)
    assert "発火" in board.inner_text()
    assert page.evaluate("window.__notReloaded") is True, "the page was not reloaded"
    assert problems == [], problems
