"""A wall clock the engine tests move by hand (the engine and scorer take ``now=``)."""
from __future__ import annotations

from datetime import datetime, timedelta


class ManualClock:
    """Stands at *start* until moved. At speed 60 one second of it is one exercise minute."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> None:
        self.now = self.start + timedelta(seconds=seconds)

    def minute(self, minutes: float) -> None:
        """Exercise minute *minutes* at speed 60."""
        self.at(minutes)
