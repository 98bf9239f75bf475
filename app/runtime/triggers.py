"""Which injects fall due for one team now: pure, from the scenario, the clock and the team's runs.

Semantics (docs/scenario-format.md): a timed inject fires once its day's
clock passes its time; an ``after`` inject fires ``delay`` after its parent
*started*, on the parent's day, and is skipped when the parent was skipped
or missed; a conditional inject waits, from ``not_before``, for its check
to show the wanted status and is skipped at ``give_up_at``. Whatever has not
fired when its day is over is *missed*. An instructor's request fires at
once; a hold keeps it back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
        due = (parent.started_seconds or 0.0) + minutes(when.delay) * 60.0
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
