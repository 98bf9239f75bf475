"""The exercise clock: exercise time excludes pauses and the night; each day starts at zero.

Pure: the stored fields and a wall-clock moment in, exercise seconds out. The
time source is the caller's, so tests never wait for real minutes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence


@dataclass(frozen=True)
class ClockReading:
    day: int
    seconds: float  # exercise seconds since the start of ``day`` (never past the day's length)
    running: bool
    speed: float
    ended: bool = False  # the day's length is reached: nothing more happens on this day

    @property
    def hhmmss(self) -> str:
        whole = int(self.seconds)
        return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def read(*, day: int, elapsed: float, started_at: datetime | None, speed: float, now: datetime,
         length: float | None = None) -> ClockReading:
    """Seconds already banked in this day, plus the running stretch scaled by the speed factor.

    With the day's *length*, the reading stops there (``ended``): the clock
    never shows, and nothing is ever dated, past the end of the day.
    """
    seconds = elapsed
    if started_at is not None:
        seconds += max((now - started_at).total_seconds(), 0.0) * speed
    if length is not None and seconds >= length:
        return ClockReading(day, length, started_at is not None, speed, ended=True)
    return ClockReading(day, seconds, started_at is not None, speed)


def reached_at(*, elapsed: float, started_at: datetime, speed: float, length: float) -> datetime:
    """The wall-clock moment a running day reached its *length*."""
    return started_at + timedelta(seconds=max(length - elapsed, 0.0) / speed)


def timeline(day: int, seconds: float, day_lengths: Sequence[float]) -> float:
    """Exercise seconds since day 1 began: the lengths of the days before *day*, plus *seconds*.

    Nights are not on the timeline, so "35 minutes after the attack" means
    exercise minutes even when the attack came late on day 1.
    """
    return sum(day_lengths[: max(day - 1, 0)]) + seconds
