"""Matching a team's answer against a task's accepted answers (pure functions).

Regular expressions are written by scenario authors and run against text a
trainee typed, so they go through the ``regex`` module with a time limit: a
pattern that backtracks for ever (``(a|aa)+$``) gives "no match", never a
stuck worker or an exception.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Protocol, Sequence

import regex

REGEX_TIMEOUT = 0.5  # seconds one pattern may spend on one answer


class AnswerRule(Protocol):
    """What ``accepts`` needs of a task's answer: how to match and the accepted values."""

    @property
    def match(self) -> str: ...

    @property
    def values(self) -> Sequence[str]: ...


def normalize(text: str) -> str:
    """NFKC (full-width ≡ half-width), case-folded, inner whitespace collapsed, trimmed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.split())


def matches_exact(answer: str, value: str) -> bool:
    return normalize(answer) == normalize(value)


def matches_regex(answer: str, pattern: str, *, timeout: float = REGEX_TIMEOUT) -> bool:
    """The whole normalised answer matches *pattern*; a timeout or a broken pattern is no match."""
    try:
        return regex.fullmatch(pattern, normalize(answer), flags=regex.IGNORECASE, timeout=timeout) is not None
    except (TimeoutError, regex.error):
        return False


def matches_one_of(answer: str, values: Iterable[str]) -> bool:
    wanted = normalize(answer)
    return any(wanted == normalize(v) for v in values)


def split_items(answer: str, separators: str = ",、，;\n") -> set[str]:
    items = re.split("[" + re.escape(separators) + "]", unicodedata.normalize("NFKC", answer))
    return {normalize(item) for item in items if normalize(item)}


def matches_all_of(answer: str, values: Iterable[str]) -> bool:
    """Every value is given (in any order, separated by commas or new lines), nothing else."""
    return split_items(answer) == {normalize(v) for v in values}


def accepts(answer_rule: AnswerRule, given: str) -> bool:
    """Whether *given* is an accepted answer under *answer_rule* (a scenario task's ``answer``).

    ``exact`` and ``one_of`` accept any one value, ``regex`` any one pattern,
    ``all_of`` every value and nothing else; an unknown ``match`` accepts nothing.
    """
    values = list(answer_rule.values)
    if answer_rule.match in ("exact", "one_of"):
        return matches_one_of(given, values)
    if answer_rule.match == "regex":
        return any(matches_regex(given, pattern) for pattern in values)
    if answer_rule.match == "all_of":
        return matches_all_of(given, values)
    return False
