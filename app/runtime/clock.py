"""The exercise clock: exercise time excludes pauses and the night; each day starts at zero.

Pure: the stored fields and a wall-clock moment in, exercise seconds out. The
time source is the caller's, so tests never wait for real minutes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence


@dataclass(frozen=True)
class ClockReading:
    day: int
    seconds: float  # exercise seconds since the start of ``day``
    running: bool
    speed: float

    @property
    def hhmmss(self) -> str:
        whole = int(self.seconds)
        return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def read(*, day: int, elapsed: float, started_at: datetime | None, speed: float, now: datetime) -> ClockReading:
    """Seconds already banked in this day, plus the running stretch scaled by the speed factor."""
    if started_at is None:
        return ClockReading(day, elapsed, False, speed)
    running_for = max((now - started_at).total_seconds(), 0.0)
    return ClockReading(day, elapsed + running_for * speed, True, speed)


def bank(*, elapsed: float, started_at: datetime | None, speed: float, now: datetime) -> float:
    """The day's exercise seconds at *now*, to store when the clock stops (pause, end of day)."""
    return read(day=1, elapsed=elapsed, started_at=started_at, speed=speed, now=now).seconds


def timeline(day: int, seconds: float, day_lengths: Sequence[float]) -> float:
    """Exercise seconds since day 1 began: the lengths of the days before *day*, plus *seconds*.

    Nights are not on the timeline, so "35 minutes after the attack" means
    exercise minutes even when the attack came late on day 1.
    """
    return sum(day_lengths[: max(day - 1, 0)]) + seconds
