"""What the team pages show beside the range: the exercise's state in words, the clock, the briefing, the members.

The page is polled by every trainee of a session, so each of these reads a
fixed, small number of rows whatever the number of teams, messages or score events.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.models import Exercise, ExerciseState, Membership, RangeState, Team, TeamRange, User
from app.scenario.model import Story, Text
from app.services import correspondence, lifecycle, reports, scenarios, tasks
from app.services.errors import N_
from app.services.errors import Text as Words

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


def briefing(team: Team) -> Story:
    """The scenario's story: the organisation the team works for and its briefing (ja/en, the team's values)."""
    return scenarios.for_team(team).story


def objectives(team: Team) -> list[Text]:
    """The scenario's learning objectives (ja/en): what the team is meant to learn, shown with the briefing."""
    return list(scenarios.for_team(team).objectives)


def members(session: Session, team: Team) -> list[User]:
    """The team's members with their organisations, in one query (not one per member)."""
    return list(session.scalars(
        select(User).join(Membership, Membership.user_id == User.id).where(Membership.team_id == team.id)
        .options(joinedload(User.organisation)).order_by(User.display_name, User.id)))


# The exercise's state in words -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateNotice:
    """What a team reads about the exercise's state on every team page: what is happening, what works, what not.

    ``can`` and ``cannot`` are worked out from the same state sets the
    services enforce (answers, reports, messages) and from the team's range,
    so the banner never promises what the next click refuses.
    """

    state: ExerciseState
    title: Words
    detail: Words | None = None
    can: tuple[Words, ...] = ()
    cannot: tuple[Words, ...] = ()


def state_notice(session: Session, team: Team) -> StateNotice:
    """The notice for *team* now: while the exercise runs (every trainee polling) no query; else its range's state."""
    if team.exercise.state is ExerciseState.RUNNING:
        return notice_for(team.exercise, None)
    range_state = session.scalar(select(TeamRange.state).where(TeamRange.team_id == team.id))
    return notice_for(team.exercise, range_state)


def notice_for(exercise: Exercise, range_state: RangeState | None) -> StateNotice:
    state = exercise.state
    title, detail = _headline(exercise, range_state is RangeState.READY)
    if state is ExerciseState.RUNNING:
        return StateNotice(state, title, detail)
    can: list[Words] = []
    cannot: list[Words] = []
    for allowed, does, not_now in _WORK:
        if state in allowed:
            can.append(Words(does))
        else:
            cannot.append(Words(not_now))
    if range_state is RangeState.READY:
        can.append(Words(N_("Work in your range (SSH or the terminal in the browser).")))
    can.append(Words(N_("Read the briefing, your messages and your reports.")))
    if state in (ExerciseState.FINISHED, ExerciseState.TORN_DOWN):
        can.append(Words(N_("See your score and the instructors' feedback on the Score and Reports pages."))
                   if exercise.scores_visible else
                   Words(N_("Your score appears on the Score page once the instructor shows it.")))
    return StateNotice(state, title, detail, tuple(can), tuple(cannot))


# What a team does in the portal, the states in which the services take it, and how it reads when it can
# (outside "running", where no list is shown) and when it cannot.
_WORK = (
    (tasks.ANSWERABLE, N_("Answer tasks and take hints."), N_("Answer tasks and take hints.")),
    (reports.WRITABLE, N_("Write, save and submit reports."), N_("Write, save and submit reports.")),
    # the engine, which sends the scripted replies, acts only while the clock runs
    (set(correspondence.WRITABLE_STATES),
     N_("Send messages to the people of the scenario (while the clock is stopped, replies may be late)."),
     N_("Send messages to the people of the scenario.")),
)


def _headline(exercise: Exercise, range_ready: bool) -> tuple[Words, Words | None]:
    state, day, days = exercise.state, exercise.current_day, exercise.days
    if state in NOT_STARTED:
        if range_ready:
            return (Words(N_("Your range is ready. The exercise has not started yet.")),
                    Words(N_("It begins when the instructor starts it.")))
        return (Words(N_("The exercise has not started yet. Your range is being prepared.")),
                Words(N_("The instructor builds every team's range before the start.")))
    if state is ExerciseState.RUNNING:
        return Words(N_("The exercise is running (day %(day)d of %(days)d)."), {"day": day, "days": days}), None
    if state is ExerciseState.PAUSED:
        return (Words(N_("The exercise is paused.")),
                Words(N_("The clock is stopped: no new events arrive and nothing is scored until the "
                         "instructor resumes it.")))
    if state is ExerciseState.DAY_ENDED:
        if day < days:
            return (Words(N_("Today's exercise has ended.")),
                    Words(N_("Day %(day)d of %(days)d is over. Day %(next)d begins when the instructor starts it."),
                          {"day": day, "days": days, "next": day + 1}))
        return (Words(N_("Today's exercise has ended.")),
                Words(N_("This was the last day of the exercise.")))
    if state is ExerciseState.FINISHED:
        return Words(N_("The exercise is over.")), Words(N_("Thank you for taking part."))
    return (Words(N_("The exercise is over, and the ranges have been removed.")),
            Words(N_("What your team wrote and received stays here to read.")))
