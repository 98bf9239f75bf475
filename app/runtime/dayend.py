"""The end of a day: at its length a running exercise goes to "day ended" by itself.

Run by the engine process at the start of every tick (never by the web). The
clock already stops at the day's length (``lifecycle.reading``), so nothing is
dated past it; this makes it visible — the state, the audit log, the timeline —
and stops the rounds and injects for good.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from app.db import Database
from app.models import Exercise, ExerciseState
from app.services import lifecycle

log = logging.getLogger("mamori.engine")


def end_due_days(database: Database, now: datetime) -> list[int]:
    """End the day of every running exercise whose clock reached the day's length; their ids."""
    with database.session() as session:
        ids = list(session.scalars(select(Exercise.id).where(Exercise.state == ExerciseState.RUNNING)))
    ended = []
    for exercise_id in ids:
        with database.transaction() as session:
            # Locked (on PostgreSQL), so an instructor's pause at the same moment is not overwritten.
            exercise = session.get(Exercise, exercise_id, with_for_update=True)
            if exercise is not None and lifecycle.close_day(session, exercise, now=now):
                ended.append(exercise_id)
                log.info("exercise %s: day %s ended at its length", exercise_id, exercise.current_day)
    return ended
