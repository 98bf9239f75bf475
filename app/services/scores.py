"""Scores beyond the ledger's own bookkeeping: instructor adjustments, the full recompute, response metrics.

``recompute`` rebuilds every team's score from what happened — check results
round by round (through the same ``scoring.modes`` as the live rounds), task
attempts, graded report versions — plus the events that are their own record
(hints taken, adjustments), and compares it with the ledger and the running
totals: the three must agree.
"""
from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    CheckResultRow, Exercise, InjectRun, ReportStatus, ReportVersion, RequestRun, RequestStatus, ScoreEvent,
    ScoreSource, TaskAttempt, Team, TeamScore, User,
)
from app.runtime.triggers import FINISHED
from app.scenario.model import After
from app.services import audit, ledger, scenarios
from app.services.errors import N_, InvalidInput
from scoring.modes import check_award, next_streak

MAX_ADJUSTMENT = 100_000


def adjust(session: Session, exercise: Exercise, team: Team, points: int, reason: str, *, actor: User | None,
           now: datetime | None = None, ip: str = "") -> ScoreEvent:
    """An instructor's award (points > 0) or penalty (points < 0), with the reason the team will read."""
    reason = reason.strip()
    if team.exercise_id != exercise.id:
        raise InvalidInput(N_("team %(team)s is not in this exercise"), team=team.number)
    if points == 0 or abs(points) > MAX_ADJUSTMENT:
        raise InvalidInput(N_("an adjustment is a non-zero number of points up to %(max)d either way"),
                           max=MAX_ADJUSTMENT)
    if not reason or len(reason) > 500:
        raise InvalidInput(N_("an adjustment needs a reason (at most 500 characters)"))
    event = ledger.append(session, team, source=ScoreSource.ADJUSTMENT, source_id="instructor",
                          key=f"adjustment:{uuid.uuid4().hex}", points=points, when=ledger.moment(exercise, now),
                          reason=reason, actor=actor)
    assert event is not None  # a fresh key is never taken
    audit.record(session, "score.adjust", actor=actor, target=f"exercise:{exercise.id}:team:{team.number}",
                 exercise_id=exercise.id, ip=ip, points=points, reason=reason)
    return event


# The full recompute --------------------------------------------------------------------------

@dataclass(frozen=True)
class TeamCheck:
    team: Team
    recomputed: int  # from check results, attempts, grades, hints and adjustments
    ledger: int  # the sum of the team's events
    total: int  # the running total the scoreboard shows
    problems: tuple[str, ...] = ()

    @property
    def agrees(self) -> bool:
        return self.recomputed == self.ledger == self.total and not self.problems


def recompute(session: Session, exercise: Exercise) -> list[TeamCheck]:
    model = scenarios.parsed(exercise.scenario)
    checks = {c.id: c for c in model.checks}
    tasks = {t.id: t for t in model.tasks}
    sums = ledger.sums(session, exercise)
    totals = {row.team_id: row.points for row in session.scalars(
        select(TeamScore).where(TeamScore.exercise_id == exercise.id))}
    report: list[TeamCheck] = []
    for team in exercise.teams:
        expected: dict[str, int] = {}
        problems: list[str] = []
        _from_checks(session, team, checks, expected, problems)
        _from_attempts(session, team, tasks, expected)
        _from_reports(session, team, expected)
        _from_requests(session, team, model, expected)
        events = {e.key: e for e in session.scalars(select(ScoreEvent).where(ScoreEvent.team_id == team.id))}
        for key, event in events.items():
            if event.source in (ScoreSource.HINT, ScoreSource.ADJUSTMENT):
                expected[key] = event.points  # their own record
        recomputed = sum(expected.values())
        itemised: dict[str, int] = defaultdict(int)  # a report's re-grades add up to its latest grade
        for key, event in events.items():
            itemised[f"report:{event.source_id}" if event.source is ScoreSource.REPORT else key] += event.points
        for key in sorted(set(itemised) | set(expected)):
            if itemised.get(key) != expected.get(key):
                problems.append(f"{key}: ledger {itemised.get(key)}, recomputed {expected.get(key)}")
        report.append(TeamCheck(team, recomputed, sums.get(team.id, 0), totals.get(team.id, 0), tuple(problems)))
    return report


def _from_checks(session: Session, team: Team, checks: dict[str, Any], expected: dict[str, int],
                 problems: list[str]) -> None:
    rows = session.scalars(select(CheckResultRow).where(CheckResultRow.team_id == team.id)
                           .order_by(CheckResultRow.check_id, CheckResultRow.round_number))
    streak: dict[str, int] = defaultdict(int)
    awarded: set[str] = set()
    for row in rows:
        check = checks.get(row.check_id)
        if check is None:
            problems.append(f"a result for {row.check_id}, which the scenario does not have")
            continue
        streak[row.check_id] = next_streak(streak[row.check_id], row.status)
        if streak[row.check_id] != row.down_streak:
            problems.append(f"{row.check_id} round {row.round_number}: streak {row.down_streak}, "
                            f"recomputed {streak[row.check_id]}")
        award = check_award(check.id, check.scoring, row.status, round_number=row.round_number,
                            minutes_active=(row.timeline_seconds - row.active_since) / 60.0,
                            down_streak=streak[row.check_id], awarded=check.id in awarded)
        if award is not None:
            expected[award.key] = award.points
            if check.scoring.mode == "objective":
                awarded.add(check.id)


def _from_attempts(session: Session, team: Team, tasks: dict[str, Any], expected: dict[str, int]) -> None:
    solved: set[str] = set()
    for attempt in session.scalars(select(TaskAttempt).where(TaskAttempt.team_id == team.id)
                                   .order_by(TaskAttempt.task_id, TaskAttempt.number)):
        task = tasks.get(attempt.task_id)
        if task is None or attempt.task_id in solved:
            continue
        if attempt.correct:
            expected[f"task:{task.id}"] = task.points
            solved.add(task.id)
        elif task.wrong_penalty:
            expected[f"task:{task.id}:wrong:{attempt.number}"] = -task.wrong_penalty


def _from_requests(session: Session, team: Team, model: Any, expected: dict[str, int]) -> None:
    """A request with points is worth them once, when the organisation carried it out (``runtime.organisation``)."""
    points = {(c.id, r.id): r.points for c in model.story.characters for r in c.requests if r.points}
    for character_id, request_id in session.execute(select(RequestRun.character_id, RequestRun.request_id).where(
            RequestRun.team_id == team.id,
            RequestRun.status.in_((RequestStatus.FULFILLED, RequestStatus.FAILED))).distinct()):
        if (character_id, request_id) in points:
            expected[f"request:{character_id}/{request_id}"] = points[(character_id, request_id)]


def _from_reports(session: Session, team: Team, expected: dict[str, int]) -> None:
    """A report is worth its latest graded version's total."""
    latest: dict[str, ReportVersion] = {}
    for version in session.scalars(select(ReportVersion).where(
            ReportVersion.team_id == team.id, ReportVersion.status == ReportStatus.GRADED,
            ReportVersion.total.is_not(None)).order_by(ReportVersion.number)):
        latest[version.report_id] = version
    for report_id, version in latest.items():
        expected[f"report:{report_id}"] = version.total or 0


# Response metrics ---------------------------------------------------------------------------

METRICS = ("detect", "contain", "recover", "report")


@dataclass(frozen=True)
class AttackMetrics:
    """Seconds of exercise time from an attack to the team's first detection, containment, recovery, report."""

    attack: str
    fired: float | None  # on the timeline; None when the attack did not happen for this team
    seconds: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class TeamMetrics:
    team: Team
    attacks: tuple[AttackMetrics, ...]


@dataclass(frozen=True)
class CohortMetrics:
    teams: tuple[TeamMetrics, ...]
    medians: dict[tuple[str, str], float | None]  # (attack, metric) -> the cohort's median


def attacks(model: Any) -> list[str]:
    """The injects the scenario measures a response to: those its contain/recover checks and detection tasks follow."""
    found: list[str] = []
    for check in model.checks:
        if check.phase in ("contain", "recover") and check.active_from and check.active_from not in found:
            found.append(check.active_from)
    for task in model.tasks:
        if task.detects and isinstance(task.opens, After) and task.opens.inject not in found:
            found.append(task.opens.inject)
    return found


def metrics(session: Session, exercise: Exercise) -> CohortMetrics:
    """Every team's response times and the cohort medians, read with four queries for the whole exercise."""
    model = scenarios.parsed(exercise.scenario)
    measured = attacks(model)
    runs: dict[int, dict[str, InjectRun]] = defaultdict(dict)
    for run in session.scalars(select(InjectRun).where(InjectRun.exercise_id == exercise.id)):
        runs[run.team_id][run.inject_id] = run
    ups: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for team_id, check_id, seconds in session.execute(
            select(CheckResultRow.team_id, CheckResultRow.check_id, CheckResultRow.timeline_seconds)
            .where(CheckResultRow.exercise_id == exercise.id, CheckResultRow.status == "up")):
        ups[team_id].append((check_id, seconds))
    correct: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for team_id, task_id, seconds in session.execute(
            select(TaskAttempt.team_id, TaskAttempt.task_id, TaskAttempt.timeline_seconds)
            .where(TaskAttempt.exercise_id == exercise.id, TaskAttempt.correct.is_(True))):
        correct[team_id].append((task_id, seconds))
    submitted: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for team_id, seconds in session.execute(
            select(ReportVersion.team_id, ReportVersion.timeline_seconds)
            .where(ReportVersion.exercise_id == exercise.id, ReportVersion.submitted_at.is_not(None))):
        submitted[team_id].append(("", seconds))
    teams = tuple(_team_metrics(exercise, model, team, measured, runs[team.id], ups[team.id], correct[team.id],
                                submitted[team.id]) for team in exercise.teams)
    medians: dict[tuple[str, str], float | None] = {}
    for attack in measured:
        for metric in METRICS:
            values = [a.seconds[metric] for t in teams for a in t.attacks
                      if a.attack == attack and a.seconds.get(metric) is not None]
            medians[(attack, metric)] = statistics.median(values) if values else None  # type: ignore[type-var]
    return CohortMetrics(teams, medians)


def _team_metrics(exercise: Exercise, model: Any, team: Team, measured: list[str], runs: dict[str, InjectRun],
                  ups: list[tuple[str, float]], correct: list[tuple[str, float]],
                  submitted: list[tuple[str, float]]) -> TeamMetrics:
    detecting = [t for t in model.tasks if t.detects]
    result = []
    for attack in measured:
        run = runs.get(attack)
        if run is None or run.status not in FINISHED or run.started_seconds is None:
            result.append(AttackMetrics(attack, None, {m: None for m in METRICS}))
            continue
        fired = ledger.at(exercise, run.day, run.started_seconds).timeline
        tied = [t.id for t in detecting if isinstance(t.opens, After) and t.opens.inject == attack]
        tasks = set(tied or [t.id for t in detecting])

        def phase(name: str) -> set[str]:
            return {c.id for c in model.checks if c.phase == name and c.active_from == attack}

        seconds = {
            "detect": _first_after(((t, s) for t, s in correct if t in tasks), fired),
            "contain": _first_after(((c, s) for c, s in ups if c in phase("contain")), fired),
            "recover": _first_after(((c, s) for c, s in ups if c in phase("recover")), fired),
            "report": _first_after(iter(submitted), fired),
        }
        result.append(AttackMetrics(attack, fired, seconds))
    return TeamMetrics(team, tuple(result))


def _first_after(moments: Any, fired: float) -> float | None:
    after = [seconds - fired for _, seconds in moments if seconds >= fired]
    return min(after) if after else None
