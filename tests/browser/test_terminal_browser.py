"""The browser terminal in Chromium, on a real range: a trainee types a command (Japanese included) and
reads its output; another team's trainee is refused; an instructor replays the recording.
"""
from __future__ import annotations

import json
from typing import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from app.models import Role, TerminalSession
from app.services import exercises
from tests.browser.conftest import login
from tests.factories import PASSWORD, add_member, make_scenario, make_user
from tests.test_range.conftest import docker_backend, no_leftover_ranges  # noqa: F401
from tests.test_terminal import TerminalRange, point_team_at, terminal_range  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.docker]

SCREEN = """(index) => {
  const term = window.mamoriTerminals[index].term, buffer = term.buffer.active, lines = [];
  for (let y = 0; y < buffer.length; y++) { lines.push(buffer.getLine(y).translateToString(true)); }
  return lines;
}"""
# The cells of the line showing the echoed Japanese: each character must take two columns.
WIDTHS = """(index) => {
  const buffer = window.mamoriTerminals[index].term.buffer.active;
  for (let y = 0; y < buffer.length; y++) {
    const line = buffer.getLine(y);
    if (line.translateToString(true) === "日本語テスト") {
      return [0, 1, 2, 3].map((x) => [line.getCell(x).getChars(), line.getCell(x).getWidth()]);
    }
  }
  return null;
}"""


@pytest.fixture
def teams(app: Flask, db, terminal_range: TerminalRange) -> Iterator[tuple[int, int]]:  # type: ignore[no-untyped-def]  # noqa: F811
    sensei = make_user(db, role=Role.INSTRUCTOR, login="sensei")
    exercise = exercises.create_exercise(db, make_scenario(db, slug="terminals"),
                                         exercises.ExerciseDraft(name="端末演習", team_count=2),
                                         actor=sensei)  # the instructor who made it runs it (replays)
    team_a, team_b = exercise.teams
    point_team_at(db, team_a, terminal_range)
    add_member(db, team_a, make_user(db, role=Role.TRAINEE, login="kenshu-a"))
    add_member(db, team_b, make_user(db, role=Role.TRAINEE, login="kenshu-b"))
    db.commit()
    yield team_a.id, team_b.id


def screen_text(page, index: int = 0) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(page.evaluate(SCREEN, index))


def wait_for_screen(page, text: str, index: int = 0, whole_line: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Until a line of terminal *index* shows *text* (or is exactly *text*)."""
    page.wait_for_function(
        """([index, text, whole]) => {
          const terms = window.mamoriTerminals || [];
          if (!terms[index]) { return false; }
          const buffer = terms[index].term.buffer.active;
          for (let y = 0; y < buffer.length; y++) {
            const line = buffer.getLine(y).translateToString(true);
            if (whole ? line === text : line.includes(text)) { return true; }
          }
          return false;
        }""", arg=[index, text, whole_line])


def test_a_trainee_types_a_command_and_the_recording_replays_it(live_server: str, page, new_page,  # type: ignore[no-untyped-def]
                                                               teams, db) -> None:
    team_a, _team_b = teams
    login(page, live_server, "kenshu-a", PASSWORD)
    page.goto(f"{live_server}/teams/{team_a}/terminal?host=ws01")
    status = page.locator(".term-panel:not([hidden]) .term-status")
    status.filter(has_text="接続しました").wait_for()
    page.locator(".term-panel:not([hidden]) .xterm").click()
    page.keyboard.type("echo 日本語テスト; whoami")
    page.keyboard.press("Enter")
    wait_for_screen(page, "日本語テスト; whoami")
    wait_for_screen(page, "root", whole_line=True)
    lines = screen_text(page).splitlines()
    output = lines.index("日本語テスト")
    assert lines[output + 1] == "root", "staff is the scenario's administrator (uid 0 under its own name)"
    assert page.evaluate(WIDTHS, 0) == [["日", 2], ["", 0], ["本", 2], ["", 0]], "Japanese takes two columns"

    page.get_by_role("button", name="ws01（staff）", exact=True).click()  # a second terminal, in a second tab
    assert page.locator(".term-tab").count() == 2
    status.filter(has_text="接続しました").wait_for()
    page.locator(".term-panel:not([hidden]) .xterm").click()
    page.keyboard.type("echo second-$((20+1))")
    page.keyboard.press("Enter")
    wait_for_screen(page, "second-21", index=1)
    assert "second-21" not in screen_text(page, 0)
    page.locator(".term-tab").first.click()
    assert page.locator(".term-panel").first.is_visible() and not page.locator(".term-panel").nth(1).is_visible()
    page.close()  # the browser goes away: both terminals end

    def sessions() -> list[TerminalSession]:
        db.expire_all()
        return list(db.scalars(select(TerminalSession).where(TerminalSession.team_id == team_a)
                               .order_by(TerminalSession.id)))

    first = sessions()[0]
    instructor = new_page()
    login(instructor, live_server, "sensei", PASSWORD)
    instructor.goto(f"{live_server}/teams/{team_a}/terminal/sessions")
    instructor.get_by_role("link", name="再生する").last.click()  # the oldest session: the first tab
    instructor.get_by_role("button", name="最後まで進める").click()
    wait_for_screen(instructor, "root", whole_line=True)
    replayed = screen_text(instructor).splitlines()
    assert replayed[replayed.index("日本語テスト") + 1] == "root"

    recording = instructor.context.request.get(
        f"{live_server}/teams/{team_a}/terminal/sessions/{first.id}/recording.cast")
    lines = recording.text().splitlines()
    header, events = json.loads(lines[0]), [json.loads(line) for line in lines[1:]]
    assert header["version"] == 2 and header["width"] > 0 and header["height"] > 0
    assert "echo 日本語テスト; whoami\r" in "".join(e[2] for e in events if e[1] == "i")
    assert "日本語テスト\r\nroot" in "".join(e[2] for e in events if e[1] == "o")


def test_a_trainee_of_another_team_is_refused(live_server: str, page, teams) -> None:  # type: ignore[no-untyped-def]
    team_a, team_b = teams
    login(page, live_server, "kenshu-b", PASSWORD)
    refused = page.goto(f"{live_server}/teams/{team_a}/terminal?host=ws01")
    assert refused is not None and refused.status == 403
    page.goto(f"{live_server}/teams/{team_b}/terminal")
    outcome = page.evaluate("""(path) => new Promise((resolve) => {
      const ws = new WebSocket("ws://" + location.host + path);
      ws.onopen = () => resolve("opened");
      ws.onclose = (event) => resolve("closed " + event.code);
    })""", f"/teams/{team_a}/terminal/ws01/socket")
    assert outcome == "closed 1006", "the handshake is refused (403): the socket never opens"
