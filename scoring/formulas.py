"""Pure point formulas: numbers in, numbers out. Chosen by name in scenarios."""
from __future__ import annotations

import math
from typing import Callable

DecayFormula = Callable[[int, float, float, float], int]
DECAY_FORMULAS: dict[str, DecayFormula] = {}


def register_decay(name: str) -> Callable[[DecayFormula], DecayFormula]:
    def decorator(fn: DecayFormula) -> DecayFormula:
        DECAY_FORMULAS[name] = fn
        return fn

    return decorator


@register_decay("none")
def no_decay(points: int, minutes: float, window: float, floor: float) -> int:
    """Full points whenever the objective is met."""
    return points


@register_decay("linear")
def linear_decay(points: int, minutes: float, window: float, floor: float) -> int:
    """From full points at minute 0 down to ``floor`` × points at ``window`` minutes, then flat."""
    if minutes <= 0:
        return points
    progress = min(minutes / window, 1.0) if window > 0 else 1.0
    return round(points * (1.0 - (1.0 - floor) * progress))


@register_decay("exponential")
def exponential_decay(points: int, minutes: float, window: float, floor: float) -> int:
    """Halves every ``window`` minutes (the half-life), never below ``floor`` × points."""
    if minutes <= 0:
        return points
    factor = math.pow(0.5, minutes / window) if window > 0 else 0.0
    return round(points * max(factor, floor))


@register_decay("step")
def step_decay(points: int, minutes: float, window: float, floor: float) -> int:
    """Full points within ``window`` minutes, ``floor`` × points after."""
    return points if minutes <= window else round(points * floor)


def decayed_points(name: str, points: int, minutes: float, window: float, floor: float) -> int:
    """Points for an objective met *minutes* after it became active."""
    if not 0.0 <= floor <= 1.0:
        raise ValueError("floor must be between 0 and 1")
    return DECAY_FORMULAS[name](points, max(minutes, 0.0), window, floor)


def availability_points(up: bool, consecutive_down: int, points: int, penalty: int, grace: int) -> int:
    """Points for one availability round: +points when up; -penalty once the grace is used."""
    if up:
        return points
    return -penalty if consecutive_down > grace else 0
