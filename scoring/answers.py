"""Matching a team's answer against a task's accepted answers (pure functions)."""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable


def normalize(text: str) -> str:
    """NFKC (full-width ≡ half-width), case-folded, inner whitespace collapsed, trimmed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.split())


def matches_exact(answer: str, value: str) -> bool:
    return normalize(answer) == normalize(value)


def matches_regex(answer: str, pattern: str) -> bool:
    return re.fullmatch(pattern, normalize(answer), flags=re.IGNORECASE) is not None


def matches_one_of(answer: str, values: Iterable[str]) -> bool:
    wanted = normalize(answer)
    return any(wanted == normalize(v) for v in values)


def split_items(answer: str, separators: str = ",、，;\n") -> set[str]:
    items = re.split("[" + re.escape(separators) + "]", unicodedata.normalize("NFKC", answer))
    return {normalize(item) for item in items if normalize(item)}


def matches_all_of(answer: str, values: Iterable[str]) -> bool:
    """Every value is given (in any order, separated by commas or new lines), nothing else."""
    return split_items(answer) == {normalize(v) for v in values}
