"""A character's requests: recognising one in a team's free text, filling its parameters, expanding its actions.

Pure, on the scenario model. Text is compared NFKC-normalised and case-folded,
so 全角 ``ＶＰＮ０１``, half-width katakana and ``Vpn01`` all read as ``vpn01``.
Only ``host`` and ``choice`` parameters reach actions: their values are known
in advance, so every expansion was validated with the scenario; free text
(``text`` parameters) only ever goes into a reply.
"""
from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterator

import regex
from pydantic import TypeAdapter, ValidationError

from app.scenario.model import Action, Character, CharacterRequest, RequestParam, Scenario

PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]{0,30})\}")
PATTERN_TIMEOUT = 0.2  # seconds a scenario's pattern may spend on one message
MAX_COMBINATIONS = 500  # the validator expands at most this many parameter combinations per request
_ACTION = TypeAdapter(Action)


def normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def host_choices(param: RequestParam, model: Scenario) -> list[str]:
    """The hosts a ``host`` parameter offers: those it names, else every host trainees can see."""
    return list(param.hosts) or [h.id for h in model.network.hosts if not h.hidden]


def choices(param: RequestParam, model: Scenario) -> list[str]:
    return host_choices(param, model) if param.type == "host" else [c.id for c in param.choices]


def check_values(request: CharacterRequest, values: dict[str, str], model: Scenario) -> list[str]:
    """What is wrong with *values* for *request* (unknown, missing or not offered), in English; empty if fine."""
    problems = [f"unknown parameter {name!r}" for name in values if name not in {p.id for p in request.params}]
    for param in request.params:
        value = (values.get(param.id) or "").strip()
        if not value:
            if param.required:
                problems.append(f"{param.id} is required")
        elif param.type == "text":
            if len(value) > 500:
                problems.append(f"{param.id} is longer than 500 characters")
        elif value not in choices(param, model):
            problems.append(f"{param.id}: {value!r} is not one of {', '.join(choices(param, model))}")
    return problems


def matches(request: CharacterRequest, text: str) -> bool:
    """Whether free *text* asks for *request*: all its keywords occur, or one of its patterns matches."""
    said = normalise(text)
    if request.match.keywords and all(_occurs(item, said) for item in request.match.keywords):
        return True
    for pattern in request.match.patterns:
        try:
            if regex.search(pattern, said, flags=regex.IGNORECASE, timeout=PATTERN_TIMEOUT):
                return True
        except TimeoutError:
            continue
    return False


def _occurs(item: str | list[str], said: str) -> bool:
    words = [item] if isinstance(item, str) else item
    return any(normalise(word) in said for word in words)


@dataclass(frozen=True)
class Recognised:
    request: CharacterRequest
    params: dict[str, str]
    missing: tuple[str, ...]  # required parameters the text did not settle (none found, or several)


def recognise(character: Character, text: str, model: Scenario) -> Recognised | None:
    """The first of *character*'s requests *text* asks for (one with all its parameters found first)."""
    found = []
    for request in character.requests:
        if matches(request, text):
            params, missing = _params_from_text(request, text, model)
            found.append(Recognised(request, params, tuple(missing)))
    return next((r for r in found if not r.missing), found[0] if found else None)


def _params_from_text(request: CharacterRequest, text: str, model: Scenario) -> tuple[dict[str, str], list[str]]:
    said = normalise(text)
    hosts = {h.id: h for h in model.network.hosts}
    params: dict[str, str] = {}
    missing: list[str] = []
    for param in request.params:
        if param.type == "text":
            params[param.id] = text.strip()[:500]
            continue
        named = []
        for value in choices(param, model):
            if param.type == "host":
                host = hosts.get(value)
                names = [value, *(host.aliases if host else ()), *((host.name.ja, host.name.en) if host else ())]
            else:
                label = next(c.label for c in param.choices if c.id == value)
                names = [value, label.ja, label.en]
            if any(_word_in(normalise(name), said) for name in names):
                named.append(value)
        if len(named) == 1:
            params[param.id] = named[0]
        elif param.required:
            missing.append(param.id)
    return params, missing


def _word_in(word: str, said: str) -> bool:
    """Whether *word* occurs in *said* as a whole: "ws01" not inside "ws012", "端末1" not inside "端末10"."""
    if not word:
        return False
    before = r"(?<![a-z0-9_.-])" if re.match(r"[a-z0-9]", word) else ""
    after = r"(?![a-z0-9_-])" if re.match(r"[a-z0-9]", word[-1]) else ""
    return re.search(rf"{before}{re.escape(word)}{after}", said) is not None


def fill(text: str, values: dict[str, str]) -> str:
    """*text* with ``{param}`` replaced by the values given (other braces left as written)."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def placeholders(value: Any) -> Iterator[str]:
    """Every ``{name}`` in the strings of *value* (nested lists and mappings too)."""
    if isinstance(value, str):
        yield from PLACEHOLDER.findall(value)
    elif isinstance(value, dict):
        for inner in value.values():
            yield from placeholders(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from placeholders(inner)


def _substitute(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return fill(value, values)
    if isinstance(value, dict):
        return {key: _substitute(inner, values) for key, inner in value.items()}
    if isinstance(value, list):
        return [_substitute(inner, values) for inner in value]
    return value


class NotOffered(ValueError):
    """A host or choice value the request does not offer (a tampered row): nothing is expanded with it."""


def not_offered(request: CharacterRequest, values: dict[str, str], model: Scenario) -> list[str]:
    """What in *values* the request does not offer (unknown parameters, host/choice values not offered)."""
    params = {p.id: p for p in request.params}
    problems = [f"unknown parameter {name!r}" for name in values if name not in params]
    problems += [f"{name}: {value!r} is not offered" for name, value in values.items()
                 if name in params and params[name].type != "text" and value not in choices(params[name], model)]
    return problems


def _offered(request: CharacterRequest, values: dict[str, str], model: Scenario) -> None:
    problems = not_offered(request, values, model)
    if problems:
        raise NotOffered("; ".join(problems))


def expand_actions(request: CharacterRequest, values: dict[str, str], model: Scenario) -> list[Any]:
    """The request's actions with *values* put in, as validated inject actions.

    ``NotOffered`` when a value is not one the request offers, ``ValidationError`` when an
    expansion is not a valid action.
    """
    _offered(request, values, model)
    return [_ACTION.validate_python({"type": raw.type, "params": _substitute(raw.params, values)})
            for raw in request.actions]


def expand_attachments(request: CharacterRequest, values: dict[str, str], model: Scenario) -> list[Any]:
    """The request's attachments with *values* put in (``NotOffered`` as for ``expand_actions``)."""
    _offered(request, values, model)
    return [a.model_copy(update={"name": fill(a.name, values), "host": fill(a.host, values) if a.host else None,
                                 "path": fill(a.path, values) if a.path else None}) for a in request.attach]


def combinations(request: CharacterRequest, model: Scenario) -> Iterator[dict[str, str]]:
    """Every combination of the request's host/choice values (at most ``MAX_COMBINATIONS``)."""
    params = [p for p in request.params if p.type != "text"]
    pools = [choices(p, model) for p in params]
    for combo in itertools.islice(itertools.product(*pools), MAX_COMBINATIONS):
        yield dict(zip((p.id for p in params), combo))


def validation_problems(request: CharacterRequest, model: Scenario) -> Iterator[tuple[int, str]]:
    """``(action index, message)`` for every expansion of the request's actions that is not a valid action."""
    for values in combinations(request, model):
        for index, raw in enumerate(request.actions):
            try:
                _ACTION.validate_python({"type": raw.type, "params": _substitute(raw.params, values)})
            except ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(str(p) for p in error["loc"][2:]) or "params"  # (type tag, "params", field…)
                shown = ", ".join(f"{k}={v}" for k, v in values.items()) or "as written"
                got = error.get("input")
                value = f" would be {got!r}" if isinstance(got, (str, int, float)) else ""
                yield index, f"with {shown}: {where}{value}: {error['msg']}"
                return
