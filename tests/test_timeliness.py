"""Reports' timeliness: whom a report goes to and when it is due (exercise and Tokyo time), late and overdue
flags on the team's page and in grading, and the rubric criterion the platform scores (``auto: on_time``).

The scenario is tests/scenarios/organisation.yaml (its first report goes to the boss, due 30 minutes after
the police call, with an on-time criterion) plus a report due at a fixed time (day 1, 00:40).
"""
from __future__ import annotations

import copy
import hashlib
import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.models import Exercise, ExerciseState, InjectRun, ReportStatus, Role, RunStatus, Scenario, Team, User, utcnow
from app.scenario import load_scenario_file
from app.services import lifecycle, ledger, reports
from tests.factories import add_member, make_exercise, make_user, run_by

ORGANISATION = Path(__file__).parent / "scenarios" / "organisation.yaml"
FIRST, FINAL = "first-report", "final-report"  # due 30 min after the police call; due at day 1, 00:40
TOKYO = ZoneInfo("Asia/Tokyo")
_counter = itertools.count(1)


def organisation_scenario(db: Session) -> Scenario:
    """The organisation scenario with one more report, due at a fixed moment (day 1, 00:40)."""
    loaded = load_scenario_file(ORGANISATION)
    document = copy.deepcopy(loaded.document)
    slug = f"timeliness{next(_counter)}"
    document["id"] = slug
    document["reports"].append({
        "id": FINAL, "kind": "final", "title": {"ja": "最終報", "en": "Final report"},
        "due": {"day": 1, "at": "00:40"}, "template": {"ja": "経緯：", "en": "What happened:"},
        "rubric": [{"id": "complete", "criterion": {"ja": "経緯が書かれている", "en": "Tells what happened"},
                    "points": 10},
                   {"id": "on-time", "criterion": {"ja": "期限内に提出した", "en": "Submitted on time"},
                    "points": 5, "auto": "on_time"}]})
    scenario = Scenario(slug=slug, version="1.0", content_hash=hashlib.sha256(slug.encode()).hexdigest(),
                        title_ja=loaded.title_ja, title_en=loaded.title_en, level=loaded.level, days=1,
                        source_path=f"{slug}.yaml", source_text=loaded.text, document=document, bundle={})
    db.add(scenario)
    db.flush()
    return scenario


@dataclass
class World:
    exercise: Exercise
    teams: list[Team]
    members: list[User]
    instructor: User
    start: datetime

    def at(self, seconds: float) -> datetime:
        """Wall time *seconds* after the start; at speed 1 it is also the exercise clock."""
        return self.start + timedelta(seconds=seconds)


def build(db: Session, *, start: datetime, teams: int = 3, called: dict[int, float] | None = None) -> World:
    """A running exercise (speed 1) started at *start*; the police call ran for team i at *called[i]* seconds."""
    instructor = make_user(db, role=Role.INSTRUCTOR, login=f"sensei{next(_counter)}", display_name="講師")
    exercise = make_exercise(db, teams=teams, scenario=organisation_scenario(db), instructor=instructor)
    exercise.state = ExerciseState.READY
    lifecycle.start(db, exercise, actor=None, speed=1, now=start)
    members = []
    for index, team in enumerate(exercise.teams):
        member = make_user(db, login=f"member{next(_counter)}")
        add_member(db, team, member)
        members.append(member)
        seconds = (called or {}).get(index)
        if seconds is not None:
            db.add(InjectRun(exercise_id=exercise.id, team_id=team.id, inject_id="police-call", status=RunStatus.DONE,
                             day=1, started_seconds=seconds, started_at=start + timedelta(seconds=seconds)))
    db.flush()
    return World(exercise, list(exercise.teams), members, instructor, start)


def submit(db: Session, world: World, index: int, report_id: str, seconds: float, text: str = "影響範囲：ws01"):  # type: ignore[no-untyped-def]
    return reports.submit(db, world.exercise, world.teams[index], world.members[index], report_id, text=text,
                          now=world.at(seconds))


# --- lateness, computed --------------------------------------------------------------------------------------------


def test_an_after_due_and_an_at_due_report_are_late_only_after_their_due_moment(db) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2026, 11, 27, 0, 0, tzinfo=ZoneInfo("UTC"))
    world = build(db, start=start, called={0: 1200, 1: 1200})  # team 3: the police have not called yet
    # The first report falls due at 20:00 + 30:00 = 50:00 (3000 s); the final report at 40:00 (2400 s).
    submit(db, world, 0, FIRST, 2999)  # a second before: on time
    submit(db, world, 0, FINAL, 2400)  # at the very moment: on time
    submit(db, world, 1, FIRST, 3001)  # a second after: late, 1 minute (rounded up)
    submit(db, world, 1, FINAL, 2400 + 61)  # 61 seconds after: 2 minutes late
    found = reports.timeliness(db, world.exercise)
    one, two, three = (t.id for t in world.teams)
    assert (found[(one, FIRST)].due, found[(one, FINAL)].due) == (3000.0, 2400.0)
    assert not found[(one, FIRST)].late and not found[(one, FINAL)].late
    assert found[(two, FIRST)].late and found[(two, FIRST)].late_seconds == 1.0
    assert reports.late_minutes(found[(two, FIRST)]) == 1 and reports.late_minutes(found[(two, FINAL)]) == 2
    assert found[(three, FIRST)].due is None, "not fixed while its inject has not run"
    assert not found[(three, FIRST)].overdue(99999.0)
    assert not found[(three, FINAL)].overdue(2400.0) and found[(three, FINAL)].overdue(2401.0)


def test_a_resubmission_does_not_change_the_first_submission_s_timeliness(db) -> None:  # type: ignore[no-untyped-def]
    world = build(db, start=datetime(2026, 11, 27, 0, 0, tzinfo=ZoneInfo("UTC")), teams=1, called={0: 1200})
    first = submit(db, world, 0, FIRST, 2900)
    reports.request_revision(db, first, "もう少し具体的に", world.instructor, now=world.at(2950))
    submit(db, world, 0, FIRST, 3600)  # the revision comes after the due moment: the report was still on time
    timing = reports.timeliness(db, world.exercise)[(world.teams[0].id, FIRST)]
    assert timing.submitted == 2900.0 and not timing.late


def test_the_due_moment_on_the_wall_is_when_the_running_clock_reaches_it(db) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2026, 11, 27, 0, 0, tzinfo=ZoneInfo("UTC"))
    world = build(db, start=start, teams=2, called={0: 1200})
    views = {v.report.id: v for v in reports.report_views(db, world.exercise, world.teams[0], now=world.at(2000))}
    first, final = views[FIRST], views[FINAL]
    assert (first.due_at.day, first.due_at.seconds, first.due_at.wall) == (1, 3000.0, world.at(3000))
    assert (final.due_at.day, final.due_at.seconds, final.due_at.wall) == (1, 2400.0, world.at(2400))
    assert first.addressee is not None and first.addressee.id == "boss" and final.addressee is None
    # At double speed the same moment is reached in half the wall time.
    world.exercise.speed = 2.0
    world.exercise.clock_elapsed, world.exercise.clock_started_at = 2000.0, world.at(2000)
    doubled = reports.report_views(db, world.exercise, world.teams[0], now=world.at(2000))[0]
    assert doubled.due_at.wall == world.at(2500)
    # Paused: the exercise time stands, the wall time is not known.
    lifecycle.pause(db, world.exercise, actor=None, now=world.at(2100))
    paused = reports.report_views(db, world.exercise, world.teams[0], now=world.at(2200))[0]
    assert (paused.due_at.seconds, paused.due_at.wall) == (3000.0, None)
    unfixed = reports.report_views(db, world.exercise, world.teams[1], now=world.at(2200))[0]
    assert not unfixed.due_at.fixed


# --- the flags on the pages -----------------------------------------------------------------------------------------


def page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def section(html: str, anchor: str) -> str:
    start = html.index(f'id="{anchor}"')
    end = html.find("</section>", start)
    return html[start:end]


@pytest.fixture
def live(db: Session) -> World:
    """Started 55 min 30 s ago (the pages read the real clock: half a minute's margin either way); the police
    called team 1 and 2 at 20:00, team 3 at 40:10."""
    start = utcnow() - timedelta(seconds=55 * 60 + 30)
    world = build(db, start=start, called={0: 1200, 1: 1200, 2: 2410})
    submit(db, world, 0, FIRST, 2900)  # on time
    submit(db, world, 1, FIRST, 3000 + 150)  # 2 min 30 s late: "3 minutes late"
    db.commit()
    return world


def test_the_team_sees_whom_a_report_goes_to_when_it_is_due_and_whether_it_was_late(client, auth, db, live) -> None:  # type: ignore[no-untyped-def]
    auth.login(live.members[1].login)
    html = page(client, f"/teams/{live.teams[1].id}/reports")
    first = section(html, f"report-{FIRST}")
    assert "宛先" in first and "情報政策課長 山田 課長" in first
    assert "1 日目 00:50" in first, "the due moment on the exercise clock"
    assert "期限超過（3分遅れ）" in first
    final = section(html, f"report-{FINAL}")
    assert "宛先" not in final
    assert "期限超過（未提出、期限から15分経過）" in final, "due at 40:00, not submitted at 55:00"
    auth.logout()
    auth.login(live.members[0].login)
    mine = page(client, f"/teams/{live.teams[0].id}/reports")
    assert "期限超過" not in section(mine, f"report-{FIRST}") and "提出済み" in section(mine, f"report-{FIRST}")


def test_a_due_moment_ahead_is_shown_in_tokyo_time_and_an_unfixed_one_says_so(client, auth, db, live) -> None:  # type: ignore[no-untyped-def]
    auth.login(live.members[2].login)
    first = section(page(client, f"/teams/{live.teams[2].id}/reports"), f"report-{FIRST}")
    due = live.at(2410 + 1800).astimezone(TOKYO)  # the police called at 40:10: due at 1:10:10, 15 minutes ahead
    assert "1 日目 01:10" in first and f"{due.hour}:{due.minute:02d}" in first and "現在の速度で" in first
    assert "期限超過" not in first
    writing = page(client, f"/teams/{live.teams[2].id}/reports/{FIRST}")  # the page the report is written on
    assert "宛先" in writing and "1 日目 01:10" in writing and "現在の速度で" in writing
    unfixed = build(db, start=utcnow() - timedelta(minutes=5), teams=1)
    db.commit()
    auth.logout()
    auth.login(unfixed.members[0].login)
    first = section(page(client, f"/teams/{unfixed.teams[0].id}/reports"), f"report-{FIRST}")
    assert "未確定" in first


def test_grading_shows_the_late_flag_and_the_platform_scores_timeliness(client, auth, db, live) -> None:  # type: ignore[no-untyped-def]
    auth.login(live.instructor.login)
    queue = page(client, f"/exercises/{live.exercise.id}/grading")
    rows = {team.name: row for row in queue.split("<tr>") for team in live.teams if team.name in row}
    assert "期限超過（3分遅れ）" in rows[live.teams[1].name] and "期限超過" not in rows[live.teams[0].name]
    late = next(v for v in reports.grading_queue(db, live.exercise) if v.team_id == live.teams[1].id)
    form = page(client, f"/exercises/{live.exercise.id}/grading/{late.id}")
    assert "期限超過（3分遅れ）" in form
    assert "プラットフォームが採点" in form and "3分遅れ" in form and 'readonly' in form
    assert 'name="criterion_1"' not in form, "the instructor is not asked for the on-time criterion"
    # A forged value for the on-time criterion changes nothing: the report was late, 0 points.
    response = client.post(f"/exercises/{live.exercise.id}/grading/{late.id}", data={
        "criterion_0": "18", "criterion_1": "10", "on-time": "10", "comment": "", "grade": "1"})
    assert response.status_code == 302, response.get_data(as_text=True)
    db.refresh(late)
    assert late.status is ReportStatus.GRADED and late.scores == {"scope": 18, "on-time": 0} and late.total == 18


def test_the_writing_page_flags_a_late_and_an_overdue_report(client, auth, db, live) -> None:  # type: ignore[no-untyped-def]
    auth.login(live.members[1].login)
    late = page(client, f"/teams/{live.teams[1].id}/reports/{FIRST}")
    assert "期限超過（3分遅れ）" in late and "1 日目 00:50" in late
    overdue = page(client, f"/teams/{live.teams[1].id}/reports/{FINAL}")
    assert "期限超過（未提出、期限から15分経過）" in overdue and "1 日目 00:40" in overdue
    auth.logout()
    auth.login(live.members[0].login)
    assert "期限超過" not in page(client, f"/teams/{live.teams[0].id}/reports/{FIRST}")


def test_the_review_s_team_page_lists_each_report_with_its_timeliness(client, auth, db, live) -> None:  # type: ignore[no-untyped-def]
    auth.login(live.instructor.login)
    path = f"/review/exercises/{live.exercise.id}/teams"
    on_time, late, unfixed = (page(client, f"{path}/{n}") for n in (1, 2, 3))
    first = f'id="report-{FIRST}"'
    row = {name: html[html.index(first):html.index("</tr>", html.index(first))]
           for name, html in (("on_time", on_time), ("late", late), ("unfixed", unfixed))}
    assert "期限内" in row["on_time"] and "期限超過" not in row["on_time"]
    assert "期限超過（3分遅れ）" in row["late"] and "第 1 版" in row["late"] and "1 日目 00:50" in row["late"]
    assert "未提出" in row["unfixed"] and "期限超過" not in row["unfixed"], "its due moment is 15 minutes ahead"
    final = late[late.index(f'id="report-{FINAL}"'):]
    assert "期限超過（未提出、期限から15分経過）" in final[:final.index("</tr>")]


def test_on_time_gets_full_points_late_gets_none_whatever_the_grader_gives(db) -> None:  # type: ignore[no-untyped-def]
    world = build(db, start=datetime(2026, 11, 27, 0, 0, tzinfo=ZoneInfo("UTC")), teams=2, called={0: 1200, 1: 1200})
    on_time, late = submit(db, world, 0, FIRST, 2999), submit(db, world, 1, FIRST, 3060)
    # What the rehearsal does: every criterion's full points.
    assert reports.grade(db, on_time, {"scope": 20, "on-time": 10}, "", None, now=world.at(3100)) == 30
    assert reports.grade(db, late, {"scope": 20, "on-time": 10}, "", None, now=world.at(3100)) == 20
    assert late.scores == {"scope": 20, "on-time": 0}
    # Left out, it is filled; given 0 for an on-time report, it is still full.
    again = reports.grade(db, on_time, {"scope": 15, "on-time": 0}, "", None, now=world.at(3200))
    assert (on_time.total, again) == (25, -5)
    assert reports.grade(db, late, {"scope": 5}, "", None, now=world.at(3200)) == -15 and late.total == 5
    assert ledger.sums(db, world.exercise) == {world.teams[0].id: 25, world.teams[1].id: 5}
