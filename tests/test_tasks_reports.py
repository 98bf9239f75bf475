"""Tasks and reports as trainees and instructors meet them: answers, attempts, hints, grades, the ledger."""
from __future__ import annotations

import copy
import random
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.models import (
    AuditEvent, Exercise, ExerciseState, InjectRun, ReportStatus, RunStatus, ScoreEvent, ScoreSource, TaskAttempt,
    Team, TeamScore, TimelineEvent, User,
)
from app.services import ledger, lifecycle, reports, tasks
from app.services.errors import Conflict, InvalidInput, NotFound, RateLimited, ServiceError
from tests.factories import add_member, make_exercise, make_scenario, make_user

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc)
TASK = "infected-host"
REPORT = "first-report"


def at(seconds: float) -> datetime:
    """Wall time *seconds* after the start; at speed 1 it is also the exercise clock."""
    return T0 + timedelta(seconds=seconds)


def police_call(db, exercise: Exercise, team: Team, *, status: RunStatus = RunStatus.DONE,  # type: ignore[no-untyped-def]
                started: float | None = 1200) -> None:
    db.add(InjectRun(exercise_id=exercise.id, team_id=team.id, inject_id="police-call", status=status, day=1,
                     started_seconds=started))
    db.flush()


def running(db, *, called: bool = True, **task_changes: object) -> Exercise:  # type: ignore[no-untyped-def]
    """A running two-team exercise of the minimal scenario (its task changed by *task_changes*)."""
    scenario = make_scenario(db, slug=f"tasks{random.randrange(10**9)}")
    if task_changes:
        document = copy.deepcopy(scenario.document)
        document["tasks"][0].update(task_changes)
        scenario.document = document
    exercise = make_exercise(db, scenario=scenario)
    exercise.state = ExerciseState.READY
    lifecycle.start(db, exercise, actor=None, speed=1, now=T0)
    if called:
        for team in exercise.teams:
            police_call(db, exercise, team)
    db.flush()
    return exercise


def trainee(db, team: Team) -> User:  # type: ignore[no-untyped-def]
    user = make_user(db)
    add_member(db, team, user)
    return user


def view(db, exercise: Exercise, team: Team, now: datetime) -> tasks.TaskView:  # type: ignore[no-untyped-def]
    return next(v for v in tasks.task_views(db, exercise, team, now=now) if v.task.id == TASK)


def total(db, team: Team) -> int:  # type: ignore[no-untyped-def]
    return db.scalar(select(TeamScore.points).where(TeamScore.team_id == team.id)) or 0


# --- tasks ------------------------------------------------------------------------------------------------------


def test_a_full_width_answer_is_accepted_once_and_scored(db) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db)
    team = exercise.teams[0]
    user = trainee(db, team)
    outcome = tasks.submit_answer(db, exercise, team, user, TASK, "  ｗｓ０１ ", now=at(1300))
    assert outcome == tasks.AttemptOutcome(correct=True, points=50, attempts_left=2)
    seen = view(db, exercise, team, at(1301))
    assert (seen.opened, seen.solved, seen.last_correct, seen.attempts_used, seen.points_earned) == (
        True, True, True, 1, 50)
    assert total(db, team) == 50 and total(db, exercise.teams[1]) == 0
    with pytest.raises(Conflict, match="already solved"):
        tasks.submit_answer(db, exercise, team, user, TASK, "ws01", now=at(1302))
    attempt = db.scalar(select(TaskAttempt).where(TaskAttempt.team_id == team.id))
    assert (attempt.number, attempt.answer, attempt.correct, attempt.day, attempt.exercise_seconds) == (
        1, "ｗｓ０１", True, 1, 1300)
    summaries = list(db.scalars(select(TimelineEvent.summary).where(
        TimelineEvent.team_id == team.id, TimelineEvent.kind == "task")))
    assert summaries == ["infected-host: correct answer (attempt 1)"]
    assert not db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("task%")))


def test_wrong_answers_cost_the_penalty_until_the_attempts_run_out(db) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db)
    team = exercise.teams[0]
    user = trainee(db, team)
    outcomes = [tasks.submit_answer(db, exercise, team, user, TASK, f"ws0{n}", now=at(1300 + n)) for n in (2, 3, 4)]
    assert [(o.correct, o.points, o.attempts_left) for o in outcomes] == [(False, -5, 2), (False, -5, 1),
                                                                          (False, -5, 0)]
    with pytest.raises(Conflict, match="no attempts left"):
        tasks.submit_answer(db, exercise, team, user, TASK, "ws01", now=at(1310))
    seen = view(db, exercise, team, at(1311))
    assert (seen.attempts_used, seen.attempts_left, seen.solved, seen.last_correct, seen.points_earned) == (
        3, 0, False, False, -15)
    assert total(db, team) == -15 == ledger.sums(db, exercise)[team.id]


def test_a_correct_answer_after_a_wrong_one_keeps_the_penalty(db) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db)
    team = exercise.teams[0]
    user = trainee(db, team)
    assert tasks.submit_answer(db, exercise, team, user, TASK, "ws02", now=at(1300)).points == -5
    assert tasks.submit_answer(db, exercise, team, user, TASK, "WS01", now=at(1301)).points == 50
    assert view(db, exercise, team, at(1302)).points_earned == 45


def test_without_a_penalty_a_wrong_answer_writes_nothing_to_the_ledger(db) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db, wrong_penalty=0)
    team = exercise.teams[0]
    outcome = tasks.submit_answer(db, exercise, team, trainee(db, team), TASK, "ws02", now=at(1300))
    assert (outcome.correct, outcome.points) == (False, 0)
    assert ledger.events(db, team) == []


def test_a_hint_costs_once_however_often_it_is_taken(db) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db)
    team = exercise.teams[0]
    user = trainee(db, team)
    first = tasks.take_hint(db, exercise, team, user, TASK, 0, now=at(1300))
    again = tasks.take_hint(db, exercise, team, user, TASK, 0, now=at(1400))
    assert first == again and first.text.en == "Look at the process list."
    seen = view(db, exercise, team, at(1401))
    assert (seen.hints_taken, seen.points_earned) == ((0,), -10)
    assert total(db, team) == -10
    assert db.scalar(select(func.count()).select_from(TimelineEvent).where(TimelineEvent.kind == "hint")) == 1
    with pytest.raises(NotFound, match="no hint 1"):
        tasks.take_hint(db, exercise, team, user, TASK, 1, now=at(1402))


def test_a_free_hint_is_still_recorded(db) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db, hints=[{"text": {"ja": "ヒント", "en": "A hint"}, "cost": 0}])
    team = exercise.teams[0]
    tasks.take_hint(db, exercise, team, trainee(db, team), TASK, 0, now=at(1300))
    assert [(e.key, e.points) for e in ledger.events(db, team)] == [("hint:infected-host:0", 0)]
    assert view(db, exercise, team, at(1301)).hints_taken == (0,)


def test_a_task_opens_after_its_inject_has_run(db) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db, called=False, opens={"after": "police-call", "delay": "00:05"})
    team, other = exercise.teams
    user = trainee(db, team)
    assert not view(db, exercise, team, at(2000)).opened
    with pytest.raises(Conflict, match="not open"):
        tasks.submit_answer(db, exercise, team, user, TASK, "ws01", now=at(2000))
    with pytest.raises(Conflict, match="not open"):
        tasks.take_hint(db, exercise, team, user, TASK, 0, now=at(2000))
    police_call(db, exercise, team, status=RunStatus.RUNNING)
    assert not view(db, exercise, team, at(2000)).opened, "still running"
    db.get(InjectRun, db.scalar(select(InjectRun.id).where(InjectRun.team_id == team.id))).status = RunStatus.DONE
    assert not view(db, exercise, team, at(1499)).opened, "five minutes after it started"
    assert view(db, exercise, team, at(1500)).opened
    assert not view(db, exercise, other, at(1500)).opened, "the other team has not had the call"
    assert tasks.submit_answer(db, exercise, team, user, TASK, "ws01", now=at(1500)).correct


def test_a_timed_task_opens_at_its_time_and_none_means_from_the_start(db) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db, called=False, opens={"day": 1, "at": "00:30"})
    team = exercise.teams[0]
    assert [view(db, exercise, team, at(s)).opened for s in (1799, 1800)] == [False, True]
    exercise = running(db, called=False, opens=None)
    assert view(db, exercise, exercise.teams[0], at(0)).opened


@pytest.mark.parametrize(("answer", "error", "words"), [
    ("   ", InvalidInput, "empty"), ("x" * 501, InvalidInput, "at most 500"),
])
def test_answers_that_are_not_answers_are_refused(db, answer: str, error: type, words: str) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db)
    team = exercise.teams[0]
    with pytest.raises(error, match=words):
        tasks.submit_answer(db, exercise, team, trainee(db, team), TASK, answer, now=at(1300))
    assert db.scalar(select(func.count()).select_from(TaskAttempt)) == 0


def test_an_unknown_task_or_a_stopped_exercise_refuses_answers(db) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db)
    team = exercise.teams[0]
    user = trainee(db, team)
    with pytest.raises(NotFound, match="no task 'nope'"):
        tasks.submit_answer(db, exercise, team, user, "nope", "ws01", now=at(1300))
    lifecycle.pause(db, exercise, actor=None, now=at(1300))
    with pytest.raises(Conflict, match="is paused"):
        tasks.submit_answer(db, exercise, team, user, TASK, "ws01", now=at(1301))
    with pytest.raises(Conflict, match="is paused"):
        tasks.take_hint(db, exercise, team, user, TASK, 0, now=at(1301))


def test_no_answer_or_hint_is_taken_after_the_days_length(db) -> None:  # type: ignore[no-untyped-def]
    """Between the day's end and the engine marking it "day ended", the clock already says so."""
    exercise = running(db)
    team = exercise.teams[0]
    user = trainee(db, team)
    after_the_day = at(2 * 3600 + 5)  # the minimal scenario's day is 02:00 long, run at speed 1
    with pytest.raises(Conflict, match="the day has ended"):
        tasks.submit_answer(db, exercise, team, user, TASK, "ws01", now=after_the_day)
    with pytest.raises(Conflict, match="the day has ended"):
        tasks.take_hint(db, exercise, team, user, TASK, 0, now=after_the_day)
    assert db.scalar(select(func.count()).select_from(TaskAttempt)) == 0


def test_an_account_may_answer_ten_times_a_minute(db) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db, attempts=None, wrong_penalty=0)
    team = exercise.teams[0]
    user, mate = trainee(db, team), trainee(db, team)
    for n in range(10):
        tasks.submit_answer(db, exercise, team, user, TASK, f"guess {n}", now=at(1300 + n))
    with pytest.raises(RateLimited, match="at most 10 a minute") as refused:
        tasks.submit_answer(db, exercise, team, user, TASK, "ws01", now=at(1310))
    assert refused.value.status == 429
    assert not tasks.submit_answer(db, exercise, team, mate, TASK, "guess", now=at(1310)).correct, "per account"
    assert tasks.submit_answer(db, exercise, team, user, TASK, "ws01", now=at(1362)).correct, "a minute later"


def test_fifty_simultaneous_correct_answers_score_once_per_team(app, db) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db)
    teams = exercise.teams
    users = [trainee(db, teams[n % 2]) for n in range(10)]  # five accounts a team, five threads each
    pairs = [(users[n % 10].id, teams[n % 2].id) for n in range(50)]
    exercise_id = exercise.id
    db.commit()
    database = app.extensions["mamori.db"]
    barrier = threading.Barrier(len(pairs))
    results: list[object] = []

    def answer(user_id: int, team_id: int) -> None:
        barrier.wait()
        for _ in range(50):  # SQLite: "database is locked" beyond its busy timeout means try again
            session = database.session()
            try:
                outcome: object = tasks.submit_answer(
                    session, session.get(Exercise, exercise_id), session.get(Team, team_id),
                    session.get(User, user_id), TASK, "ws01", now=at(1300))
                session.commit()
            except ServiceError as exc:
                session.rollback()
                outcome = exc
            except OperationalError:
                session.rollback()
                time.sleep(random.uniform(0.01, 0.1))
                continue
            finally:
                session.close()
            results.append(outcome)
            return
        results.append("gave up")

    threads = [threading.Thread(target=answer, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 50 and "gave up" not in results
    awarded = [r for r in results if isinstance(r, tasks.AttemptOutcome) and r.points > 0]
    assert len(awarded) == 2, results
    refused = [r for r in results if isinstance(r, ServiceError)]
    assert all(isinstance(r, Conflict) and "already solved" in str(r) for r in refused), refused
    db.expire_all()
    awards = db.scalars(select(ScoreEvent.team_id).where(ScoreEvent.source == ScoreSource.TASK))
    assert sorted(awards) == sorted(t.id for t in teams)
    assert ledger.sums(db, exercise) == {t.id: 50 for t in teams} == {t.id: total(db, t) for t in teams}


# --- reports ----------------------------------------------------------------------------------------------------


def report_view(db, exercise: Exercise, team: Team, now: datetime) -> reports.ReportView:  # type: ignore[no-untyped-def]
    return next(v for v in reports.report_views(db, exercise, team, now=now) if v.report.id == REPORT)


def test_draft_submit_grade_release(db) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db)
    team = exercise.teams[0]
    user, mate = trainee(db, team), trainee(db, team)
    instructor = make_user(db)
    draft = reports.save_draft(db, exercise, team, user, REPORT, "影響範囲：", now=at(1300))
    same = reports.save_draft(db, exercise, team, mate, REPORT, "影響範囲：ws01 のみ", now=at(1400))
    assert same is draft and (draft.number, draft.author_id, draft.status) == (1, mate.id, ReportStatus.DRAFT)
    seen = report_view(db, exercise, team, at(1401))
    assert (seen.draft, seen.versions, seen.submitted, seen.due) == (draft, (draft,), False, False)
    assert report_view(db, exercise, team, at(3000)).due, "30 minutes after the police call"

    version = reports.submit(db, exercise, team, user, REPORT, now=at(1500))
    assert version is draft and version.status is ReportStatus.SUBMITTED and version.text == "影響範囲：ws01 のみ"
    assert (version.day, version.exercise_seconds, version.submitted_at) == (1, 1500, at(1500))
    assert reports.grading_queue(db, exercise) == [version]
    assert reports.get_version(db, exercise, version.id) is version

    assert reports.grade(db, version, {"scope": 15}, "よくできました", instructor, now=at(1600)) == 15
    assert total(db, team) == 15 == ledger.sums(db, exercise)[team.id]
    assert reports.grading_queue(db, exercise) == []
    assert not reports.grade_visible(version), "hidden until released"
    assert reports.release(db, exercise, instructor, team=exercise.teams[1], now=at(1700)) == 0
    assert reports.release(db, exercise, instructor, now=at(1700)) == 1
    assert reports.grade_visible(version) and reports.release(db, exercise, instructor, now=at(1701)) == 0
    seen = report_view(db, exercise, team, at(1701))
    assert seen.submitted and seen.draft is None
    actions = list(db.scalars(select(AuditEvent.action).where(AuditEvent.action.like("report.%"))))
    assert actions == ["report.grade", "report.release", "report.release", "report.release"]


def test_a_regrade_writes_the_difference(db) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db)
    team = exercise.teams[0]
    instructor = make_user(db)
    version = reports.submit(db, exercise, team, trainee(db, team), REPORT, text="ws01", now=at(1300))
    assert reports.grade(db, version, {"scope": 10}, "", instructor, now=at(1400)) == 10
    assert reports.grade(db, version, {"scope": 18}, "見直しました", instructor, now=at(1500)) == 8
    assert reports.grade(db, version, {"scope": 18}, "", instructor, now=at(1501)) == 0
    assert reports.grade(db, version, {"scope": 5}, "", instructor, now=at(1502)) == -13
    events = [e for e in reversed(ledger.events(db, team)) if e.source is ScoreSource.REPORT]
    assert [(e.key, e.points) for e in events] == [
        ("report:first-report:v1:g1", 10), ("report:first-report:v1:g2", 8), ("report:first-report:v1:g3", -13)]
    assert events[-1].detail == {"version": 1, "total": 5, "of": 20}
    assert total(db, team) == 5 == ledger.sums(db, exercise)[team.id] and version.total == 5


def test_a_zero_first_grade_is_still_in_the_ledger(db) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db)
    team = exercise.teams[0]
    version = reports.submit(db, exercise, team, trainee(db, team), REPORT, text="?", now=at(1300))
    assert reports.grade(db, version, {"scope": 0}, "", None, now=at(1400)) == 0
    assert [(e.key, e.points) for e in ledger.events(db, team)] == [("report:first-report:v1:g1", 0)]


def test_a_revision_request_sends_the_report_back_without_points(db) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db)
    team = exercise.teams[0]
    user, instructor = trainee(db, team), make_user(db)
    first = reports.submit(db, exercise, team, user, REPORT, text="ws01", now=at(1300))
    with pytest.raises(InvalidInput, match="revise"):
        reports.request_revision(db, first, "  ", instructor, now=at(1400))
    reports.request_revision(db, first, "影響範囲を具体的に", instructor, now=at(1400))
    assert first.status is ReportStatus.REVISION_REQUESTED and first.comment == "影響範囲を具体的に"
    assert not reports.grade_visible(first) and ledger.events(db, team) == [] and total(db, team) == 0
    with pytest.raises(Conflict, match="only a submitted"):
        reports.request_revision(db, first, "again", instructor, now=at(1401))
    with pytest.raises(Conflict, match="revision_requested"):
        reports.grade(db, first, {"scope": 20}, "", instructor, now=at(1401))
    second = reports.submit(db, exercise, team, user, REPORT, text="ws01 のみ、他は無事", now=at(1500))
    assert second.number == 2 and reports.grading_queue(db, exercise) == [second]
    assert reports.grade(db, second, {"scope": 20}, "", instructor, now=at(1600)) == 20
    assert [v.number for v in report_view(db, exercise, team, at(1601)).versions] == [1, 2]
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "report.request_revision")) == 1


def test_a_team_cannot_submit_again_while_a_version_waits(db) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db)
    team = exercise.teams[0]
    user = trainee(db, team)
    reports.submit(db, exercise, team, user, REPORT, text="v1", now=at(1300))
    next_draft = reports.save_draft(db, exercise, team, user, REPORT, "v2", now=at(1310))
    assert next_draft.number == 2, "drafting the next version is fine"
    with pytest.raises(Conflict, match="waiting to be graded"):
        reports.submit(db, exercise, team, user, REPORT, now=at(1320))
    assert next_draft.status is ReportStatus.DRAFT


@pytest.mark.parametrize(("scores", "named"), [
    ({}, "scope"), ({"scope": 21}, "scope"), ({"scope": -1}, "scope"), ({"scope": 1.5}, "scope"),
    ({"scope": 5, "speed": 3}, "speed"),
])
def test_bad_scores_are_refused_naming_the_criterion(db, scores: dict, named: str) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db)
    team = exercise.teams[0]
    version = reports.submit(db, exercise, team, trainee(db, team), REPORT, text="ws01", now=at(1300))
    with pytest.raises(InvalidInput, match=f"criterion '{named}'"):
        reports.grade(db, version, scores, "", None, now=at(1400))
    assert version.status is ReportStatus.SUBMITTED and ledger.events(db, team) == []


def test_report_text_rules_and_when_reports_can_be_written(db) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db)
    team = exercise.teams[0]
    user = trainee(db, team)
    with pytest.raises(InvalidInput, match="empty"):
        reports.submit(db, exercise, team, user, REPORT, now=at(1300))
    with pytest.raises(InvalidInput, match="empty"):
        reports.submit(db, exercise, team, user, REPORT, text=" \n ", now=at(1300))
    with pytest.raises(InvalidInput, match=r"over the limit \(20000 characters\): it has 20001"):
        reports.save_draft(db, exercise, team, user, REPORT, "x" * 20_001, now=at(1300))
    with pytest.raises(NotFound, match="no report 'nope'"):
        reports.save_draft(db, exercise, team, user, "nope", "x", now=at(1300))
    lifecycle.pause(db, exercise, actor=None, now=at(1300))
    draft = reports.save_draft(db, exercise, team, user, REPORT, "x" * 20_000, now=at(1310))
    with pytest.raises(Conflict, match="only a submitted or graded"):
        reports.grade(db, draft, {"scope": 1}, "", None, now=at(1311))
    assert reports.submit(db, exercise, team, user, REPORT, now=at(1320)).status is ReportStatus.SUBMITTED
    lifecycle.finish(db, exercise, actor=None, now=at(1330))
    with pytest.raises(Conflict, match="finished"):
        reports.save_draft(db, exercise, team, user, REPORT, "late", now=at(1340))


def test_a_version_of_another_exercise_is_not_found(db) -> None:  # type: ignore[no-untyped-def]
    exercise, other = running(db), running(db)
    version = reports.submit(db, exercise, exercise.teams[0], trainee(db, exercise.teams[0]), REPORT, text="x",
                             now=at(1300))
    with pytest.raises(NotFound):
        reports.get_version(db, other, version.id)
    with pytest.raises(NotFound):
        reports.get_version(db, exercise, version.id + 1000)
