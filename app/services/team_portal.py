"""What the team page shows beside the range: the exercise clock, the story briefing, the members.

The page is polled by every trainee of a session, so each of these reads a
fixed, small number of rows whatever the number of teams, messages or score events.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.models import Exercise, ExerciseState, Membership, Team, User
from app.scenario.model import Story
from app.services import lifecycle, scenarios

NOT_STARTED = {ExerciseState.DRAFT, ExerciseState.PROVISIONING, ExerciseState.READY}


@dataclass(frozen=True)
class TeamClock:
    """The exercise clock as a team sees it."""

    state: ExerciseState
    started: bool  # day 1 has begun (before that the time means nothing)
    day: int
    days: int
    seconds: float  # exercise seconds into the day
    running: bool


def clock(exercise: Exercise, now: datetime | None = None) -> TeamClock:
    reading = lifecycle.reading(exercise, now)
    return TeamClock(state=exercise.state, started=exercise.state not in NOT_STARTED, day=reading.day,
                     days=exercise.days, seconds=reading.seconds, running=reading.running)


def briefing(exercise: Exercise) -> Story:
    """The scenario's story: the organisation the team works for and its briefing (ja/en)."""
    return scenarios.parsed(exercise.scenario).story


def members(session: Session, team: Team) -> list[User]:
    """The team's members with their organisations, in one query (not one per member)."""
    return list(session.scalars(
        select(User).join(Membership, Membership.user_id == User.id).where(Membership.team_id == team.id)
        .options(joinedload(User.organisation)).order_by(User.display_name, User.id)))
