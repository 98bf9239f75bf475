"""The terminal pages as HTML (no range needed): what a link can and cannot put into them (issue 14, item 2),
and htmx configured safely on every page.
"""
from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.models import RangeHost, RangeState, Role, Team
from app.services import ranges
from tests.factories import add_member, make_exercise, make_user

APP = Path(__file__).resolve().parent.parent / "app"
PAYLOAD = ("</script><script src=/static/vendor/htmx.org/htmx.min.js></script>"
           "<form hx-post=/teams/1/tasks/infected-host/answer hx-trigger=load hx-include='[name=csrf_token]'>"
           "<input name=infected-host-answer value=ws09></form>\"'&")
CONFIG = re.compile(r'<script type="application/json" id="terminal-config">(.*?)</script>', re.S)


@pytest.fixture
def team(db: Session) -> Team:
    """Team A, its range ready (no containers: only the page is asked for), kenshu-a its member."""
    exercise = make_exercise(db)
    team = exercise.teams[0]
    row = ranges.team_range(db, team)
    row.state, row.gateway_port = RangeState.READY, 9
    row.hosts = [RangeHost(name="ws01", state="running", addresses={})]
    add_member(db, team, make_user(db, role=Role.TRAINEE, login="kenshu-a"))
    make_user(db, role=Role.INSTRUCTOR, login="sensei")
    db.commit()
    return team


def terminal_page(client: FlaskClient, team: Team, host: str) -> tuple[str, dict]:
    response = client.get(f"/teams/{team.id}/terminal?host={urllib.parse.quote(host)}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    blocks = CONFIG.findall(html)
    assert len(blocks) == 1, "one configuration block, closed where the page closes it"
    return html, json.loads(blocks[0])


def test_a_link_cannot_put_markup_into_the_terminal_page(client: FlaskClient, auth, team: Team) -> None:  # type: ignore[no-untyped-def]
    auth.login("kenshu-a")
    html, config = terminal_page(client, team, PAYLOAD)
    assert config["open"] == "", "a host the team does not have is ignored"
    for fragment in ("</script><script", "<form hx-post", "hx-trigger=load", "value=ws09"):
        assert fragment not in html, fragment
    # site.js (every page), xterm.js, its two add-ons, terminal.js, the config
    assert html.count("<script") == html.count("</script>") == 6
    assert "hx-disable" in html.split("<body", 1)[1].split(">", 1)[0], "htmx would act on nothing here"

    _html, config = terminal_page(client, team, "ws01")
    assert config["open"] == "ws01", "the team's own host opens at once"
    assert config["messages"]["connected"] == "接続しました"


def test_the_configuration_is_escaped_for_a_script_block(client: FlaskClient, auth, team: Team,  # type: ignore[no-untyped-def]
                                                        app) -> None:
    """Even text that is ours (here a translation gone wrong) cannot close the block: ``|tojson`` escapes <, >, &, '."""
    auth.login("kenshu-a")
    with app.test_request_context():
        from flask import render_template
        html = render_template("terminal/page.html", team=team, hosts=[], ready=True,
                               terminal_config={"open": PAYLOAD})
    [block] = CONFIG.findall(html)
    assert "<" not in block and ">" not in block and "'" not in block and "&" not in block
    assert json.loads(block) == {"open": PAYLOAD}


@pytest.mark.parametrize(("path", "htmx"), [("/login", False), ("/teams/{team}/terminal", False),
                                            ("/teams/{team}", True)])
def test_every_page_configures_htmx_and_only_polling_pages_let_it_act(client: FlaskClient, auth,  # type: ignore[no-untyped-def]
                                                                      team: Team, path: str, htmx: bool) -> None:
    if path != "/login":
        auth.login("kenshu-a")
    html = client.get(path.format(team=team.id)).get_data(as_text=True)
    metas = re.findall(r"<meta name=\"htmx-config\" content='([^']*)'>", html)
    assert len(metas) == 1 and json.loads(metas[0]) == {
        "allowEval": False, "allowScriptTags": False, "selfRequestsOnly": True, "includeIndicatorStyles": False}
    body = html.split("<body", 1)[1].split(">", 1)[0]
    assert ("hx-disable" not in body) is htmx
    assert ("/static/vendor/htmx.org/htmx.min.js" in html) is htmx


def test_no_template_or_module_marks_text_safe() -> None:
    """The audit of issue 14 found only the terminal pages' ``|safe``; keep it that way (data is escaped, JSON is |tojson)."""
    found = [f"{path.relative_to(APP)}:{number}" for path in sorted(APP.rglob("*"))
             if path.suffix in (".html", ".py") and "vendor" not in path.parts
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"\|\s*safe\b|\bMarkup\(|autoescape\s+false", line)]
    assert found == []
