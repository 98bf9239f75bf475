"""What one check result is worth in a round, by the check's scoring mode (pure).

- **objective**: awarded once, the first round the check is UP after it became
  active, decayed by how many exercise minutes that took (``formulas``);
- **availability**: points every round UP; a penalty every round DOWN once
  ``grace_rounds`` consecutive DOWN rounds are used up;
- **penalty**: a deduction every round DOWN (the attack succeeds).

An ERROR (the check could not decide) neither scores nor costs, and neither
extends nor ends a DOWN streak: the platform's doubt is never the team's loss.
The same function scores live rounds and the full recompute, so they agree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from scoring.formulas import availability_points, decayed_points


class ScoringRule(Protocol):
    mode: str


@dataclass(frozen=True)
class Award:
    """Points for the ledger: ``key`` is unique per team, so the same award is never written twice."""

    key: str
    points: int
    detail: dict[str, Any] = field(default_factory=dict)


def next_streak(previous: int, status: str) -> int:
    """Consecutive DOWN rounds after this result."""
    if status == "down":
        return previous + 1
    return 0 if status == "up" else previous


def objective_key(check_id: str) -> str:
    return f"check:{check_id}"


def check_award(check_id: str, rule: Any, status: str, *, round_number: int, minutes_active: float,
                down_streak: int, awarded: bool) -> Award | None:
    """The award (or deduction) for one check result, or ``None`` when it is worth nothing.

    *down_streak* includes this result (see ``next_streak``); *awarded* says
    whether the objective was already awarded to this team.
    """
    if rule.mode == "objective":
        if status != "up" or awarded:
            return None
        points = decayed_points(rule.decay, rule.points, minutes_active, rule.decay_minutes, rule.decay_floor)
        return Award(objective_key(check_id), points, {
            "mode": "objective", "minutes": round(max(minutes_active, 0.0), 1), "of": rule.points,
            "decay": rule.decay})
    per_round = f"check:{check_id}:round:{round_number}"
    if rule.mode == "availability":
        if status == "error":
            return None
        points = availability_points(status == "up", down_streak, rule.points_per_round, rule.penalty_per_round,
                                     rule.grace_rounds)
        if points == 0:
            return None
        return Award(per_round, points, {"mode": "availability", "round": round_number, "status": status,
                                         "down_streak": down_streak})
    if rule.mode == "penalty":
        if status != "down" or rule.points_per_round == 0:
            return None
        return Award(per_round, -rule.points_per_round, {"mode": "penalty", "round": round_number})
    raise ValueError(f"unknown scoring mode {rule.mode!r}")
