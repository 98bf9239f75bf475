"""The score ledger: append-only events, exactly once by key, and what they add up to.

Every point a team has is one ``ScoreEvent`` with its source and reason. An
event's key is unique per team: a second write of the same key (a replayed
round, a simultaneous correct answer from a team-mate) is refused by the
database (``INSERT … ON CONFLICT DO NOTHING``) and reported as ``None``. Each
written event adds to the team's ``TeamScore`` in the same transaction (an
upsert), so the scoreboard reads one row per team however long the ledger grows.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import insert_new, upsert_add
from app.models import Exercise, ScoreEvent, ScoreSource, Team, TeamScore, User
from app.runtime import clock
from app.scenario.model import minutes
from app.services import lifecycle, scenarios


@dataclass(frozen=True)
class Moment:
    """A point on the exercise clock: the day, seconds into it, and seconds since day 1 began."""

    day: int
    seconds: float
    timeline: float


def day_lengths(exercise: Exercise) -> list[float]:
    return [minutes(day.length) * 60.0 for day in scenarios.parsed(exercise.scenario).days]


def moment(exercise: Exercise, now: datetime | None = None) -> Moment:
    reading = lifecycle.reading(exercise, now)
    return at(exercise, reading.day, reading.seconds)


def at(exercise: Exercise, day: int, seconds: float) -> Moment:
    return Moment(day, seconds, clock.timeline(day, seconds, day_lengths(exercise)))


def append(session: Session, team: Team, *, source: ScoreSource, source_id: str, key: str, points: int,
           when: Moment, reason: str = "", detail: dict[str, Any] | None = None, actor: User | None = None,
           round_id: int | None = None) -> ScoreEvent | None:
    """Write one event unless its key is already in the team's ledger; ``None`` when it was."""
    event_id = insert_new(session, ScoreEvent, exercise_id=team.exercise_id, team_id=team.id, source=source,
                          source_id=source_id[:100], key=key[:160], points=points, reason=reason[:500],
                          detail=detail or {}, actor_id=actor.id if actor is not None else None, round_id=round_id,
                          day=when.day, exercise_seconds=when.seconds, timeline_seconds=when.timeline)
    if event_id is None:
        return None
    upsert_add(session, TeamScore, "team_id", {"team_id": team.id, "exercise_id": team.exercise_id,
                                                "points": points, "events": 1}, {"points": points, "events": 1})
    return session.get(ScoreEvent, event_id)


@dataclass(frozen=True)
class Standing:
    rank: int
    team: Team
    points: int
    events: int


def scoreboard(session: Session, exercise: Exercise) -> list[Standing]:
    """Teams by score (ties share a rank), from the running totals."""
    totals = {row.team_id: row for row in session.scalars(
        select(TeamScore).where(TeamScore.exercise_id == exercise.id))}
    ordered = sorted(exercise.teams, key=lambda t: (-(totals[t.id].points if t.id in totals else 0), t.number))
    standings: list[Standing] = []
    for team in ordered:
        total = totals.get(team.id)
        points, events = (total.points, total.events) if total else (0, 0)
        rank = standings[-1].rank if standings and standings[-1].points == points else len(standings) + 1
        standings.append(Standing(rank, team, points, events))
    return standings


@dataclass(frozen=True)
class BreakdownLine:
    source: ScoreSource
    source_id: str
    points: int
    events: int


def breakdown(session: Session, team: Team) -> list[BreakdownLine]:
    """A team's points per source (each check, task, hint, report, adjustments), largest first."""
    rows = session.execute(
        select(ScoreEvent.source, ScoreEvent.source_id, func.sum(ScoreEvent.points), func.count())
        .where(ScoreEvent.team_id == team.id)
        .group_by(ScoreEvent.source, ScoreEvent.source_id))
    lines = [BreakdownLine(ScoreSource(source), source_id, int(points or 0), int(count))
             for source, source_id, points, count in rows]
    return sorted(lines, key=lambda line: (-abs(line.points), line.source.value, line.source_id))


def events(session: Session, team: Team, *, limit: int | None = 200, before_id: int | None = None) -> list[ScoreEvent]:
    """A team's events, newest first (a page of them when *limit* is set)."""
    query = select(ScoreEvent).where(ScoreEvent.team_id == team.id).order_by(ScoreEvent.id.desc())
    if before_id is not None:
        query = query.where(ScoreEvent.id < before_id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def sums(session: Session, exercise: Exercise) -> dict[int, int]:
    """Each team's score added up from its events (what the running totals must equal)."""
    rows = session.execute(select(ScoreEvent.team_id, func.sum(ScoreEvent.points))
                           .where(ScoreEvent.exercise_id == exercise.id).group_by(ScoreEvent.team_id))
    found = {team_id: int(points or 0) for team_id, points in rows}
    return {team.id: found.get(team.id, 0) for team in exercise.teams}
