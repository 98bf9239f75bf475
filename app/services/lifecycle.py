"""An exercise's lifecycle and clock: start, pause, resume, end a day, finish.

draft → provisioning → ready → running ⇄ paused → day ended → running (day 2)
… → finished → torn down. Each transition is allowed only from the right
states and is audited; the clock banks exercise time whenever it stops, so
pauses and the night never count. A day ends by itself at its length (the
scenario's ``days[].length``): the clock never reads past it, and the engine
process moves the exercise to "day ended" (``close_day``) — on the last day
too, where the instructor then finishes the exercise.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.models import Exercise, ExerciseState, TimelineEvent, User, utcnow
from app.runtime import clock
from app.scenario.model import minutes
from app.services import audit, scenarios
from app.services.errors import N_, Conflict, InvalidInput

S = ExerciseState
ALLOWED_FROM = {
    "start": {S.READY, S.DAY_ENDED},
    "pause": {S.RUNNING},
    "resume": {S.PAUSED},
    "end_day": {S.RUNNING, S.PAUSED},
    "finish": {S.RUNNING, S.PAUSED, S.DAY_ENDED},
}
MAX_SPEED = 600.0
DAY_OVER = "day_over"  # the kind of the timeline event of a day that ended at its length


def reading(exercise: Exercise, now: datetime | None = None) -> clock.ClockReading:
    """The exercise clock now, stopped at the current day's length (``ended`` once it is reached)."""
    return clock.read(day=exercise.current_day, elapsed=exercise.clock_elapsed,
                      started_at=exercise.clock_started_at, speed=exercise.speed, now=now or utcnow(),
                      length=day_length(exercise))


def day_length(exercise: Exercise) -> float | None:
    """The current day's length in exercise seconds, as the scenario sets it."""
    days = scenarios.parsed(exercise.scenario).days
    if not 1 <= exercise.current_day <= len(days):
        return None
    return minutes(days[exercise.current_day - 1].length) * 60.0


# Why a transition is refused, in words for the instructor (no state names: the page shows the state).
REFUSED = {
    "start": N_("the exercise cannot be started now: only a ready exercise, or one whose day has ended, starts"),
    "pause": N_("the exercise cannot be paused now: only a running exercise can be paused"),
    "resume": N_("the exercise cannot be resumed now: only a paused exercise can be resumed"),
    "end_day": N_("the day cannot be ended now: only a running or paused day can be ended"),
    "finish": N_("the exercise cannot be finished now: it has not started, or it is already over"),
}


def _check(exercise: Exercise, action: str) -> None:
    if exercise.state not in ALLOWED_FROM[action]:
        raise Conflict(REFUSED[action])


def _stop_clock(exercise: Exercise, now: datetime) -> None:
    exercise.clock_elapsed = reading(exercise, now).seconds  # never past the day's length
    exercise.clock_started_at = None


def start(session: Session, exercise: Exercise, *, actor: User | None, speed: float | None = None,
          now: datetime | None = None, ip: str = "") -> None:
    """Start day 1 (from ready) or the next day (after the day ended); the day's clock starts at zero."""
    _check(exercise, "start")
    if speed is not None and not 0 < speed <= MAX_SPEED:
        raise InvalidInput(N_("the speed must be above 0 and at most %(max)d"), max=int(MAX_SPEED))
    if exercise.state is S.DAY_ENDED and exercise.current_day >= exercise.days:
        raise Conflict(N_("day %(day)d was the last day: finish the exercise"), day=exercise.current_day)
    now = now or utcnow()
    if exercise.state is S.DAY_ENDED:
        exercise.current_day += 1
    exercise.speed = speed or exercise.speed or 1.0
    exercise.clock_elapsed, exercise.clock_started_at = 0.0, now
    exercise.state = S.RUNNING
    _record(session, exercise, "exercise.start", actor, ip, now, speed=exercise.speed)


def pause(session: Session, exercise: Exercise, *, actor: User | None, now: datetime | None = None,
          ip: str = "") -> None:
    _check(exercise, "pause")
    now = now or utcnow()
    _stop_clock(exercise, now)
    exercise.state = S.PAUSED
    _record(session, exercise, "exercise.pause", actor, ip, now)


def resume(session: Session, exercise: Exercise, *, actor: User | None, now: datetime | None = None,
           ip: str = "") -> None:
    _check(exercise, "resume")
    now = now or utcnow()
    exercise.clock_started_at = now
    exercise.state = S.RUNNING
    _record(session, exercise, "exercise.resume", actor, ip, now)


def end_day(session: Session, exercise: Exercise, *, actor: User | None, now: datetime | None = None,
            ip: str = "") -> None:
    """End day 1 of a two-day course; the night does not count. The last day ends with ``finish``."""
    _check(exercise, "end_day")
    if exercise.current_day >= exercise.days:
        raise Conflict(N_("day %(day)d is the last day: finish the exercise instead"), day=exercise.current_day)
    now = now or utcnow()
    _stop_clock(exercise, now)
    exercise.state = S.DAY_ENDED
    _record(session, exercise, "exercise.end_day", actor, ip, now)


def finish(session: Session, exercise: Exercise, *, actor: User | None, now: datetime | None = None,
           ip: str = "") -> None:
    _check(exercise, "finish")
    now = now or utcnow()
    _stop_clock(exercise, now)
    exercise.state = S.FINISHED
    _record(session, exercise, "exercise.finish", actor, ip, now)


def close_day(session: Session, exercise: Exercise, *, now: datetime | None = None) -> bool:
    """End a running day that reached its length (the engine calls this; no person does).

    The clock is banked at exactly the length, whenever the engine notices;
    the audit log and the exercise's timeline say so. Returns whether the day ended now.
    """
    now = now or utcnow()
    length = day_length(exercise)
    if exercise.state is not S.RUNNING or length is None or not reading(exercise, now).ended:
        return False
    started_at = exercise.clock_started_at
    assert started_at is not None  # running
    reached = clock.reached_at(elapsed=exercise.clock_elapsed, started_at=started_at, speed=exercise.speed,
                               length=length)
    exercise.clock_elapsed, exercise.clock_started_at = length, None
    exercise.state = S.DAY_ENDED
    _record(session, exercise, "exercise.day_over", None, "", now)
    session.add(TimelineEvent(exercise_id=exercise.id, team_id=None, at=reached, day=exercise.current_day,
                              exercise_seconds=length, kind=DAY_OVER,
                              summary=f"day {exercise.current_day} ended at its length"))
    return True

TRANSITIONS = {"start": start, "pause": pause, "resume": resume, "end_day": end_day, "finish": finish}


def _record(session: Session, exercise: Exercise, action: str, actor: User | None, ip: str, now: datetime,
            **detail: object) -> None:
    read = reading(exercise, now)
    audit.record(session, action, actor=actor, target=f"exercise:{exercise.id}", exercise_id=exercise.id,
                 ip=ip, day=read.day, exercise_time=read.hhmmss, **detail)
