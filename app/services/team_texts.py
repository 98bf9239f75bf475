"""The placeholders filled when a text reaches one team: ``{{clock:D/HH:MM}}`` and ``{{address:HOST}}``.

The two clocks: a scenario's times are *exercise* time (day 1, 00:35), while
the range's logs carry real (wall-clock) times. ``{{clock:00:35}}`` becomes the
Asia/Tokyo wall-clock time (HH:MM) at which exercise time 00:35 of day 1
arrives in this exercise, from the clock's start and speed; while the clock
has not fixed it (not started, paused, another day) it stays the exercise
time. ``{{address:HOST}}`` becomes the team's address of HOST on the host's
first segment (empty before the range is built).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import object_session

from app.models import Exercise, Team, TeamRange, utcnow
from app.scenario import variables

# The range's hosts keep Japanese local time (range/images/base/Dockerfile), whatever the server's TZ:
# the times texts quote must be the ones trainees read in the range's logs.
RANGE_ZONE = ZoneInfo("Asia/Tokyo")


def display_values(team: Team, names: set[str], first_segments: dict[str, str],
                   now: datetime | None = None) -> dict[str, str]:
    """The value of each display placeholder in *names* for *team* now."""
    values: dict[str, str] = {}
    addresses = _addresses(team) if any(variables.ADDRESS.match(n) for n in names) else {}
    for name in names:
        clock, address = variables.CLOCK.match(name), variables.ADDRESS.match(name)
        if clock:
            day, hours, mins = int(clock.group(1) or 1), int(clock.group(2)), int(clock.group(3))
            values[name] = wall_clock(team.exercise, day, hours * 3600 + mins * 60, now or utcnow())
        elif address:
            host = address.group(1)
            values[name] = addresses.get(host, {}).get(first_segments.get(host, ""), "")
    return values


def wall_clock(exercise: Exercise, day: int, seconds: int, now: datetime) -> str:
    """HH:MM of the wall clock when exercise time (*day*, *seconds*) arrives; the exercise time if not known."""
    as_written = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"
    if exercise.clock_started_at is None or day != exercise.current_day or not exercise.speed:
        return as_written
    started = exercise.clock_started_at
    started = started if started.tzinfo else started.replace(tzinfo=ZoneInfo("UTC"))
    current = exercise.clock_elapsed + (now - started).total_seconds() * exercise.speed
    arrives = now + timedelta(seconds=(seconds - current) / exercise.speed)
    return arrives.astimezone(RANGE_ZONE).strftime("%H:%M")


def _addresses(team: Team) -> dict[str, dict[str, str]]:
    session = object_session(team)
    row = session.scalar(select(TeamRange).where(TeamRange.team_id == team.id)) if session is not None else None
    return {h.name: dict(h.addresses or {}) for h in row.hosts} if row is not None else {}
