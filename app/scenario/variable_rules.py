"""Validator rules for per-team variables and placeholders (see ``app.scenario.variables``).

Run on the document as written (placeholders intact) beside the model the
validator built from it rendered with sample values: every ``{{name}}`` is
known, every variable is used, no drawn value lands where it could break the
scenario (an id, a time, a port), and template files are UTF-8 text.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from pydantic import BaseModel, ValidationError

from app.scenario import variables as v
from app.scenario.model import Scenario, minutes

Loc = tuple[str | int, ...]
Found = Iterator[tuple[Loc, str]]


def problems(data: Any, scenario: Scenario, files: Path) -> list[tuple[Loc, str]]:
    """Every problem with the document's variables and placeholders, as ``(location, message)``."""
    if not isinstance(data, dict):
        return []
    declared = {variable.id for variable in scenario.variables}
    used: set[str] = set()
    found = list(_duplicates(scenario))
    for loc, name in v.placeholders(data):
        used.add(name)
        found.extend(_placeholder(scenario, declared, loc, name))
    for loc, text in _templates(scenario, files, found):
        for line_no, line in enumerate(text.splitlines(), start=1):
            for name in v.names_in(line):
                used.add(name)
                if name not in declared and not _display_form(name):
                    found.append((loc, f"line {line_no}: unknown variable {{{{{name}}}}}{_known(declared)}"))
    found.extend(_every_listed_value(data, scenario))
    for index, variable in enumerate(scenario.variables):
        if variable.id not in used:
            found.append((("variables", index, "id"),
                          f"the variable {variable.id!r} is not used anywhere (write {{{{{variable.id}}}}} where it goes)"))
    return found


MAX_LISTED_RENDERS = 50


def _every_listed_value(data: Any, scenario: Scenario) -> Found:
    """The document rendered with the 2nd, 3rd, … value of each ``values`` list must validate too.

    (The model already validated it with the first values; generated kinds share one shape.)
    """
    listed = [variable for variable in scenario.variables if variable.values is not None and len(variable.values) > 1]
    if not listed:
        return
    base = v.sample(list(scenario.variables))
    for k in range(1, min(max(len(variable.values or []) for variable in listed), MAX_LISTED_RENDERS)):
        values = {**base, **{variable.id: (variable.values or [])[k % len(variable.values or [])] for variable in listed}}
        try:
            Scenario.model_validate(v.render(data, values))
        except ValidationError as exc:
            chosen = ", ".join(f"{{{{{variable.id}}}}} = {values[variable.id]!r}" for variable in listed)
            for error in exc.errors()[:5]:
                why = ("the value does not have the form this field needs" if error["type"] == "string_pattern_mismatch"
                       else error["msg"].removeprefix("Value error, "))
                yield tuple(error["loc"]), f"with {chosen} (value {k + 1} of the list) this field is invalid: {why}"
            return


def after_type_errors(data: Any, error_locs: list[Loc]) -> list[tuple[Loc, str]]:
    """When the rendered document fails its types: which failures a drawn value caused, and why."""
    if not isinstance(data, dict) or not data.get("variables"):
        return []
    found = [(loc, _structural_message(name, field)) for loc, name, field in _structural(data)]
    samples = v.sample(v.declared(data))
    for loc in error_locs:
        raw = _raw_at(data, loc)
        names = [n for n in v.names_in(raw) if n in samples] if isinstance(raw, str) else []
        if names:
            filled = ", ".join(f"{{{{{n}}}}} = {samples[n]!r}" for n in names)
            found.append((loc, f"checked with the first value of each variable ({filled}); "
                               "every value a team can draw must fit this field"))
    return found


def _structural(data: Any) -> Iterator[tuple[Loc, str, str]]:
    for loc, name in v.placeholders(data):
        field = next((part for part in reversed(loc) if isinstance(part, str)), "")
        if field in v.STRUCTURAL_FIELDS:
            yield loc, name, field


def _structural_message(name: str, field: str) -> str:
    return (f"{{{{{name}}}}} cannot stand in {field!r}: a drawn value there could break the scenario "
            "(placeholders go into texts, names, addresses, passwords, commands and answers)")


def _raw_at(data: Any, loc: Loc) -> Any:
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def _duplicates(scenario: Scenario) -> Found:
    counts = Counter(variable.id for variable in scenario.variables)
    seen: set[str] = set()
    for index, variable in enumerate(scenario.variables):
        if counts[variable.id] > 1 and variable.id in seen:
            yield ("variables", index, "id"), f"duplicate id {variable.id!r}"
        seen.add(variable.id)


def _known(declared: set[str]) -> str:
    return f"; declared: {', '.join(sorted(declared))}" if declared else "; the scenario declares no variables"


def _display_form(name: str) -> bool:
    return bool(v.CLOCK.match(name) or v.ADDRESS.match(name))


def _placeholder(scenario: Scenario, declared: set[str], loc: Loc, name: str) -> Found:
    field = next((part for part in reversed(loc) if isinstance(part, str)), "")
    if loc[:1] == ("images",):
        yield loc, (f"{{{{{name}}}}} cannot stand in a scenario's image: one image serves every team "
                    "(put per-team values in the host's files)")
        return
    if field in v.STRUCTURAL_FIELDS:
        yield loc, _structural_message(name, field)
        return
    clock, address = v.CLOCK.match(name), v.ADDRESS.match(name)
    if clock:
        yield from _clock(scenario, loc, name, clock.groups())
    elif address:
        if address.group(1) not in {host.id for host in scenario.network.hosts}:
            yield loc, f"{{{{{name}}}}}: unknown host {address.group(1)!r}"
    elif name not in declared:
        yield loc, f"unknown variable {{{{{name}}}}}{_known(declared)}"
    elif not isinstance(_value_at(scenario, loc), str):
        yield loc, f"{{{{{name}}}}} cannot stand in {field!r}: the field is not text (a number, time or address)"


def _clock(scenario: Scenario, loc: Loc, name: str, groups: tuple[str | None, ...]) -> Found:
    day = int(groups[0] or 1)
    if day > len(scenario.days):
        yield loc, f"{{{{{name}}}}}: the scenario has {len(scenario.days)} day(s)"
    elif int(groups[1] or 0) * 60 + int(groups[2] or 0) > minutes(scenario.days[day - 1].length):
        yield loc, f"{{{{{name}}}}}: day {day} lasts {scenario.days[day - 1].length}"


def _value_at(model: Any, loc: Loc) -> Any:
    """The value at *loc* in the validated model (``None`` where the path does not lead)."""
    current = model
    for part in loc:
        if isinstance(part, int):
            current = current[part] if isinstance(current, (list, tuple)) and part < len(current) else None
        elif isinstance(current, BaseModel):
            fields = type(current).model_fields
            name = next((n for n, f in fields.items() if part in (n, f.alias)), part)
            current = getattr(current, name, None)
        elif isinstance(current, dict):
            current = current.get(part)
        else:
            current = getattr(current, part, None)
        if current is None:
            return None
    return current


def _templates(scenario: Scenario, files: Path, found: list[tuple[Loc, str]]) -> Iterator[tuple[Loc, str]]:
    """The text of every bundled file marked ``template: true`` (problems for non-text files)."""
    for h_index, host in enumerate(scenario.network.hosts):
        for f_index, placed in enumerate(host.files):
            if not placed.template:
                continue
            loc: Loc = ("network", "hosts", h_index, "files", f_index, "template")
            if placed.source is None:
                found.append((loc, "template: true is for a bundled source file (content is always filled)"))
                continue
            target = files / placed.source
            paths = sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else [target]
            for path in (p for p in paths if p.is_file()):
                try:
                    yield ("network", "hosts", h_index, "files", f_index, "source"), path.read_text("utf-8")
                except UnicodeDecodeError:
                    found.append((loc, f"{path.relative_to(files)} is not UTF-8 text; "
                                       "only text files can be templates"))
