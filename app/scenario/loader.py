"""Load a scenario file's identity (id, version, titles, level, days) safely.

Only what registration needs is read here; the complete schema and its
validator build on this module.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MAX_SCENARIO_BYTES = 1_000_000
LEVELS = ("beginner", "intermediate", "advanced")


class ScenarioError(Exception):
    """A scenario file cannot be used; ``problems`` are ``FILE:LINE: field: message`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ScenarioFile:
    path: Path
    slug: str
    version: str
    title_ja: str
    title_en: str
    level: str
    days: int
    text: str
    content_hash: str
    document: dict[str, Any]


def load_scenario_file(path: Path) -> ScenarioFile:
    raw = _read_bounded(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError([f"{path}:1: (file): not UTF-8 text ({exc.reason} at byte {exc.start})"])
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", 0) + 1
        raise ScenarioError([f"{path}:{line}: (file): not valid YAML: {getattr(exc, 'problem', exc)}"])
    if not isinstance(document, dict):
        raise ScenarioError([f"{path}:1: (file): a scenario is a mapping of fields"])
    problems: list[str] = []

    def text_field(name: str) -> str:
        value = document.get(name)
        if not isinstance(value, (str, int, float)) or not str(value).strip():
            problems.append(f"{path}:1: {name}: required text is missing")
            return ""
        return str(value)

    slug, version = text_field("id"), text_field("version")
    title = document.get("title") if isinstance(document.get("title"), dict) else {}
    for lang in ("ja", "en"):
        if not isinstance(title.get(lang), str) or not title[lang].strip():
            problems.append(f"{path}:1: title.{lang}: required text is missing")
    level = document.get("level")
    if level not in LEVELS:
        problems.append(f"{path}:1: level: must be one of {', '.join(LEVELS)}")
    days = document.get("days")
    if not isinstance(days, list) or not 1 <= len(days) <= 2:
        problems.append(f"{path}:1: days: a list of one or two days is required")
    if problems:
        raise ScenarioError(problems)
    return ScenarioFile(
        path=path,
        slug=slug,
        version=version,
        title_ja=title["ja"],
        title_en=title["en"],
        level=str(level),
        days=len(days),  # type: ignore[arg-type]
        text=text,
        content_hash=hashlib.sha256(raw).hexdigest(),
        document=document,
    )


def _read_bounded(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SCENARIO_BYTES + 1)
    except OSError as exc:
        raise ScenarioError([f"{path}:1: (file): cannot read: {exc.strerror}"])
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ScenarioError([f"{path}:1: (file): larger than {MAX_SCENARIO_BYTES} bytes"])
    return raw
