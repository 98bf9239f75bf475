"""A link that smuggles markup into a page must do nothing in a team member's browser (issue 14, item 2).

The attack as a trainee of another team would send it: the terminal page's ``?host=`` closes the
page's JSON ``<script>`` block, loads the vendored htmx (allowed by ``script-src 'self'``) and adds a
form that htmx posts on load, with the victim's CSRF token taken from the page's logout form. With
CSRF protection on, as in production, opening it must record no answer and no score event.
The second test checks the second line of defence: even markup that did get into a page which
needs no htmx (injected here through the DOM) is not acted on by htmx.
"""
from __future__ import annotations

import urllib.parse
from typing import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.models import RangeHost, RangeState, Role, ScoreEvent, TaskAttempt
from app.services import ranges
from tests.browser.conftest import login
from tests.factories import PASSWORD, add_member, make_running_exercise, make_user

pytestmark = pytest.mark.browser
TASK = "infected-host"


@pytest.fixture
def team_id(app: Flask, db) -> Iterator[int]:  # type: ignore[no-untyped-def]
    """A running exercise whose task is open, team A's range shown as ready, kenshu-a in team A."""
    app.config["WTF_CSRF_ENABLED"] = True  # as in production: the attack has to carry the victim's token
    exercise = make_running_exercise(db, elapsed=1300, fired={"police-call": 1200})
    team = exercise.teams[0]
    row = ranges.team_range(db, team)
    # Only the page is needed, not a shell: nothing listens on port 9 and no terminal is opened.
    row.state, row.gateway_port = RangeState.READY, 9
    row.hosts = [RangeHost(name="ws01", state="running", addresses={})]
    add_member(db, team, make_user(db, role=Role.TRAINEE, login="kenshu-a"))
    db.commit()
    yield team.id


def attack(team: int) -> str:
    form = (f"<form hx-post=/teams/{team}/tasks/{TASK}/answer hx-trigger=load hx-include='[name=csrf_token]'>"
            f"<input name={TASK}-answer value=ws09></form>")
    return "</script><script src=/static/vendor/htmx.org/htmx.min.js></script>" + form


def recorded(db, team: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return (db.scalar(select(func.count()).select_from(TaskAttempt).where(TaskAttempt.team_id == team)) or 0,
            db.scalar(select(func.count()).select_from(ScoreEvent).where(ScoreEvent.team_id == team)) or 0)


def test_the_reflected_terminal_link_submits_nothing(live_server: str, page, db, team_id: int) -> None:  # type: ignore[no-untyped-def]
    login(page, live_server, "kenshu-a", PASSWORD)
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    response = page.goto(f"{live_server}/teams/{team_id}/terminal?host={urllib.parse.quote(attack(team_id))}")
    assert response is not None and response.status == 200
    page.get_by_role("button", name="ws01（staff）", exact=True).wait_for()  # the page itself works
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1000)  # htmx's load trigger fires at once; leave it time anyway
    assert recorded(db, team_id) == (0, 0), "an answer (and its penalty) was recorded in the victim's name"
    assert posts == [] and page.locator("form[hx-post]").count() == 0, "the link's markup became part of the page"


def test_htmx_ignores_markup_on_a_page_that_needs_none(live_server: str, page, db, team_id: int) -> None:  # type: ignore[no-untyped-def]
    """Defence in depth: pages without htmx carry ``hx-disable``, so htmx loaded by injected markup acts on nothing."""
    login(page, live_server, "kenshu-a", PASSWORD)
    page.goto(f"{live_server}/teams/{team_id}/terminal")
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    page.evaluate("""(markup) => new Promise((resolve) => {
      const holder = document.createElement("div");
      holder.innerHTML = markup.split("</script>").pop();  // the form; scripts set through innerHTML never run
      document.querySelector("main").append(holder);
      const script = document.createElement("script");
      script.src = "/static/vendor/htmx.org/htmx.min.js";
      script.onload = () => resolve(true);
      document.body.append(script);
    })""", attack(team_id))
    page.wait_for_function("() => window.htmx !== undefined")
    page.wait_for_timeout(1000)
    assert page.evaluate("() => [htmx.config.allowEval, htmx.config.allowScriptTags, htmx.config.selfRequestsOnly]") \
        == [False, False, True], "the page's htmx-config applies to any htmx that runs on it"
    assert posts == [] and recorded(db, team_id) == (0, 0)
