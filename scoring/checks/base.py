"""The check kernel: results, the base class, the registry, and ``run_check`` (deadline, never raises).

Every check answers "does the defender's desired state hold?" — UP when it
does, DOWN when it does not, ERROR when the check itself could not decide.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any, Literal

import regex

from scoring.params import ParamsKind, registrar
from scoring.probe import Probe, ProbeError

Status = Literal["up", "down", "error"]
MAX_REASON = 300
REGEX_SECONDS = 1.0  # a scenario's pattern on content a trainee controls: never a stalled round


def search(pattern: str, text: str) -> regex.Match[str] | None:
    """``re.search`` under a time limit; a pattern that backtracks too long cannot decide (ERROR)."""
    try:
        return regex.search(pattern, text, timeout=REGEX_SECONDS)
    except TimeoutError:
        raise ProbeError(f"the pattern {pattern[:60]!r} took more than {REGEX_SECONDS:g} s on this content") from None


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """UP (the desired state holds), DOWN (it does not) or ERROR (could not tell), and why.

    ``reason`` is cut at 300 characters; ``seconds`` is how long the check took.
    """

    status: Status
    reason: str
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if len(self.reason) > MAX_REASON:
            object.__setattr__(self, "reason", self.reason[: MAX_REASON - 1] + "…")


class CheckType(ParamsKind):
    """Base class of a check type: its parameters, which of them name hosts, and ``run``.

    ``run(params, probe)`` reads the range only through *probe* and returns a
    ``CheckResult``; it may raise (``ProbeError`` when the probe cannot decide).
    """

    @classmethod
    def parts(cls, params: Any) -> list[tuple[tuple[Any, ...], type[CheckType], Any]]:
        """The checks this one is made of, each with where its parameters sit below ``params``
        (itself alone, but for ``all``): what names hosts is found through them."""
        return [((), cls, params)]

    @classmethod
    def run(cls, params: Any, probe: Probe) -> CheckResult:
        raise NotImplementedError(f"check type {getattr(cls, 'name', cls.__name__)!r} cannot run")


CHECK_TYPES: dict[str, type[CheckType]] = {}
register = registrar(CHECK_TYPES, "check type", requires="run")


# Check types that existed once and were taken out, with what to use instead (the validator says so).
REMOVED_CHECK_TYPES = {
    "command": (
        "check type 'command' was removed: it ran a program inside the host, which a trainee with root there "
        "can replace to forge the result; use account, password, crontab, search, hashes, file, process, "
        "tcp, http, blocked or ssh_login (docs/scenario-format.md, 'Checks')"
    ),
}


def verdict(holds: bool, reason: str) -> CheckResult:
    return CheckResult("up" if holds else "down", reason)


def text_of(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def excerpt(data: bytes, limit: int = 80) -> str:
    text = " ".join(text_of(data[: limit * 4]).split())
    return repr(text[:limit] + ("…" if len(text) > limit else ""))


def content_problem(text: str, contains: str | None, not_contains: str | None, what: str) -> str | None:
    """Why *text* fails the contains / not_contains patterns, or ``None`` when it passes."""
    if contains is not None and search(contains, text) is None:
        return f"{what} does not match {contains!r}"
    found = search(not_contains, text) if not_contains is not None else None
    if found is not None:
        return f"{what} matches {not_contains!r} ({found.group(0)[:60]!r})"
    return None


def run_check(kind_name: str, params: Any, probe: Probe, deadline_seconds: float) -> CheckResult:
    """Run one check under a deadline; never raises.

    A probe that cannot decide, a check that throws or one still running at the deadline is an
    ERROR with the reason; a late check is abandoned (its thread ends on the probe's timeouts).
    """
    started = time.monotonic()
    try:
        kind = CHECK_TYPES.get(kind_name)
        if kind is None:
            return CheckResult("error", f"unknown check type {kind_name!r}", 0.0)
        box: list[CheckResult] = []
        worker = threading.Thread(target=lambda: box.append(_guarded(kind, params, probe)),
                                  name=f"check-{kind_name}", daemon=True)
        worker.start()
        worker.join(max(deadline_seconds, 0.0))
        if not box:
            return CheckResult("error", f"the check did not finish within {deadline_seconds:g} s",
                               time.monotonic() - started)
        return dataclasses.replace(box[0], seconds=time.monotonic() - started)
    except Exception as exc:  # e.g. no thread could be started: still a result, never an exception
        return CheckResult("error", f"the check could not run: {type(exc).__name__}: {exc}",
                           time.monotonic() - started)


def _guarded(kind: type[CheckType], params: Any, probe: Probe) -> CheckResult:
    try:
        return kind.run(params, probe)
    except ProbeError as exc:
        return CheckResult("error", exc.reason)
    except Exception as exc:
        return CheckResult("error", f"the check failed: {type(exc).__name__}: {exc}")
