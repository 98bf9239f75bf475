"""Conditions on what a team did and what its range shows: evaluation, description, references.

Pure: the facts come in as a ``TeamFacts`` (``app.services.team_facts`` loads
them) and checks of the range through a callable, asked only when a condition
reaches one (``any`` stops at the first that holds, ``all`` at the first that
does not), so a condition on team events never touches the range.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from app.scenario.model import AllOf, Answered, AnyOf, Condition, Contacted, HintTaken, Not, Submitted


@dataclass(frozen=True)
class TeamFacts:
    """What a team has done so far, as conditions ask about it."""

    contacted: frozenset[str] = frozenset()  # characters written to
    requested: frozenset[tuple[str, str]] = frozenset()  # (character, request) made
    fulfilled: frozenset[tuple[str, str]] = frozenset()  # (character, request) carried out
    # report id / report kind -> the earliest submission, seconds on the exercise timeline
    submitted: dict[str, float] = field(default_factory=dict)
    submitted_kinds: dict[str, float] = field(default_factory=dict)
    correct: frozenset[str] = frozenset()  # tasks answered correctly
    wrong: frozenset[str] = frozenset()  # tasks answered wrongly at least once
    hints: frozenset[str] = frozenset()  # tasks with a hint taken (bought or released)


CheckAsker = Callable[[Condition], bool]
Timeline = Callable[[Any], float]  # an ``At`` -> seconds on the exercise timeline


def holds(condition: Any, facts: TeamFacts, check: CheckAsker, timeline: Timeline) -> bool:
    if isinstance(condition, Condition):
        return check(condition)
    if isinstance(condition, Contacted):
        if condition.request is None:
            return condition.contacted in facts.contacted
        pair = (condition.contacted, condition.request)
        return pair in (facts.fulfilled if condition.fulfilled else facts.requested)
    if isinstance(condition, Submitted):
        when = (facts.submitted.get(condition.report) if condition.report is not None
                else facts.submitted_kinds.get(condition.report_kind or ""))
        return when is not None and (condition.by is None or when <= timeline(condition.by))
    if isinstance(condition, Answered):
        if condition.answered == "correct":
            return condition.task in facts.correct
        if condition.answered == "wrong":
            return condition.task in facts.wrong
        return condition.task in facts.correct or condition.task in facts.wrong
    if isinstance(condition, HintTaken):
        return bool(facts.hints) if condition.hint_taken is True else (
            condition.hint_taken is not False and condition.hint_taken in facts.hints)
    if isinstance(condition, AnyOf):
        return any(holds(c, facts, check, timeline) for c in condition.any)
    if isinstance(condition, AllOf):
        return all(holds(c, facts, check, timeline) for c in condition.all)
    if isinstance(condition, Not):
        return not holds(condition.not_, facts, check, timeline)
    raise TypeError(f"not a condition: {condition!r}")


def describe(condition: Any) -> str:
    """A short English rendering, for inject results and the timeline (``not (contacted vendor/isolate)``)."""
    if isinstance(condition, Condition):
        return f"{condition.check} is {condition.status}"
    if isinstance(condition, Contacted):
        what = condition.contacted + (f"/{condition.request}" if condition.request else "")
        return f"{'fulfilled' if condition.fulfilled else 'contacted'} {what}"
    if isinstance(condition, Submitted):
        what = condition.report or f"a {condition.report_kind} report"
        by = f" by day {condition.by.day} {condition.by.at}" if condition.by is not None else ""
        return f"submitted {what}{by}"
    if isinstance(condition, Answered):
        return f"{condition.task} answered ({condition.answered})"
    if isinstance(condition, HintTaken):
        return "a hint taken" if condition.hint_taken is True else f"a hint of {condition.hint_taken} taken"
    if isinstance(condition, AnyOf):
        return "any of (" + "; ".join(describe(c) for c in condition.any) + ")"
    if isinstance(condition, AllOf):
        return "all of (" + "; ".join(describe(c) for c in condition.all) + ")"
    if isinstance(condition, Not):
        return f"not ({describe(condition.not_)})"
    return repr(condition)


def walk(condition: Any, loc: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every leaf condition with its location below *loc* (for the validator)."""
    if isinstance(condition, AnyOf):
        for i, inner in enumerate(condition.any):
            yield from walk(inner, (*loc, "any", i))
    elif isinstance(condition, AllOf):
        for i, inner in enumerate(condition.all):
            yield from walk(inner, (*loc, "all", i))
    elif isinstance(condition, Not):
        yield from walk(condition.not_, (*loc, "not"))
    else:
        yield loc, condition
