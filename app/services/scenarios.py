"""Registering scenario files in the database, one row per content version."""
from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Any, Callable

from pydantic import ValidationError

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Exercise, Scenario, Team, User
from app.scenario import ScenarioError, ScenarioFile, load_scenario_file
from app.scenario import conditions, variables
from app.scenario.validate import strip_tags
from app.scenario.model import Scenario as ScenarioModel
from app.scenario.model import Variable
from app.services import audit, team_texts
from app.services.errors import N_, NotFound


@dataclass(frozen=True)
class Registration:
    scenario: Scenario
    created: bool


def register_file(session: Session, loaded: ScenarioFile, *, actor: User | None = None) -> Registration:
    existing = session.scalar(
        select(Scenario).where(
            Scenario.slug == loaded.slug, Scenario.content_hash == loaded.content_hash
        )
    )
    if existing is not None:
        if not existing.bundle:  # registered before bundles were stored (migration 0002)
            existing.bundle = loaded.bundle()
        return Registration(existing, created=False)
    scenario = Scenario(
        slug=loaded.slug,
        version=loaded.version,
        content_hash=loaded.content_hash,
        title_ja=loaded.title_ja,
        title_en=loaded.title_en,
        level=loaded.level,
        days=loaded.days,
        source_path=str(loaded.path),
        source_text=loaded.text,
        document=loaded.document,
        bundle=loaded.bundle(),
    )
    session.add(scenario)
    session.flush()
    audit.record(
        session, "scenario.register", actor=actor, target=f"scenario:{loaded.slug}",
        version=loaded.version, content_hash=loaded.content_hash,
    )
    return Registration(scenario, created=True)


def register_directory(
    session: Session, directory: Path, *, actor: User | None = None
) -> tuple[list[Registration], list[str]]:
    """Register every ``*.yaml`` in *directory*; returns registrations and problems."""
    registrations: list[Registration] = []
    problems: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            registrations.append(register_file(session, load_scenario_file(path), actor=actor))
        except ScenarioError as exc:
            problems.extend(exc.problems)
    return registrations, problems


def latest(session: Session) -> list[Scenario]:
    """The newest registered version of each scenario id."""
    rows = session.scalars(select(Scenario).order_by(Scenario.slug, Scenario.id.desc()))
    seen: dict[str, Scenario] = {}
    for row in rows:
        seen.setdefault(row.slug, row)
    return list(seen.values())


def get_latest(session: Session, slug: str) -> Scenario:
    scenario = session.scalar(
        select(Scenario).where(Scenario.slug == slug).order_by(Scenario.id.desc()).limit(1)
    )
    if scenario is None:
        raise NotFound(
            N_("no registered scenario %(id)r (run `mamori scenario register`)"), id=slug
        )
    return scenario


_parsed: dict[tuple[Any, ...], ScenarioModel] = {}
_parsed_lock = Lock()


def parsed(scenario: Scenario) -> ScenarioModel:
    """The registered document as the typed model (it was validated when registered).

    Parsed once per process: a registered version never changes (a new one is
    a new row). Callers read the model and never change it.
    """
    return _cached((scenario.id, scenario.content_hash), lambda: _as_written(scenario.document))


def _cached(key: tuple[Any, ...], make: Callable[[], ScenarioModel]) -> ScenarioModel:
    with _parsed_lock:
        found = _parsed.get(key)
    if found is None:
        found = make()
        with _parsed_lock:
            if len(_parsed) > 256:
                _parsed.clear()
            _parsed[key] = found
    return found


def _as_written(document: dict[str, Any]) -> ScenarioModel:
    """The model with its ``{{placeholders}}`` as written, for views of the scenario in general.

    A field whose type cannot hold a placeholder (a DNS alias, a user name) shows the
    first possible value instead, so the model still validates.
    """
    if not document.get("variables"):
        return ScenarioModel.model_validate(document)
    data, samples = copy.deepcopy(document), variables.sample(variables.declared(document))
    for _ in range(4):
        try:
            return ScenarioModel.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                _fill_at(data, strip_tags(tuple(error["loc"])), samples)
    return ScenarioModel.model_validate(variables.with_samples(document))


def _fill_at(data: Any, loc: tuple[str | int, ...], samples: dict[str, str]) -> None:
    """Fill the placeholders of the deepest node of *data* that *loc* reaches."""
    parent, key = None, None
    node = data
    for part in loc:
        inside = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node))
        if not inside:
            break
        parent, key, node = node, part, node[part]  # type: ignore[index]
    if parent is not None:
        parent[key] = variables.render(node, samples)  # type: ignore[index]


def for_team(team: Team) -> ScenarioModel:
    """The exercise's scenario with *team*'s variables filled: what acts for or is shown to one team.

    ``{{clock:…}}`` and ``{{address:…}}`` are filled too, with their values now
    (``app.services.team_texts``).
    """
    scenario = team.exercise.scenario
    values = {**team_values(team), **_display_values(team)}
    if not values:
        return parsed(scenario)
    key = (scenario.id, scenario.content_hash, tuple(sorted(values.items())))
    return _cached(key, lambda: ScenarioModel.model_validate(variables.render(scenario.document, values)))


def _display_values(team: Team) -> dict[str, str]:
    scenario = team.exercise.scenario
    key = (scenario.id, scenario.content_hash)
    names = _display_names.get(key)
    if names is None:
        names = {n for _, n in variables.placeholders(scenario.document)
                 if variables.CLOCK.match(n) or variables.ADDRESS.match(n)}
        _display_names[key] = names
    if not names:
        return {}
    first = {h.id: h.segments[0].id for h in parsed(scenario).network.hosts}
    return team_texts.display_values(team, names, first)


_display_names: dict[tuple[int, str], set[str]] = {}


def team_values(team: Team) -> dict[str, str]:
    """*team*'s drawn values, drawn (from the exercise's seed and the team's number) the first time.

    Stored on the team and never drawn again: renaming the team or registering a new
    version of the scenario leaves them as they are (a variable the stored values lack
    is drawn then).
    """
    declared = parsed(team.exercise.scenario).variables
    stored = dict(team.variables or {})
    if all(v.id in stored for v in declared):
        return {v.id: str(stored[v.id]) for v in declared}
    exercise = team.exercise
    if exercise.variable_seed is None:
        exercise.variable_seed = secrets.token_hex(16)
    drawn = variables.draw(list(declared), exercise.variable_seed, team.number)
    team.variables = {**drawn, **stored}
    return {v.id: str(team.variables[v.id]) for v in declared}


@dataclass(frozen=True)
class TeamValues:
    """The scenario's variables and each team's drawn values, for the exercise's staff."""

    variables: list[Variable]
    teams: list[tuple[Team, dict[str, str]]]


def values_by_team(exercise: Exercise) -> TeamValues:
    """Each team of *exercise* with its values (drawn now for a team that has none yet)."""
    declared = list(parsed(exercise.scenario).variables)
    return TeamValues(declared, [(team, team_values(team)) for team in exercise.teams] if declared else [])


def bundle_for_team(team: Team) -> dict[str, str]:
    """The bundled files with the sources marked ``template: true`` filled with *team*'s values."""
    return variables.fill_templates(team.exercise.scenario.bundle or {}, parsed(team.exercise.scenario),
                                    team_values(team))


def forget_parsed() -> None:
    """Drop the parsed models (tests reuse row ids and rewrite documents in place; the platform never does)."""
    with _parsed_lock:
        _parsed.clear()


def describe(scenario: Scenario) -> str:
    """A plain-text overview of a registered scenario, for the terminal."""
    model = parsed(scenario)
    lines = [
        f"{model.id} v{model.version} — {model.title.ja} / {model.title.en}",
        f"level {model.level}, {len(model.days)} day(s): " + ", ".join(d.length for d in model.days),
        f"content hash {scenario.content_hash[:12]}, from {scenario.source_path}",
        "",
        "network:",
    ]
    for host in model.network.hosts:
        flags = ",".join(f for f, on in (("login", host.trainee_login), ("hidden", host.hidden)) if on)
        segments = ",".join(link.id for link in host.segments)
        lines.append(f"  {host.id:<12} {host.image:<12} [{segments}] {flags}")
    lines.append("characters:")
    for person in model.story.characters:
        reach = "" if person.reachable else "  (trainees cannot write)"
        lines.append(f"  {person.id:<20} {person.kind:<10} {person.name.ja}（{person.title.ja}）{reach}")
        for request in person.requests:
            params = ",".join(f"{p.id}:{p.type}" for p in request.params)
            extra = [f"after {request.delay}"] if request.delay != "00:00" else []
            extra += [f"if {conditions.describe(request.condition)}"] if request.condition is not None else []
            extra += [", ".join(a.type for a in request.actions)] if request.actions else []
            extra += [f"{request.points} pt"] if request.points else []
            lines.append(f"    request {request.id:<16} ({params})  {request.label.ja}  " + "; ".join(extra))
        if person.replies:
            lines.append(f"    {len(person.replies)} canned repl{'y' if len(person.replies) == 1 else 'ies'}")
    lines.append("injects:")
    for inject in model.injects:
        guard = "".join(f"  [{word} {conditions.describe(c)}]" for word, c in (
            ("if", inject.condition), ("skip if", inject.skip_if)) if c is not None)
        lines.append(f"  {inject.id:<20} {_moment_text(inject.when)}  {inject.title.ja}{guard}")
    lines.append("checks:")
    for check in model.checks:
        lines.append(f"  {check.id:<20} {check.type:<10} {check.scoring.mode}  {check.title.ja}")
    lines.append("tasks:")
    for task in model.tasks:
        lines.append(f"  {task.id:<20} {task.points:>4} pt  {task.prompt.ja}")
    lines.append("reports:")
    for report in model.reports:
        total = sum(c.points for c in report.rubric)
        to = f" to {report.to}" if report.to else ""
        lines.append(f"  {report.id:<20} {report.kind:<10} {total:>4} pt  due {_moment_text(report.due)}{to}")
    return "\n".join(lines)


def _moment_text(moment: object) -> str:
    if hasattr(moment, "after"):
        return f"{moment.inject}+{moment.delay}"  # type: ignore[attr-defined]
    if hasattr(moment, "condition"):
        return f"day {moment.day} when {conditions.describe(moment.condition)}"  # type: ignore[attr-defined]
    return f"day {moment.day} {moment.at}"  # type: ignore[attr-defined]
