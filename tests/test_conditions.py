"""Conditions on what a team did and what its range shows: every kind, any/all/not, `by`, short-circuits (pure)."""
from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from app.scenario import conditions
from app.scenario.conditions import TeamFacts
from app.scenario.model import At, Condition, TeamCondition, minutes

PARSE = TypeAdapter(TeamCondition)
DAY = 2 * 3600.0

FACTS = TeamFacts(
    contacted=frozenset({"vendor", "boss"}),
    requested=frozenset({("vendor", "isolate"), ("vendor", "logs"), ("boss", "approve")}),
    fulfilled=frozenset({("vendor", "isolate")}),
    submitted={"first-report": 1500.0, "final-report": DAY + 600.0},
    submitted_kinds={"first": 1500.0, "final": DAY + 600.0},
    correct=frozenset({"infected-host"}),
    wrong=frozenset({"c2-address"}),
    hints=frozenset({"c2-address"}),
)


def timeline(moment: At) -> float:
    return (moment.day - 1) * DAY + minutes(moment.at) * 60.0


class Checks:
    """The range as a condition sees it: each check's status, and every question asked."""

    def __init__(self, **status: str) -> None:
        self.status = {name.replace("_", "-"): value for name, value in status.items()}
        self.asked: list[str] = []

    def __call__(self, leaf: Condition) -> bool:
        self.asked.append(leaf.check)
        return self.status[leaf.check] == leaf.status


def holds(written: Any, facts: TeamFacts = FACTS, checks: Checks | None = None) -> bool:
    return conditions.holds(PARSE.validate_python(written), facts, checks or Checks(), timeline)


@pytest.mark.parametrize(("written", "expected"), [
    ({"contacted": "vendor"}, True),
    ({"contacted": "nisc"}, False),
    ({"contacted": "vendor", "request": "logs"}, True),
    ({"contacted": "vendor", "request": "logs", "fulfilled": True}, False),  # asked, not done
    ({"contacted": "vendor", "request": "isolate", "fulfilled": True}, True),
    ({"contacted": "boss", "request": "isolate"}, False),  # that request went to the vendor
    ({"report": "first-report"}, True),
    ({"report": "follow-up"}, False),
    ({"report_kind": "first"}, True),
    ({"report_kind": "follow_up"}, False),
    ({"report": "first-report", "by": {"day": 1, "at": "00:25"}}, True),  # at 1500 s: exactly on time
    ({"report": "first-report", "by": {"day": 1, "at": "00:24"}}, False),  # late
    ({"report": "final-report", "by": {"day": 1, "at": "01:59"}}, False),  # submitted on day 2
    ({"report": "final-report", "by": {"day": 2, "at": "00:10"}}, True),
    ({"report_kind": "final", "by": {"day": 2, "at": "00:09"}}, False),
    ({"task": "infected-host"}, True),  # answered: correct is the default
    ({"task": "c2-address"}, False),
    ({"task": "c2-address", "answered": "wrong"}, True),
    ({"task": "infected-host", "answered": "wrong"}, False),
    ({"task": "c2-address", "answered": "any"}, True),
    ({"task": "timeline", "answered": "any"}, False),
    ({"hint_taken": "c2-address"}, True),
    ({"hint_taken": "infected-host"}, False),
    ({"hint_taken": True}, True),
    ({"not": {"contacted": "nisc"}}, True),
    ({"any": [{"contacted": "nisc"}, {"task": "infected-host"}]}, True),
    ({"any": [{"contacted": "nisc"}, {"task": "c2-address"}]}, False),
    ({"all": [{"contacted": "vendor"}, {"report_kind": "first"}]}, True),
    ({"all": [{"contacted": "vendor"}, {"report_kind": "final", "by": {"day": 1, "at": "01:00"}}]}, False),
    ({"not": {"all": [{"contacted": "vendor"}, {"not": {"hint_taken": True}}]}}, True),
])
def test_every_kind_of_condition(written: dict[str, Any], expected: bool) -> None:
    assert holds(written) is expected


def test_a_team_that_did_nothing() -> None:
    nothing = TeamFacts()
    assert not holds({"hint_taken": True}, nothing)
    assert not holds({"any": [{"contacted": "vendor"}, {"report_kind": "first"}, {"task": "x", "answered": "any"}]},
                     nothing)
    assert holds({"not": {"contacted": "vendor"}}, nothing)


@pytest.mark.parametrize(("written", "expected", "asked"), [
    ({"check": "beacon-stopped", "status": "up"}, True, ["beacon-stopped"]),
    ({"check": "web-up", "status": "up"}, False, ["web-up"]),
    # Team events first: a check is asked only when the answer still depends on it.
    ({"any": [{"contacted": "vendor"}, {"check": "beacon-stopped", "status": "up"}]}, True, []),
    ({"any": [{"contacted": "nisc"}, {"check": "beacon-stopped", "status": "up"}]}, True, ["beacon-stopped"]),
    ({"all": [{"contacted": "nisc"}, {"check": "beacon-stopped", "status": "up"}]}, False, []),
    ({"all": [{"check": "web-up", "status": "up"}, {"check": "beacon-stopped", "status": "up"}]}, False, ["web-up"]),
    ({"any": [{"check": "beacon-stopped", "status": "up"}, {"check": "web-up", "status": "down"}]}, True,
     ["beacon-stopped"]),
    ({"not": {"all": [{"task": "infected-host"}, {"check": "web-up", "status": "down"}]}}, False, ["web-up"]),
])
def test_checks_are_asked_only_when_needed(written: dict[str, Any], expected: bool, asked: list[str]) -> None:
    checks = Checks(beacon_stopped="up", web_up="down")
    assert holds(written, checks=checks) is expected
    assert checks.asked == asked


@pytest.mark.parametrize(("written", "described"), [
    ({"check": "beacon-stopped", "status": "up"}, "beacon-stopped is up"),
    ({"contacted": "vendor"}, "contacted vendor"),
    ({"contacted": "vendor", "request": "isolate"}, "contacted vendor/isolate"),
    ({"contacted": "vendor", "request": "isolate", "fulfilled": True}, "fulfilled vendor/isolate"),
    ({"report": "first-report"}, "submitted first-report"),
    ({"report_kind": "final", "by": {"day": 2, "at": "00:30"}}, "submitted a final report by day 2 00:30"),
    ({"task": "infected-host"}, "infected-host answered (correct)"),
    ({"hint_taken": True}, "a hint taken"),
    ({"hint_taken": "c2-address"}, "a hint of c2-address taken"),
    ({"any": [{"contacted": "boss"}, {"not": {"task": "x", "answered": "wrong"}}]},
     "any of (contacted boss; not (x answered (wrong)))"),
    ({"all": [{"report_kind": "first"}, {"hint_taken": True}]}, "all of (submitted a first report; a hint taken)"),
])
def test_describe(written: dict[str, Any], described: str) -> None:
    assert conditions.describe(PARSE.validate_python(written)) == described


def test_walk_gives_every_leaf_with_its_location() -> None:
    condition = PARSE.validate_python({"any": [{"contacted": "boss"}, {"not": {"all": [{"task": "a"}, {"report": "r"}]}}]})
    assert [loc for loc, _ in conditions.walk(condition, ("skip_if",))] == [
        ("skip_if", "any", 0), ("skip_if", "any", 1, "not", "all", 0), ("skip_if", "any", 1, "not", "all", 1)]


@pytest.mark.parametrize("written", [
    {"chekc": "x"}, {}, "contacted vendor", {"report": "a", "report_kind": "first"}, {"any": []},
])
def test_what_is_not_a_condition_is_refused(written: Any) -> None:
    with pytest.raises(ValidationError):
        PARSE.validate_python(written)


def test_a_misspelt_condition_says_what_a_condition_is() -> None:
    with pytest.raises(ValidationError) as caught:
        PARSE.validate_python({"chekc": "x"})
    [error] = caught.value.errors()
    assert error["type"] == "condition_kind"
    assert "give one of check, contacted, report" in error["msg"] and "_condition_kind" not in error["msg"]
