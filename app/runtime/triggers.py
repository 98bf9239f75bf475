"""Which injects fall due for one team now: pure, from the scenario, the clock and the team's runs.

Semantics (docs/scenario-format.md): a timed inject fires once its day's
clock passes its time; an ``after: X`` inject fires ``delay`` after its
parent *started*, on the parent's day, and is skipped when the parent was
skipped or missed; an ``after: {finished: X}`` inject fires ``delay`` after
the parent's actions all *finished* (they run in real time while the clock
may run 60–600× faster), and is skipped too when the parent failed or was
interrupted, since what it waits for may not be there; a conditional inject waits, from ``not_before``, for its check
to show the wanted status and is skipped at ``give_up_at``. Whatever has not
fired when its day is over is *missed*. An instructor's request fires at
once; a hold keeps it back.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from app.models import RunStatus
from app.runtime.clock import ClockReading
from app.scenario.conditions import describe
from app.scenario.model import After, At, Inject, Scenario, When, minutes

Kind = Literal["fire", "condition", "skip", "miss"]
FINISHED = {RunStatus.DONE, RunStatus.FAILED, RunStatus.INTERRUPTED}
NOT_HAPPENING = {RunStatus.SKIPPED, RunStatus.MISSED}


@dataclass(frozen=True)
class RunView:
    status: RunStatus
    day: int
    started_seconds: float | None
    finished_seconds: float | None = None  # on the run's day's clock; None while it runs


class _Run(Protocol):
    status: RunStatus
    day: int
    started_seconds: float | None
    started_at: datetime | None
    finished_at: datetime | None


class _Clock(Protocol):
    current_day: int
    clock_elapsed: float
    clock_started_at: datetime | None
    speed: float


def finished_seconds(run: _Run, exercise: _Clock) -> float | None:
    """When the run's actions ended, in exercise seconds of the run's day (``None`` while it runs).

    Exact when the clock has run since the end (the usual case: the engine
    decides within a tick); when a pause came between, the real duration at the
    clock's speed, never past the moment the clock stopped.
    """
    if run.started_seconds is None or run.started_at is None or run.finished_at is None:
        return None
    estimate = run.started_seconds + max((run.finished_at - run.started_at).total_seconds(), 0.0) * exercise.speed
    if run.day != exercise.current_day:
        return estimate
    resumed = exercise.clock_started_at
    if resumed is not None and run.finished_at >= resumed:
        exact = exercise.clock_elapsed + (run.finished_at - resumed).total_seconds() * exercise.speed
        return max(exact, run.started_seconds)
    return max(min(estimate, exercise.clock_elapsed), run.started_seconds)


def view(run: _Run, exercise: _Clock) -> RunView:
    return RunView(run.status, run.day, run.started_seconds, finished_seconds(run, exercise))


def counts_from(run: _Run | None, exercise: _Clock, moment: After) -> float | None:
    """Seconds of the run's day that *moment* counts its delay from: the start, or the end of the actions.

    ``None`` until the run has finished (tasks and reports wait for it as injects do).
    """
    if run is None or run.status not in FINISHED or run.started_seconds is None:
        return None
    if moment.on_finish:
        return finished_seconds(run, exercise) or run.started_seconds
    return run.started_seconds


@dataclass(frozen=True)
class Decision:
    inject: Inject
    kind: Kind
    due_seconds: float
    reason: str = ""


def plan(scenario: Scenario, now: ClockReading, runs: dict[str, RunView]) -> list[Decision]:
    decisions = []
    for inject in scenario.injects:
        run = runs.get(inject.id)
        if run is not None and run.status is RunStatus.REQUESTED:
            decisions.append(Decision(inject, "fire", now.seconds, "fired by an instructor"))
        elif run is None:
            decision = _decide(inject, now, runs)
            if decision is not None:
                decisions.append(decision)
    return decisions


def _decide(inject: Inject, now: ClockReading, runs: dict[str, RunView]) -> Decision | None:
    when = inject.when
    if isinstance(when, At):
        due = minutes(when.at) * 60.0
        return _on_day(inject, when.day, due, now)
    if isinstance(when, After):
        parent = runs.get(when.inject)
        if parent is None or parent.status in (RunStatus.HELD, RunStatus.REQUESTED, RunStatus.RUNNING):
            return None
        if parent.status in NOT_HAPPENING:
            return Decision(inject, "skip", now.seconds, f"{when.inject} did not happen ({parent.status.value})")
        if when.on_finish and parent.status is not RunStatus.DONE:
            return Decision(inject, "skip", now.seconds, f"{when.inject} did not finish ({parent.status.value})")
        begun = parent.finished_seconds if when.on_finish else parent.started_seconds
        due = (begun if begun is not None else parent.started_seconds or 0.0) + minutes(when.delay) * 60.0
        return _on_day(inject, parent.day, due, now)
    assert isinstance(when, When)
    if now.day > when.day:
        return Decision(inject, "miss", now.seconds, f"day {when.day} ended before its condition held")
    if now.day < when.day or now.seconds < minutes(when.not_before) * 60.0:
        return None
    if when.give_up_at is not None and now.seconds >= minutes(when.give_up_at) * 60.0:
        return Decision(inject, "skip", now.seconds, f"never held: {describe(when.condition)}")
    return Decision(inject, "condition", now.seconds)


def _on_day(inject: Inject, day: int, due: float, now: ClockReading) -> Decision | None:
    if now.day > day:
        return Decision(inject, "miss", due, f"day {day} ended before it fired")
    if now.day == day and now.seconds >= due:
        return Decision(inject, "fire", due)
    return None
