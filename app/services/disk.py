"""Disk use of the ranges: what the engine's disk watchdog records, what instructors see, resuming a host.

The watchdog (``app.runtime.diskwatch``) pauses a container whose writable
layer outgrew its limit and warns when the Docker host's disk runs low; each
becomes an audit event and a timeline event of kind ``disk`` that the live
view lists. Resuming a host it paused is ``resume_host`` (``mamori host
resume``): the watchdog then allows that container its current use plus
one more limit before it pauses it again.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Exercise, RangeHost, Team, TeamRange, TimelineEvent, User, utcnow
from app.services import audit, lifecycle, ranges, scenarios
from app.services.errors import N_, Conflict, InvalidInput
from range.engine import DockerRangeEngine, HostNotFound

KIND = "disk"
PAUSED, PAUSE_FAILED, LOW_SPACE, UNMEASURED, RESUMED = "paused", "pause_failed", "low_space", "unmeasured", "resumed"
MB = 1024 * 1024


@dataclass(frozen=True)
class DiskAlert:
    """One line of the live view's disk list."""

    event: str  # paused, pause_failed, low_space, unmeasured, resumed
    at: datetime
    team: int | None
    host: str
    used_mb: int  # for low_space: the MB still free
    limit_mb: int  # for low_space: the free MB below which the warning comes
    reason: str = ""
    current: bool = False  # the latest event of its host: a paused host can be resumed from here


def exercise_of(session: Session, instance_id: str, exercise_label: str) -> Exercise | None:
    """The exercise whose ranges carry *exercise_label* (``<instance>-<id>``), if it is this installation's."""
    prefix, _, number = exercise_label.rpartition("-")
    if prefix != instance_id or not number.isdigit():
        return None
    return session.get(Exercise, int(number))


def team_of(session: Session, exercise: Exercise, team_label: str) -> Team | None:
    if not team_label.isdigit():
        return None
    return session.scalar(select(Team).where(Team.exercise_id == exercise.id, Team.number == int(team_label)))


def record(session: Session, exercise: Exercise, team: Team | None, event: str, *, host: str = "",
           used_bytes: int = 0, limit_bytes: int = 0, reason: str = "", container: str = "",
           actor: User | None = None, now: datetime | None = None) -> TimelineEvent:
    """One disk event, in the audit log and on the exercise's timeline (the caller commits)."""
    at = now or utcnow()
    reading = lifecycle.reading(exercise, at)
    detail = {"event": event, "host": host, "team": team.number if team else None,
              "used_mb": round(used_bytes / MB), "limit_mb": round(limit_bytes / MB), "reason": reason[:300],
              "container": container[:12]}
    audit.record(session, f"disk.{event}", actor=actor,
                 target=f"team:{team.id}:{host}" if team else f"exercise:{exercise.id}",
                 exercise_id=exercise.id, **detail)
    summary = f"{host or 'Docker host'}: {event} ({detail['used_mb']} MB, limit {detail['limit_mb']} MB)"
    row = TimelineEvent(exercise_id=exercise.id, team_id=team.id if team else None, at=at, day=reading.day,
                        exercise_seconds=reading.seconds, kind=KIND, summary=summary[:500], detail=detail)
    session.add(row)
    if team is not None and event in (PAUSED, RESUMED):  # the readiness board shows the host as it now is
        host_row = session.scalar(select(RangeHost).join(TeamRange).where(TeamRange.team_id == team.id,
                                                                          RangeHost.name == host))
        if host_row is not None:
            host_row.state = "paused" if event == PAUSED else "running"
    return row


def alerts(session: Session, exercise: Exercise, *, limit: int = 10) -> list[DiskAlert]:
    """The exercise's latest disk events, newest first (one query)."""
    found = session.scalars(
        select(TimelineEvent).where(TimelineEvent.exercise_id == exercise.id, TimelineEvent.kind == KIND)
        .order_by(TimelineEvent.id.desc()).limit(limit))
    alerts, seen = [], set()
    for e in found:
        where = (e.detail.get("team"), str(e.detail.get("host", "")))
        alerts.append(DiskAlert(str(e.detail.get("event", "")), e.at, where[0], where[1],
                                int(e.detail.get("used_mb") or 0), int(e.detail.get("limit_mb") or 0),
                                str(e.detail.get("reason", "")), current=where not in seen))
        seen.add(where)
    return alerts


def resume_host(session: Session, engine: DockerRangeEngine, instance_id: str, exercise: Exercise, number: int,
                host: str, *, actor: User | None = None) -> None:
    """Unpause one host (the disk watchdog paused it, or anything else did), recorded like the pause."""
    team = ranges.get_team(session, exercise, number)
    if host not in {h.id for h in scenarios.parsed(exercise.scenario).network.hosts}:
        raise InvalidInput(N_("the scenario has no host %(host)r"), host=host)
    try:
        container_id = engine.container_id(ranges.range_label(instance_id, exercise), ranges.team_label(team), host)
    except HostNotFound:
        raise Conflict(N_("team %(team)d has no container for %(host)s: reset the host"), team=number, host=host)
    info = engine.backend.container(container_id)
    if info is None or info.status != "paused":
        raise Conflict(N_("%(host)s of team %(team)d is not paused (it is %(state)s)"), host=host, team=number,
                       state=info.status if info else "missing")
    engine.backend.unpause(container_id)
    record(session, exercise, team, RESUMED, host=host, container=container_id, actor=actor)
