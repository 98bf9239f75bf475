"""The instructor console: the live view, the readiness board, hint release, the forms and the roster preview."""
from __future__ import annotations

import base64
import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.models import (
    AuditEvent, CheckResultRow, Exercise, InjectRun, Message, RangeHost, RangeState, ReportStatus, ReportVersion, Role,
    RunStatus, ScoreEvent, ScoreSource, ScoringRound, TaskAttempt, Team, TeamScore, User,
)
from app.services import ledger, lifecycle, live, ranges, tasks
from tests.factories import add_member, make_exercise, make_running_exercise, make_user, run_by

TASK = "infected-host"
HINT_JA = "プロセス一覧を見てみましょう。"


def running(db: Session, teams: int, instructor: User | None = None) -> Exercise:
    """A running exercise, 30 minutes into day 1 (run by *instructor*)."""
    return make_running_exercise(db, teams=teams, elapsed=1800, instructor=instructor)


def add_round(db: Session, exercise: Exercise, number: int, results: dict[Team, str]) -> None:
    scoring_round = ScoringRound(exercise_id=exercise.id, number=number)
    db.add(scoring_round)
    db.flush()
    for team, status in results.items():
        db.add(CheckResultRow(round_id=scoring_round.id, round_number=number, exercise_id=exercise.id,
                              team_id=team.id, check_id="beacon-stopped", status=status, reason=f"round {number}"))


def activity(db: Session, exercise: Exercise) -> None:
    """Something of every kind for every team: inject runs, two rounds of checks, answers, a report, points."""
    add_round(db, exercise, 1, {team: "down" for team in exercise.teams})
    add_round(db, exercise, 2, {team: "up" for team in exercise.teams})
    for team in exercise.teams:
        db.add(InjectRun(exercise_id=exercise.id, team_id=team.id, inject_id="beacon", status=RunStatus.DONE,
                         day=1, started_seconds=600))
        db.add(TaskAttempt(exercise_id=exercise.id, team_id=team.id, task_id=TASK, number=1, answer="ws02",
                           correct=False))
        db.add(ReportVersion(exercise_id=exercise.id, team_id=team.id, report_id="first-report", number=1,
                             status=ReportStatus.SUBMITTED, text="第一報"))
        ledger.append(db, team, source=ScoreSource.CHECK, source_id="beacon-stopped", key=f"c:{team.id}",
                      points=10, when=ledger.moment(exercise))
    db.flush()


def escalations(db: Session, exercise: Exercise) -> None:
    """The police call came in for every team at 00:10 (the first report is due at 00:40, after the board's
    00:30); each team wrote twice to the police, once still waiting for the white cell."""
    for team in exercise.teams:
        db.add(InjectRun(exercise_id=exercise.id, team_id=team.id, inject_id="police-call", status=RunStatus.DONE,
                         day=1, started_seconds=600))
        for number, waiting in ((1, None), (2, "waiting")):
            db.add(Message(exercise_id=exercise.id, team_id=team.id, direction="out", character_id="nisc",
                           sender_ja=team.name, sender_en=team.name, subject_ja=f"通報 {number}",
                           subject_en=f"Report {number}", body_ja="本文", body_en="text", day=1,
                           exercise_seconds=900 + number, white_cell=waiting))
    db.flush()


@pytest.fixture
def sensei(db: Session, auth) -> User:  # type: ignore[no-untyped-def]
    user = make_user(db, role=Role.INSTRUCTOR, login="sensei")
    db.commit()
    assert auth.login("sensei").status_code == 302
    return user


# The read model --------------------------------------------------------------------------------


def test_the_board_shows_each_teams_injects_checks_answers_reports_and_score(db: Session) -> None:
    exercise = running(db, teams=3)
    one, two, three = exercise.teams
    add_round(db, exercise, 1, {one: "down", two: "down"})
    add_round(db, exercise, 2, {one: "up", two: "error"})
    db.add_all([
        InjectRun(exercise_id=exercise.id, team_id=one.id, inject_id="beacon", status=RunStatus.DONE, day=1,
                  started_seconds=600),
        InjectRun(exercise_id=exercise.id, team_id=one.id, inject_id="police-call", status=RunStatus.HELD),
        InjectRun(exercise_id=exercise.id, team_id=two.id, inject_id="beacon", status=RunStatus.FAILED, day=1,
                  started_seconds=601, result="ws01: command failed"),
        TaskAttempt(exercise_id=exercise.id, team_id=one.id, task_id=TASK, number=1, answer="ws02", correct=False),
        TaskAttempt(exercise_id=exercise.id, team_id=one.id, task_id=TASK, number=2, answer="ws01", correct=True),
        ReportVersion(exercise_id=exercise.id, team_id=two.id, report_id="first-report", number=1,
                      status=ReportStatus.SUBMITTED, text="第一報"),
        ReportVersion(exercise_id=exercise.id, team_id=three.id, report_id="first-report", number=1,
                      status=ReportStatus.DRAFT, text="下書き"),
    ])
    ledger.append(db, one, source=ScoreSource.TASK, source_id=TASK, key="task:infected-host", points=50,
                  when=ledger.moment(exercise))
    db.flush()

    board = live.board(db, exercise)

    assert [c.id for c in board.injects] == ["beacon", "police-call"]
    assert [c.id for c in board.checks] == ["beacon-stopped"]
    rows = {row.number: row for row in board.teams}
    assert [cell.kind for cell in rows[1].injects] == ["fired", "held"]
    assert rows[1].injects[0].day == 1 and rows[1].injects[0].seconds == 600
    assert [cell.kind for cell in rows[2].injects] == ["failed", "pending"]
    assert rows[2].injects[0].result == "ws01: command failed"
    assert [cell.kind for cell in rows[3].injects] == ["pending", "pending"]
    assert [(c.status, c.round_number) for c in rows[1].checks] == [("up", 2)]
    assert [(c.status, c.reason) for c in rows[2].checks] == [("error", "round 2")]
    assert [c.status for c in rows[3].checks] == ["none"]
    assert (rows[1].tasks_solved, rows[1].attempts) == (1, 2)
    assert (rows[2].tasks_solved, rows[2].attempts) == (0, 0)
    assert [row.reports_waiting for row in board.teams] == [0, 1, 0]
    assert board.reports_waiting == 1
    assert [row.points for row in board.teams] == [50, 0, 0]
    assert board.clock.running and board.clock.day == 1 and board.clock.seconds >= 1800
    assert board.task_count == 1


def test_the_live_page_and_its_fragment(client: FlaskClient, db: Session, sensei: User) -> None:
    exercise = running(db, teams=2, instructor=sensei)
    activity(db, exercise)
    db.add(InjectRun(exercise_id=exercise.id, team_id=exercise.teams[1].id, inject_id="police-call",
                     status=RunStatus.HELD))
    db.commit()

    page = client.get(f"/exercises/{exercise.id}/live")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    fragment_url = f"/exercises/{exercise.id}/live/board"
    assert f'hx-get="{fragment_url}"' in html and 'hx-trigger="every 5s"' in html
    assert "/static/vendor/htmx.org/htmx.min.js" in html
    assert "includeIndicatorStyles" in html
    assert " style=" not in html and not re.search(r"<script(?![^>]*\bsrc=)", html), "the CSP forbids inline code"
    assert "ライブビュー" in html and "実施中" in html

    fragment = client.get(fragment_url)
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200
    assert "<html" not in text, "the fragment is a piece of the page, not a page"
    assert text.count("発火") == 2 and "保留" in text and "未実施" in text
    assert text.count(">正常<") == 2
    assert "1 日目 00:10" in text
    assert "2 件の報告書が採点待ちです" in text
    assert "不審な通信の停止" in text and "不審な通信の開始" in text

    client.get("/lang/en")
    english = client.get(fragment_url).get_data(as_text=True)
    assert "Fired" in english and "Held" in english and "Up" in english and "Beacon stopped" in english

    # The exercise page links to the live view and the readiness board.
    show = client.get(f"/exercises/{exercise.id}").get_data(as_text=True)
    assert f'href="/exercises/{exercise.id}/live"' in show and f'href="/exercises/{exercise.id}/readiness"' in show


class StatementCounter:
    def __init__(self, app: Flask) -> None:
        self.engine = app.extensions["mamori.db"].engine
        self.count = 0

    def __call__(self, *args: object) -> None:
        self.count += 1

    def __enter__(self) -> "StatementCounter":
        event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self)


def statements(app: Flask, client: FlaskClient, path: str) -> int:
    with StatementCounter(app) as counter:
        response = client.get(path)
    assert response.status_code == 200, path
    return counter.count


def test_the_polled_fragments_make_as_many_queries_for_30_teams_as_for_3(
        app: Flask, client: FlaskClient, db: Session, sensei: User) -> None:
    counts = {}
    for teams in (3, 30):
        exercise = running(db, teams=teams, instructor=sensei)
        activity(db, exercise)
        escalations(db, exercise)
        for team in exercise.teams:
            row = ranges.team_range(db, team)
            row.state = RangeState.READY
            row.hosts = [RangeHost(name="ws01", state="running"), RangeHost(name="attacker", state="running")]
        db.commit()
        counts[teams] = (statements(app, client, f"/exercises/{exercise.id}/live/board"),
                         statements(app, client, f"/exercises/{exercise.id}/readiness/board"))
        assert len(live.board(db, exercise).teams) == teams
    assert counts[3] == counts[30], counts
    # 12 before the escalations (the latest messages with their counts, and reports.timeliness's two).
    assert counts[30][0] <= 14, f"the live fragment made {counts[30][0]} queries"
    board = live.board(db, exercise)
    assert board.white_cell_waiting == 30 and all(len(team.escalations) == 2 for team in board.teams)


# The readiness board ---------------------------------------------------------------------------


def test_the_readiness_board_shows_every_team_and_host(client: FlaskClient, db: Session, sensei: User) -> None:
    exercise = make_exercise(db, teams=3, instructor=sensei)
    one, two, _three = exercise.teams
    ready = ranges.team_range(db, one)
    ready.state, ready.gateway_port = RangeState.READY, 42001
    ready.hosts = [RangeHost(name="ws01", state="running"), RangeHost(name="attacker", state="exited")]
    failed = ranges.team_range(db, two)
    failed.state, failed.reason = RangeState.FAILED, "ws01: start-up command 1 failed (exit 1)"
    db.commit()

    readiness = live.readiness(db, exercise)
    assert [t.state for t in readiness.teams] == ["ready", "failed", "pending"]
    assert readiness.teams[0].hosts == (live.HostState("ws01", "running"), live.HostState("attacker", "exited"))
    assert readiness.resettable_hosts == ("ws01", "attacker") and readiness.can_provision

    page = client.get(f"/exercises/{exercise.id}/readiness").get_data(as_text=True)
    assert f'hx-get="/exercises/{exercise.id}/readiness/board"' in page
    fragment = client.get(f"/exercises/{exercise.id}/readiness/board").get_data(as_text=True)
    assert "3 チーム中 1 チームが準備完了" in fragment
    assert "ws01: 稼働中" in fragment and "attacker: 停止" in fragment
    assert "start-up command 1 failed" in fragment
    assert f'action="/exercises/{exercise.id}/teams/2/provision"' in fragment, "a failed team can be retried"
    assert f'action="/exercises/{exercise.id}/teams/1/provision"' not in fragment, "a ready team is not rebuilt"
    assert f'action="/exercises/{exercise.id}/teams/1/hosts/ws01/reset"' in fragment
    assert 'data-confirm="' in fragment


# Hint release ----------------------------------------------------------------------------------


@pytest.fixture
def open_task(db: Session) -> Exercise:
    """A running two-team exercise whose police call came in 10 minutes ago: the task is open."""
    exercise = make_running_exercise(db, elapsed=1800, fired={"police-call": 1200})
    add_member(db, exercise.teams[0], make_user(db, role=Role.TRAINEE, login="kenshu-a"))
    add_member(db, exercise.teams[1], make_user(db, role=Role.TRAINEE, login="kenshu-b"))
    db.commit()
    return exercise


def test_a_released_hint_shows_to_that_team_only_and_costs_nothing(
        app: Flask, client: FlaskClient, db: Session, sensei: User, open_task: Exercise) -> None:
    exercise = run_by(db, open_task, sensei)
    db.commit()
    team_a, team_b = exercise.teams

    response = client.post(f"/exercises/{exercise.id}/hints", data={"hint": f"{TASK}:0", "team": "1"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/exercises/{exercise.id}/live")
    db.expire_all()

    view_a = next(v for v in tasks.task_views(db, exercise, team_a) if v.task.id == TASK)
    view_b = next(v for v in tasks.task_views(db, exercise, team_b) if v.task.id == TASK)
    assert view_a.hints_taken == (0,) and view_a.hints_released == (0,) and view_a.points_earned == 0
    assert view_b.hints_taken == () and view_b.hints_released == ()
    event_row = db.scalar(select(ScoreEvent).where(ScoreEvent.team_id == team_a.id))
    assert event_row.source is ScoreSource.HINT and event_row.points == 0 and event_row.actor_id == sensei.id
    assert db.get(TeamScore, team_a.id).points == 0
    audit = db.scalar(select(AuditEvent).where(AuditEvent.action == "hint.release"))
    assert audit is not None and audit.actor_id == sensei.id and audit.detail["teams"] == [1]

    trainee = app.test_client()
    trainee.post("/login", data={"login": "kenshu-a", "password": "correct-horse-battery"})
    tasks_page = trainee.get(f"/teams/{team_a.id}/tasks").get_data(as_text=True)
    assert HINT_JA in tasks_page and "講師から提供・無料" in tasks_page, "the team sees it was free"
    other = app.test_client()
    other.post("/login", data={"login": "kenshu-b", "password": "correct-horse-battery"})
    assert HINT_JA not in other.get(f"/teams/{team_b.id}/tasks").get_data(as_text=True)

    # Taking the released hint afterwards costs nothing either; releasing it again changes nothing.
    tasks.take_hint(db, exercise, team_a, db.scalar(select(User).where(User.login == "kenshu-a")), TASK, 0)
    assert tasks.release_hint(db, exercise, TASK, 0, teams=[1], actor=None) == []
    db.commit()
    assert db.get(TeamScore, team_a.id).points == 0
    assert db.scalar(select(func.count()).select_from(ScoreEvent).where(ScoreEvent.team_id == team_a.id)) == 1


def test_a_hint_released_to_all_teams(db: Session, open_task: Exercise) -> None:
    assert tasks.release_hint(db, open_task, TASK, 0, teams=None, actor=None) == [1, 2]
    assert all(v.hints_released == (0,) for t in open_task.teams for v in tasks.task_views(db, open_task, t))


def test_hint_release_refusals(db: Session, open_task: Exercise) -> None:
    from app.services.errors import Conflict, InvalidInput, NotFound

    with pytest.raises(NotFound):
        tasks.release_hint(db, open_task, "no-such-task", 0, teams=None, actor=None)
    with pytest.raises(NotFound):
        tasks.release_hint(db, open_task, TASK, 5, teams=None, actor=None)
    with pytest.raises(InvalidInput):
        tasks.release_hint(db, open_task, TASK, 0, teams=[9], actor=None)
    draft = make_exercise(db, teams=1)
    with pytest.raises(Conflict):
        tasks.release_hint(db, draft, TASK, 0, teams=None, actor=None)


def test_refusals_name_the_state_and_the_teams_in_japanese(client: FlaskClient, db: Session, sensei: User,
                                                           open_task: Exercise) -> None:
    run_by(db, open_task, sensei)
    db.commit()
    missing = client.post(f"/exercises/{open_task.id}/hints", data={"hint": f"{TASK}:0", "team": "7"})
    assert missing.status_code == 400 and "チーム 7 はありません（この演習のチームは 1〜2）" in missing.get_data(as_text=True)
    lifecycle.finish(db, open_task, actor=None)
    db.commit()
    finished = client.post(f"/exercises/{open_task.id}/hints", data={"hint": f"{TASK}:0", "team": "1"})
    html = finished.get_data(as_text=True)
    assert "ヒントを配布できるのは演習の実施中だけです（現在: 終了）" in html
    assert "finished" not in re.sub(r"<[^>]+>", " ", html), "the refusal names the state in Japanese"
    assert db.scalar(select(func.count()).select_from(ScoreEvent)) == 0, "nothing was released"


# Forms show their errors beside the fields -----------------------------------------------------


def test_control_forms_show_errors_beside_their_fields(client: FlaskClient, db: Session, sensei: User,
                                                        open_task: Exercise) -> None:
    run_by(db, open_task, sensei)
    db.commit()
    base = f"/exercises/{open_task.id}"
    hint = client.post(f"{base}/hints", data={"hint": "nonsense:0", "team": "99"})
    html = hint.get_data(as_text=True)
    assert hint.status_code == 400
    assert 'id="hint-hint-errors"' in html and 'id="hint-team-errors"' in html and 'aria-invalid="true"' in html
    assert '<label for="hint-team">' in html

    message = client.post(f"{base}/messages", data={"subject": "", "body": "本文", "back": "live"})
    html = message.get_data(as_text=True)
    assert message.status_code == 400 and "ライブビュー" in html
    assert re.search(r'<input[^>]*aria-invalid="true"[^>]*id="message-subject"', html)
    assert 'id="message-subject-errors"' in html
    assert "本文" in html, "what was typed is kept"

    on_show = client.post(f"{base}/injects", data={"inject": "no-such-inject", "action": "fire"})
    assert on_show.status_code == 400 and 'id="inject-inject-errors"' in on_show.get_data(as_text=True)

    speed = client.post(f"{base}/pause", data={"speed": "9999", "back": "live"})
    assert speed.status_code == 400 and '<ul class="errors" role="alert"><li>' in speed.get_data(as_text=True)

    done = client.post(f"{base}/messages", data={"subject": "連絡", "body": "本文", "team": "1", "back": "live"})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"{base}/live")


def test_the_create_form_shows_scenarios_and_puts_errors_beside_fields(client: FlaskClient, db: Session,
                                                                        sensei: User) -> None:
    exercise = make_exercise(db, teams=1)
    slug = exercise.scenario.slug
    db.commit()
    page = client.get("/exercises/new").get_data(as_text=True)
    assert "職員端末から外部への定期的な通信を見つけて止める短い演習です。" in page
    assert "初級" in page and "1 日間" in page and "02:00" in page
    assert f'value="{slug}"' in page and 'type="radio"' in page

    refused = client.post("/exercises/new", data={"scenario": slug, "team_count": "2", "prefecture": "0",
                                                  "starts_on": "2026-11-27", "ends_on": "2026-11-28"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert re.search(r'<ul class="errors" id="ends_on-errors"><li>[^<]*1 日間', html), html[-3000:]
    missing = client.post("/exercises/new", data={"team_count": "2", "prefecture": "0"})
    assert missing.status_code == 400 and 'id="scenario-errors"' in missing.get_data(as_text=True)


# The roster preview ----------------------------------------------------------------------------

ROSTER = "name,organisation,login,team\n山田 太郎,港区役所,minato-yamada,Team 01\n佐藤 花子,港区役所,minato-sato,1\n"


def test_the_roster_preview_imports_nothing_until_confirmed(client: FlaskClient, db: Session, sensei: User) -> None:
    exercise = make_exercise(db, teams=2, instructor=sensei)
    db.commit()
    preview = client.post(f"/exercises/{exercise.id}/roster", content_type="multipart/form-data",
                          data={"roster": (io.BytesIO(ROSTER.encode()), "名簿.csv"), "preview": "1"})
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "プレビュー: 2 名" in html and "minato-yamada" in html and "佐藤 花子" in html
    assert db.scalar(select(func.count()).select_from(User).where(User.role == Role.TRAINEE)) == 0
    content = re.search(r'name="content" type="hidden" value="([^"]+)"', html).group(1)
    assert base64.b64decode(content).decode() == ROSTER

    slips = client.post(f"/exercises/{exercise.id}/roster/confirm", data={"content": content})
    assert slips.status_code == 200 and "2 名の受講者を取り込みました" in slips.get_data(as_text=True)
    assert "data-print" in slips.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(User).where(User.role == Role.TRAINEE)) == 2


def test_a_bad_roster_preview_lists_the_lines(client: FlaskClient, db: Session, sensei: User) -> None:
    exercise = make_exercise(db, teams=2, instructor=sensei)
    db.commit()
    bad = "name,organisation,login,team\n,港区役所,minato-yamada,Team 01\n佐藤 花子,港区役所\n"
    preview = client.post(f"/exercises/{exercise.id}/roster", content_type="multipart/form-data",
                          data={"roster": (io.BytesIO(bad.encode()), "名簿.csv"), "preview": "1"})
    html = preview.get_data(as_text=True)
    assert preview.status_code == 400
    assert "2 行目: name が空欄です" in html and "3 行目" in html
    assert "name=\"content\"" not in html, "nothing to confirm"

