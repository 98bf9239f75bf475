"""Validating a scenario file: every problem at once, as ``FILE:LINE: path.to.field: message``.

A YAML syntax problem knows its column too: ``FILE:LINE:COLUMN: message``.

Three passes, each only on what the previous one accepted: safe YAML (with
the line of every value), the typed model, then references and time rules.
Nothing here touches Docker or the database.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from pydantic import ValidationError

from app.scenario import safe_yaml, variable_rules, variables
from app.scenario.model import Scenario
from app.scenario.references import cross_check
from scoring.checks import REMOVED_CHECK_TYPES

Loc = tuple[str | int, ...]
# Fields whose value is a tagged union: pydantic puts the tag after them in an error's location.
_UNION_FIELDS = {"when", "opens", "due", "at", "scoring"}
_UNION_LISTS = {"actions", "cleanup", "checks", "model_response"}
# A condition's kind is a tag too: after a field holding a condition, and after an item of any/all.
_CONDITION_FIELDS = {"condition", "skip_if", "not"}
_CONDITION_TAGS = {"check", "contacted", "submitted", "answered", "hint", "any", "all", "not"}


@dataclass(frozen=True)
class Problem:
    file: Path
    line: int
    path: str
    message: str
    column: int | None = None

    def __str__(self) -> str:
        if self.column is not None:
            return f"{self.file}:{self.line}:{self.column}: {self.message}"
        return f"{self.file}:{self.line}: {self.path or '(file)'}: {self.message}"


@dataclass(frozen=True)
class Validated:
    scenario: Scenario | None
    problems: list[Problem]
    raw: bytes
    text: str

    @property
    def ok(self) -> bool:
        return self.scenario is not None and not self.problems


def files_dir(path: Path) -> Path:
    """The folder of files bundled with *path* (``web-deface.yaml`` → ``web-deface/``)."""
    return path.with_suffix("")


def validate_file(path: Path) -> Validated:
    try:
        with path.open("rb") as handle:
            raw = handle.read(safe_yaml.MAX_BYTES + 1)
    except OSError as exc:
        return Validated(None, [Problem(path, 1, "", f"cannot read the file: {exc.strerror}")], b"", "")
    try:
        text = safe_yaml.decode(raw)
        document = safe_yaml.load(text)
    except safe_yaml.YamlProblem as exc:
        return Validated(None, [Problem(path, p.line, "", p.message, p.column) for p in exc.found], raw, "")
    if not isinstance(document.data, dict):
        return Validated(None, [Problem(path, 1, "", "a scenario is a mapping of fields (id, title, …)")], raw, text)
    try:
        scenario = Scenario.model_validate(variables.with_samples(document.data))  # placeholders filled
    except ValidationError as exc:
        problems = [_from_pydantic(path, document, error) for error in exc.errors()]
        problems += [Problem(path, document.line_of(loc), format_path(loc), message) for loc, message in
                     variable_rules.after_type_errors(document.data, [strip_tags(e["loc"]) for e in exc.errors()])]
        return Validated(None, _unique(problems), raw, text)
    problems = [
        Problem(path, document.line_of(loc), format_path(loc), message)
        for loc, message in cross_check(scenario, files_dir(path)) + variable_rules.problems(
            document.data, scenario, files_dir(path))
    ]
    return Validated(scenario, _unique(problems), raw, text)


def format_path(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def strip_tags(loc: Loc) -> Loc:
    """Drop the union tags pydantic inserts into locations (``checks.0.process.params``)."""
    out: list[str | int] = []
    skip_next = False
    for index, part in enumerate(loc):
        if skip_next:
            skip_next = False
            continue
        out.append(part)
        following = loc[index + 1] if index + 1 < len(loc) else None
        if isinstance(part, str) and part in _UNION_FIELDS:
            skip_next = True
        elif isinstance(part, int) and index > 0 and loc[index - 1] in _UNION_LISTS:
            skip_next = True
        elif following in _CONDITION_TAGS and (
                part in _CONDITION_FIELDS or (isinstance(part, int) and index > 0 and loc[index - 1] in ("any", "all"))):
            skip_next = True
    return tuple(out)


def _from_pydantic(path: Path, document: safe_yaml.Document, error: dict[str, Any]) -> Problem:
    loc = strip_tags(tuple(part for part in error["loc"] if part != "[key]"))  # a bad key: named by its path
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == "missing":
        message = "Japanese text is missing" if loc and loc[-1] == "ja" else "required field is missing"
        if loc and loc[-1] == "en":
            message = "English text is missing"
    elif kind in ("extra_forbidden", "unexpected_keyword_argument"):
        message = "unknown field"
    elif kind == "union_tag_invalid":
        field = str(ctx.get("discriminator", "type")).strip("'")
        loc = (*loc, field)
        message = f"unknown {field} {ctx.get('tag')!r}; known: {ctx.get('expected_tags')}"
        if loc[:1] == ("checks",) and ctx.get("tag") in REMOVED_CHECK_TYPES:
            message = REMOVED_CHECK_TYPES[str(ctx.get("tag"))]
    elif kind == "union_tag_not_found":
        field = str(ctx.get("discriminator", "type")).strip("'")
        message = f"required field {field} is missing"
    elif loc == ("expectations", "passive_at_most"):
        message = (f"{value!r} is not a number of points: passive_at_most is in points (the most a team that does "
                   "nothing may score, a whole number such as 0 or 50), not a share like perfect_at_least")
    elif kind == "string_pattern_mismatch":
        message = _pattern_message(str(ctx.get("pattern", "")), value)
    elif kind == "string_too_short" and value == "":
        message = "must not be empty"
    else:
        message = error["msg"].removeprefix("Value error, ")
        message = message if value is None or isinstance(value, (dict, list)) else f"{message} (got {value!r})"
    return Problem(path, document.line_of(loc), format_path(loc), message)


# Pattern → words and an example, tried in order (the first pattern that is a prefix of the field's wins).
_PATTERN_WORDS = (
    ("^http://", "is not a URL the range can reach: http:// then a host name of the range (lower-case letters, "
                 "digits, '.' and '-'), an optional :port and a path without spaces, e.g. http://www01/login.php"),
    ("^[a-z][a-z0-9_]", "is not a variable or parameter name: lower-case letters, digits and '_', starting with "
                        "a letter, at most 31 characters, e.g. c2_domain"),
    ("^[a-z][a-z0-9-]", "is not an id: lower-case letters, digits and '-', starting with a letter, e.g. web-01"),
    ("^[a-z_][a-z0-9_-]", "is not a Unix account name: lower-case letters, digits, '_' and '-', starting with a "
                          "letter or '_', at most 32 characters, e.g. staff"),
    ("^[a-z0-9][a-z0-9+.-]", "is not a Debian package name: lower-case letters, digits, '+', '-' and '.', at least "
                             "two characters, e.g. php-sqlite3"),
    ("^0?[0-7]", "is not a file mode: three or four octal digits, written in quotes, e.g. \"0644\" or \"0755\""),
    ("^/", "is not an absolute path: it starts with '/', e.g. /var/www/html/index.html"),
    ("^[ -~]", "is not an HTTP header value: printable ASCII only (no Japanese text, no line breaks), e.g. "
               "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"),
    ("^[A-Za-z0-9-]{1,64}", "is not an HTTP header name: letters, digits and '-', e.g. User-Agent"),
    ("^[A-Za-z0-9_.][A-Za-z0-9_./-]", "is not a path in the scenario's folder: letters, digits, '_', '.', '-' and '/' "
                                      "(no spaces), e.g. site/index.html"),
    ("^[a-z0-9]([a-z0-9-]", "is not a host name: lower-case labels of letters, digits and '-', joined by '.', "
                            "e.g. update.example-cdn.jp"),
    ("^[a-z0-9.-]", "is not a domain suffix: lower-case letters, digits, '.' and '-', e.g. example.jp"),
    ("^[0-9a-f]{64}", "is not a SHA-256 digest: 64 lower-case hexadecimal digits"),
    ("^[0-9A-Za-z.+-]", "is not a version: letters, digits, '.', '+' and '-', e.g. 1.2"),
    ("^[^/", "is not a file name: no '/' (a name, or a pattern like *.locked)"),
)


def _pattern_message(pattern: str, value: object) -> str:
    if "[0-5][0-9]" in pattern:
        return f"{value!r} is not a time of the form HH:MM (e.g. 00:20)"
    if "\\x00-\\x1f" in pattern:
        return "must not contain line breaks, other control characters" + (" or ':'" if ":]" in pattern else "")
    if pattern.startswith("^T[0-9]"):
        return f"{value!r} is not an ATT&CK technique id (e.g. T1566.001)"
    for start, words in _PATTERN_WORDS:
        if pattern.startswith(start):
            return f"{value!r} {words}"
    return f"{value!r} is not allowed here: it contains characters this field does not take"


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[str] = set()
    out = []
    for problem in sorted(problems, key=lambda p: (p.line, p.path)):
        if str(problem) not in seen:
            seen.add(str(problem))
            out.append(problem)
    return out
