"""The instructor's live view of an exercise, and the readiness board of its ranges, as read models.

Both are polled every few seconds by every instructor's browser during a
session (30 teams, 100 people), so each is built with a fixed number of
aggregate queries whatever the number of teams: one per kind of fact
(inject runs, latest check results, task attempts, reports waiting, totals,
ranges, hosts), never one per team.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import distinct, func, literal, select, true, union_all
from sqlalchemy.orm import Session

from app.models import (
    CheckResultRow, Exercise, ExerciseState, InjectRun, RangeHost, RangeState, ReportStatus, ReportVersion,
    RunStatus, TaskAttempt, Team, TeamRange, TeamScore, utcnow,
)
from app.runtime.clock import ClockReading
from app.scenario.model import Text
from app.services import lifecycle, scenarios
from app.services.provisioning import PROVISIONABLE

# What an inject run means on the board: the engine's statuses folded into what an instructor acts on.
INJECT_KINDS = {
    RunStatus.REQUESTED: "requested",
    RunStatus.HELD: "held",
    RunStatus.RUNNING: "running",
    RunStatus.DONE: "fired",
    RunStatus.FAILED: "failed",
    RunStatus.INTERRUPTED: "failed",
    RunStatus.SKIPPED: "skipped",
    RunStatus.MISSED: "missed",
}
PENDING = "pending"  # no run yet: the inject is still to come
NOT_CHECKED = "none"


@dataclass(frozen=True)
class Column:
    """A scenario item heading a column of the board (an inject or a check)."""

    id: str
    title: Text


@dataclass(frozen=True)
class InjectCell:
    kind: str  # pending, requested, held, running, fired, failed, skipped, missed
    day: int | None = None  # when it started, on the exercise clock
    seconds: float | None = None
    result: str = ""


@dataclass(frozen=True)
class CheckCell:
    status: str  # up, down, error, or none before its first round
    reason: str = ""
    round_number: int | None = None


@dataclass(frozen=True)
class TeamLive:
    id: int
    number: int
    name: str
    points: int
    range_state: str
    injects: tuple[InjectCell, ...]  # in the scenario's order of injects
    checks: tuple[CheckCell, ...]  # in the scenario's order of checks
    tasks_solved: int
    attempts: int
    reports_waiting: int


@dataclass(frozen=True)
class LiveBoard:
    exercise_id: int
    state: ExerciseState
    clock: ClockReading
    injects: tuple[Column, ...]
    checks: tuple[Column, ...]
    task_count: int
    teams: tuple[TeamLive, ...]

    @property
    def reports_waiting(self) -> int:
        return sum(team.reports_waiting for team in self.teams)


@dataclass(frozen=True)
class HostState:
    name: str
    state: str


@dataclass(frozen=True)
class TeamReadiness:
    id: int
    number: int
    name: str
    state: str  # a RangeState value; pending before the first provisioning
    step: str
    reason: str
    gateway_port: int | None
    hosts: tuple[HostState, ...]


@dataclass(frozen=True)
class Readiness:
    exercise_id: int
    state: ExerciseState
    teams: tuple[TeamReadiness, ...]
    resettable_hosts: tuple[str, ...]  # the scenario's hosts, which ``mamori host reset`` recreates
    can_provision: bool  # the exercise's state still allows building ranges

    def count(self, state: str) -> int:
        return sum(1 for team in self.teams if team.state == state)


def teams_of(session: Session, exercise: Exercise) -> list[Team]:
    return list(session.scalars(select(Team).where(Team.exercise_id == exercise.id).order_by(Team.number)))


def board(session: Session, exercise: Exercise, *, now: datetime | None = None) -> LiveBoard:
    """Every team's injects, checks, answers, reports waiting and score, with the clock."""
    model = scenarios.parsed(exercise.scenario)
    teams = teams_of(session, exercise)
    runs = _runs(session, exercise)
    checks = _latest_checks(session, exercise, [check.id for check in model.checks])
    answered = {team_id: (int(solved or 0), int(tried or 0)) for team_id, solved, tried in session.execute(
        select(TaskAttempt.team_id, func.count(distinct(TaskAttempt.task_id)).filter(TaskAttempt.correct),
               func.count())
        .where(TaskAttempt.exercise_id == exercise.id).group_by(TaskAttempt.team_id))}
    waiting = dict(session.execute(
        select(ReportVersion.team_id, func.count())
        .where(ReportVersion.exercise_id == exercise.id, ReportVersion.status == ReportStatus.SUBMITTED)
        .group_by(ReportVersion.team_id)).all())
    points = dict(session.execute(
        select(TeamScore.team_id, TeamScore.points).where(TeamScore.exercise_id == exercise.id)).all())
    range_states = dict(session.execute(
        select(TeamRange.team_id, TeamRange.state).join(Team, Team.id == TeamRange.team_id)
        .where(Team.exercise_id == exercise.id)).all())
    rows = []
    for team in teams:
        solved, tried = answered.get(team.id, (0, 0))
        state = range_states.get(team.id)
        rows.append(TeamLive(
            id=team.id, number=team.number, name=team.name, points=int(points.get(team.id) or 0),
            range_state=state.value if state is not None else RangeState.PENDING.value,
            injects=tuple(runs.get((team.id, inject.id), InjectCell(PENDING)) for inject in model.injects),
            checks=tuple(checks.get((team.id, check.id), CheckCell(NOT_CHECKED)) for check in model.checks),
            tasks_solved=solved, attempts=tried, reports_waiting=int(waiting.get(team.id) or 0)))
    return LiveBoard(
        exercise_id=exercise.id, state=exercise.state, clock=lifecycle.reading(exercise, now or utcnow()),
        injects=tuple(Column(i.id, i.title) for i in model.injects),
        checks=tuple(Column(c.id, c.title) for c in model.checks),
        task_count=len(model.tasks), teams=tuple(rows))


def _runs(session: Session, exercise: Exercise) -> dict[tuple[int, str], InjectCell]:
    found = session.execute(
        select(InjectRun.team_id, InjectRun.inject_id, InjectRun.status, InjectRun.day, InjectRun.started_seconds,
               InjectRun.result)
        .where(InjectRun.exercise_id == exercise.id))
    return {(team_id, inject_id): InjectCell(INJECT_KINDS.get(RunStatus(status), str(status)),
                                             day if started is not None else None, started, (result or "")[:300])
            for team_id, inject_id, status, day, started, result in found}


def _latest_checks(session: Session, exercise: Exercise, check_ids: list[str]) -> dict[tuple[int, str], CheckCell]:
    """Each team's latest result of each check, in one query.

    For every team × check the newest row is found by a seek on the (team,
    check, round) index, so the cost follows teams × checks, not the rounds
    already played (a day of rounds is ~150,000 rows for 30 teams).
    """
    if not check_ids:
        return {}
    wanted = union_all(*(select(literal(check_id).label("check_id")) for check_id in check_ids)).subquery("wanted")
    newest = (select(CheckResultRow.id)
              .where(CheckResultRow.team_id == Team.id, CheckResultRow.check_id == wanted.c.check_id)
              .order_by(CheckResultRow.round_number.desc()).limit(1)
              .correlate(Team, wanted).scalar_subquery())
    latest = select(newest).select_from(Team).join(wanted, true()).where(Team.exercise_id == exercise.id)
    found = session.execute(
        select(CheckResultRow.team_id, CheckResultRow.check_id, CheckResultRow.status, CheckResultRow.reason,
               CheckResultRow.round_number)
        .where(CheckResultRow.id.in_(latest)))
    return {(team_id, check_id): CheckCell(status, reason or "", number)
            for team_id, check_id, status, reason, number in found}


def readiness(session: Session, exercise: Exercise) -> Readiness:
    """Every team's range state and each of its hosts, in two queries besides the teams."""
    model = scenarios.parsed(exercise.scenario)
    teams = teams_of(session, exercise)
    rows = {row.team_id: row for row in session.scalars(
        select(TeamRange).join(Team, Team.id == TeamRange.team_id).where(Team.exercise_id == exercise.id))}
    hosts: dict[int, list[HostState]] = defaultdict(list)
    for range_id, name, state in session.execute(
            select(RangeHost.team_range_id, RangeHost.name, RangeHost.state)
            .join(TeamRange, TeamRange.id == RangeHost.team_range_id).join(Team, Team.id == TeamRange.team_id)
            .where(Team.exercise_id == exercise.id).order_by(RangeHost.id)):
        hosts[range_id].append(HostState(name, state))
    found = []
    for team in teams:
        row = rows.get(team.id)
        if row is None:
            found.append(TeamReadiness(team.id, team.number, team.name, RangeState.PENDING.value, "", "", None, ()))
            continue
        found.append(TeamReadiness(team.id, team.number, team.name, row.state.value, row.step, row.reason,
                                   row.gateway_port, tuple(hosts.get(row.id, ()))))
    return Readiness(exercise_id=exercise.id, state=exercise.state, teams=tuple(found),
                     resettable_hosts=tuple(h.id for h in model.network.hosts),
                     can_provision=exercise.state in PROVISIONABLE)
