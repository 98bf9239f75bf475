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

from sqlalchemy import case, distinct, func, literal, select, true, union_all
from sqlalchemy.orm import Session

from app.models import (
    CheckResultRow, Exercise, ExerciseState, InjectRun, Message, RangeHost, RangeState, ReportStatus, ReportVersion,
    RunStatus, TaskAttempt, Team, TeamRange, TeamScore, utcnow,
)
from app.runtime import clock as exercise_clock
from app.runtime.clock import ClockReading
from app.scenario.model import Character, Report, Scenario, Text
from app.services import correspondence, ledger, lifecycle, reports, scenarios
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
ESCALATIONS_SHOWN = 3  # per team, the latest messages to characters and reports submitted


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
class Escalation:
    """Whom the team told what, and when: a message to a character or a report submitted (to its addressee)."""

    to: Character | None  # None: a report with no addressee
    subject: str  # a message's subject ("" for a report)
    report: Report | None  # the report submitted (None for a message)
    day: int
    seconds: float
    timeline: float
    late: bool = False  # a report submitted after it was due
    waiting: bool = False  # a message waiting in the white-cell queue


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
    escalations: tuple[Escalation, ...] = ()  # the latest few, newest first
    messages_sent: int = 0  # to characters, all told
    white_cell_waiting: int = 0  # of them, waiting for an instructor
    overdue: tuple[Report, ...] = ()  # due and not submitted
    late: tuple[Report, ...] = ()  # submitted after they were due


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

    @property
    def white_cell_waiting(self) -> int:
        return sum(team.white_cell_waiting for team in self.teams)


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
    teams = list(exercise.teams)  # in number order; loaded once for this and reports.timeliness
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
    reading = lifecycle.reading(exercise, now or utcnow())
    told = _escalations(session, exercise, model, reading)
    rows = []
    for team in teams:
        solved, tried = answered.get(team.id, (0, 0))
        state = range_states.get(team.id)
        rows.append(TeamLive(
            id=team.id, number=team.number, name=team.name, points=int(points.get(team.id) or 0),
            range_state=state.value if state is not None else RangeState.PENDING.value,
            injects=tuple(runs.get((team.id, inject.id), InjectCell(PENDING)) for inject in model.injects),
            checks=tuple(checks.get((team.id, check.id), CheckCell(NOT_CHECKED)) for check in model.checks),
            tasks_solved=solved, attempts=tried, reports_waiting=int(waiting.get(team.id) or 0),
            **told.get(team.id, {})))
    return LiveBoard(
        exercise_id=exercise.id, state=exercise.state, clock=reading,
        injects=tuple(Column(i.id, i.title) for i in model.injects),
        checks=tuple(Column(c.id, c.title) for c in model.checks),
        task_count=len(model.tasks), teams=tuple(rows))


def _escalations(session: Session, exercise: Exercise, model: Scenario,
                 reading: ClockReading) -> dict[int, dict[str, object]]:
    """Per team: the latest messages to characters and reports submitted, counts, overdue and late reports.

    Three queries whatever the number of teams: the latest few messages of
    each team with its counts (windows over the team's messages), and the two
    of ``reports.timeliness``.
    """
    people = {c.id: c for c in model.story.characters}
    lengths = ledger.day_lengths(exercise)
    now = exercise_clock.timeline(reading.day, reading.seconds, lengths)
    team = {"partition_by": Message.team_id}
    latest = (select(Message.team_id, Message.character_id, Message.subject_ja, Message.day, Message.exercise_seconds,
                     Message.white_cell, func.row_number().over(order_by=Message.id.desc(), **team).label("rank"),
                     func.count().over(**team).label("sent"),
                     func.sum(case((Message.white_cell == correspondence.WAITING, 1), else_=0)).over(**team)
                     .label("waiting"))
              .where(Message.exercise_id == exercise.id, Message.direction == "out").subquery())
    counts: dict[int, tuple[int, int]] = {}
    told: dict[int, list[Escalation]] = defaultdict(list)
    for team_id, character_id, subject, day, seconds, white_cell, _rank, sent, waiting in session.execute(
            select(latest).where(latest.c.rank <= ESCALATIONS_SHOWN)):
        counts[team_id] = (int(sent), int(waiting or 0))
        told[team_id].append(Escalation(people.get(character_id), subject, None, day, seconds,
                                        exercise_clock.timeline(day, seconds, lengths),
                                        waiting=white_cell == correspondence.WAITING))
    overdue: dict[int, list[Report]] = defaultdict(list)
    late: dict[int, list[Report]] = defaultdict(list)
    for (team_id, _report_id), row in reports.timeliness(session, exercise).items():
        if row.overdue(now):
            overdue[team_id].append(row.report)
        if row.submitted is not None:
            if row.late:
                late[team_id].append(row.report)
            day, seconds = _on_clock(row.submitted, lengths)
            told[team_id].append(Escalation(people.get(row.report.to or ""), "", row.report, day, seconds,
                                            row.submitted, late=row.late))
    found: dict[int, dict[str, object]] = {}
    for team_id in set(counts) | set(told) | set(overdue):
        sent, waiting = counts.get(team_id, (0, 0))
        newest = sorted(told.get(team_id, []), key=lambda e: e.timeline, reverse=True)[:ESCALATIONS_SHOWN]
        found[team_id] = {"escalations": tuple(newest), "messages_sent": sent, "white_cell_waiting": waiting,
                          "overdue": tuple(overdue.get(team_id, ())), "late": tuple(late.get(team_id, ()))}
    return found


def _on_clock(timeline: float, lengths: list[float]) -> tuple[int, float]:
    """The day and seconds into it of a moment *timeline* seconds after day 1 began (the inverse of
    ``clock.timeline``; a moment past the last day's length stays on the last day)."""
    day = 1
    for length in lengths[:-1]:
        if timeline < length:
            break
        timeline -= length
        day += 1
    return day, timeline


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
