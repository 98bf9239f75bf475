"""The ``all`` check type: several checks that must hold together, scored as one.

For a desired state with more than one part ("the backdoor account is gone
*and* its sudoers file too"; "none of the attacker's three ways in works").
Each part is an ordinary check type with its parameters, validated when the
scenario loads; the parts run one after another in the same round.
"""
from __future__ import annotations

from typing import Any

from pydantic import Field, TypeAdapter, ValidationError, model_validator
from pydantic.dataclasses import dataclass

from scoring.checks.base import CHECK_TYPES, REMOVED_CHECK_TYPES, CheckResult, CheckType, register
from scoring.params import PARAMS_CONFIG
from scoring.probe import Probe, ProbeError


@dataclass(config=PARAMS_CONFIG, kw_only=True)
class Part:
    """One part of an ``all`` check: a check type's name and its (validated) parameters."""

    type: str
    params: Any

    @model_validator(mode="after")
    def _typed(self) -> Part:
        kind = CHECK_TYPES.get(self.type)
        if self.type in REMOVED_CHECK_TYPES:
            raise ValueError(REMOVED_CHECK_TYPES[self.type])
        if kind is None or kind is AllCheck:
            known = ", ".join(sorted(n for n, k in CHECK_TYPES.items() if k is not AllCheck))
            raise ValueError(f"unknown check type {self.type!r} for a part (known: {known})")
        try:
            params = TypeAdapter(kind.Params).validate_python(self.params)
        except ValidationError as exc:
            where = "; ".join(_located(e) for e in exc.errors())
            raise ValueError(f"{self.type} params: {where}") from None
        object.__setattr__(self, "params", params)
        return self


def _located(error: Any) -> str:
    message = error["msg"].removeprefix("Value error, ")  # a validator's own message, as the loader shows it
    return f"{'.'.join(map(str, error['loc']))}: {message}" if error["loc"] else message


@register("all")
class AllCheck(CheckType):
    summary = ("Every one of several checks holds: UP when all are UP, DOWN as soon as one is DOWN, ERROR when "
               "none is DOWN but one could not decide.")
    host_fields = ()

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        checks: list[Part] = Field(min_length=2, max_length=10)

    @classmethod
    def parts(cls, params: Any) -> list[tuple[tuple[Any, ...], type[CheckType], Any]]:
        return [(("checks", i, "params"), CHECK_TYPES[p.type], p.params) for i, p in enumerate(params.checks)]

    @classmethod
    def run(cls, params: AllCheck.Params, probe: Probe) -> CheckResult:
        undecided: list[str] = []
        held: list[str] = []
        for part in params.checks:
            try:
                result = CHECK_TYPES[part.type].run(part.params, probe)
            except ProbeError as exc:
                result = CheckResult("error", exc.reason)
            except Exception as exc:  # as run_check does: one part failing must not hide another's DOWN
                result = CheckResult("error", f"the check failed: {type(exc).__name__}: {exc}")
            if result.status == "down":
                return result
            (held if result.status == "up" else undecided).append(result.reason)
        if undecided:
            return CheckResult("error", undecided[0])
        return CheckResult("up", "; ".join(held))
