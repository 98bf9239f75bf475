"""Rules a scenario must follow beyond its types: references resolve, times fall within days.

Each rule yields ``(location, message)``; locations are paths into the YAML
document so the validator can name the line.
"""
from __future__ import annotations

import re
from collections import Counter
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import regex

from app.scenario import conditions, images, requests
from app.scenario.model import After, Answered, At, Condition, Contacted, HintTaken, Scenario, Submitted, When, minutes
from range.actions import ACTION_TYPES
from scoring import answers
from range.labels import ACCESS_SEGMENT as RESERVED_SEGMENT
from range.labels import GATEWAY_HOST as RESERVED_HOST
from scoring.checks import CHECK_TYPES

Loc = tuple[str | int, ...]
Found = Iterator[tuple[Loc, str]]


def cross_check(scenario: Scenario, files_dir: Path) -> list[tuple[Loc, str]]:
    rules = (_duplicates, _network, images.check, _injects, _checks, _tasks_and_reports, _characters, _model_response)
    found = [problem for rule in rules for problem in rule(scenario, files_dir)]
    return found + list(_visible_commands(scenario))


def _duplicates(s: Scenario, _files: Path) -> Found:
    collections: dict[str, list[Any]] = {
        "network.segments": s.network.segments, "network.hosts": s.network.hosts,
        "story.characters": s.story.characters, "injects": s.injects, "checks": s.checks,
        "tasks": s.tasks, "reports": s.reports,
    }
    for report_index, report in enumerate(s.reports):
        collections[f"reports.{report_index}.rubric"] = report.rubric
    for c_index, character in enumerate(s.story.characters):
        collections[f"story.characters.{c_index}.requests"] = character.requests
        for r_index, request in enumerate(character.requests):
            collections[f"story.characters.{c_index}.requests.{r_index}.params"] = request.params
    for name, items in collections.items():
        counts = Counter(item.id for item in items)
        base: Loc = tuple(int(p) if p.isdigit() else p for p in name.split("."))
        for index, item in enumerate(items):
            if counts[item.id] > 1 and [i.id for i in items].index(item.id) != index:
                yield (*base, index, "id"), f"duplicate id {item.id!r}"


def _network(s: Scenario, files: Path) -> Found:
    segments = {seg.id: seg for seg in s.network.segments}
    hosts = {host.id: host for host in s.network.hosts}
    for i, segment in enumerate(s.network.segments):
        if segment.id == RESERVED_SEGMENT:
            yield ("network", "segments", i, "id"), f"{RESERVED_SEGMENT!r} is the platform's own segment name"
    for i, host in enumerate(s.network.hosts):
        if host.id == RESERVED_HOST:
            yield ("network", "hosts", i, "id"), f"{RESERVED_HOST!r} is the platform's own host name"
    for index, segment_id in enumerate(s.network.access_segments):
        if segment_id not in segments:
            yield ("network", "access_segments", index), f"unknown segment {segment_id!r}"
    fixed = [(i, seg) for i, seg in enumerate(s.network.segments) if seg.subnet is not None]
    for n, (i, seg) in enumerate(fixed):
        for j, other in fixed[:n]:
            if seg.subnet.overlaps(other.subnet):  # type: ignore[union-attr]
                yield ("network", "segments", i, "subnet"), f"overlaps segment {other.id!r} ({other.subnet})"
    names: dict[str, str] = {h.id: h.id for h in s.network.hosts}
    for i, host in enumerate(s.network.hosts):
        for k, alias in enumerate(host.aliases):
            if alias in names:
                yield ("network", "hosts", i, "aliases", k), f"the name {alias!r} is already used by {names[alias]!r}"
            names.setdefault(alias, host.id)
    if not any(h.trainee_login for h in s.network.hosts):
        yield ("network", "hosts"), "no host has trainee_login: true; trainees could not log in anywhere"
    for i, host in enumerate(s.network.hosts):
        at: Loc = ("network", "hosts", i)
        yield from _host_segments(at, host, segments)
        if host.trainee_login and not host.accounts:
            yield (*at, "accounts"), "a host trainees log in to needs at least one account"
        if host.trainee_login and host.hidden:
            yield (*at, "hidden"), "a hidden host cannot also allow trainee_login"
        if host.forwarding and "NET_ADMIN" not in host.capabilities:
            yield (*at, "capabilities"), "a forwarding host (router/firewall) needs the NET_ADMIN capability"
        if host.gateway is not None:
            gateway = hosts.get(host.gateway)
            if gateway is None:
                yield (*at, "gateway"), f"unknown host {host.gateway!r}"
            elif not gateway.forwarding:
                yield (*at, "gateway"), f"host {host.gateway!r} does not forward (set forwarding: true on it)"
            elif not {g.id for g in gateway.segments} & {g.id for g in host.segments}:
                yield (*at, "gateway"), f"host {host.gateway!r} shares no segment with {host.id!r}"
        for k, placed in enumerate(host.files):
            if (placed.content is None) == (placed.source is None):
                yield (*at, "files", k), "give exactly one of content or source"
            elif placed.source is not None:
                yield from _bundled((*at, "files", k, "source"), placed.source, files, folder_ok=True)


def _host_segments(at: Loc, host: Any, segments: dict[str, Any]) -> Found:
    seen: set[str] = set()
    for k, link in enumerate(host.segments):
        loc = (*at, "segments", k)
        if link.id in seen:
            yield loc, f"segment {link.id!r} listed twice"
        seen.add(link.id)
        segment = segments.get(link.id)
        if segment is None:
            yield loc, f"unknown segment {link.id!r}"
        elif link.address is not None:
            subnet: IPv4Network | None = segment.subnet
            if subnet is None:
                yield (*loc, "address"), f"a fixed address needs a fixed subnet on segment {link.id!r}"
            elif link.address not in subnet or link.address in (subnet.network_address, subnet.broadcast_address):
                yield (*loc, "address"), f"{link.address} is not a host address of {subnet}"
            elif int(link.address) - int(subnet.network_address) in (1, 210):
                yield (*loc, "address"), f"{link.address} is reserved (.1 is the Docker host, .210 the gateway)"


def _bundled(loc: Loc, source: str, files: Path, *, folder_ok: bool = False) -> Found:
    """A bundled file exists in the scenario's folder (with *folder_ok*, a folder of files may be named too)."""
    target = (files / source).resolve()
    if not target.is_relative_to(files.resolve()):
        yield loc, f"{source!r} points outside the scenario's folder {files.name}/"
    elif any(part in ("", ".", "..") for part in source.rstrip("/").split("/")):
        yield loc, f"{source!r}: write the path plainly, like site/index.html (no '.', '..' or '//')"
    elif folder_ok and target.is_dir():
        if not any(p.is_file() for p in target.rglob("*")):
            yield loc, f"the bundled folder {source!r} is empty: it would place no files"
    elif target.is_dir():
        yield loc, f"{source!r} is a folder; name one file here (only a host's files: copy folders)"
    elif not target.is_file():
        yield loc, f"bundled file {source!r} not found in {files.name}/"


def _day_rules(s: Scenario, loc: Loc, day: int, clock: str, field: str = "at") -> Found:
    """*loc* holds ``day`` and the time *field*; the time must fall inside that day."""
    if day > len(s.days):
        yield (*loc, "day"), f"day {day} does not exist: the scenario has {len(s.days)} day(s)"
    elif minutes(clock) >= minutes(s.days[day - 1].length):
        yield (*loc, field), f"time {clock} is outside day {day}, which lasts {s.days[day - 1].length}"


def _moment(s: Scenario, loc: Loc, moment: Any, injects: set[str]) -> Found:
    if isinstance(moment, At):
        yield from _day_rules(s, loc, moment.day, moment.at)
    elif isinstance(moment, After):
        if moment.inject not in injects:
            yield (*loc, "after"), f"unknown inject {moment.inject!r}"
        elif moment.on_finish and not next(i for i in s.injects if i.id == moment.inject).actions:
            yield (*loc, "after", "finished"), (
                f"inject {moment.inject!r} has no actions to finish (it only sends a message); "
                f"wait for it with after: {moment.inject}")


def _injects(s: Scenario, files: Path) -> Found:
    inject_ids = {inject.id for inject in s.injects}
    characters = {c.id for c in s.story.characters}
    for i, inject in enumerate(s.injects):
        at: Loc = ("injects", i)
        when = inject.when
        if isinstance(when, When):
            yield from _day_rules(s, (*at, "when"), when.day, when.not_before, "not_before")
            if when.give_up_at is not None:
                yield from _day_rules(s, (*at, "when"), when.day, when.give_up_at, "give_up_at")
            yield from _condition_refs(s, (*at, "when", "condition"), when.condition)
        else:
            yield from _moment(s, (*at, "when"), when, inject_ids)
            if isinstance(when, After) and when.inject == inject.id:
                yield (*at, "when", "after"), "an inject cannot wait for itself"
        for field in ("condition", "skip_if"):
            if getattr(inject, field) is not None:
                yield from _condition_refs(s, (*at, field), getattr(inject, field))
        if not inject.actions and inject.message is None:
            yield at, "an inject needs actions, a message, or both"
        if inject.message is not None and inject.message.sender not in characters:
            yield (*at, "message", "from"), f"unknown character {inject.message.sender!r}"
        for field in ("actions", "cleanup"):
            for k, action in enumerate(getattr(inject, field)):
                yield from _action_refs(s, (*at, field, k, "params"), action, files)
    yield from _after_cycles_and_times(s)


def _condition_refs(s: Scenario, loc: Loc, condition: Any) -> Found:
    """Every name a condition uses exists: checks, characters and their requests, reports, tasks."""
    checks = {c.id for c in s.checks}
    characters = {c.id: c for c in s.story.characters}
    tasks = {t.id: t for t in s.tasks}
    for below, leaf in conditions.walk(condition):
        at = (*loc, *below)
        if isinstance(leaf, Condition) and leaf.check not in checks:
            yield (*at, "check"), f"unknown check {leaf.check!r}"
        elif isinstance(leaf, Contacted):
            character = characters.get(leaf.contacted)
            if character is None:
                yield (*at, "contacted"), f"unknown character {leaf.contacted!r}"
            elif leaf.request is not None and leaf.request not in {r.id for r in character.requests}:
                yield (*at, "request"), f"character {leaf.contacted!r} has no request {leaf.request!r}"
            elif leaf.fulfilled and leaf.request is None:
                yield (*at, "fulfilled"), "fulfilled: true needs a request"
        elif isinstance(leaf, Submitted):
            if leaf.report is not None and leaf.report not in {r.id for r in s.reports}:
                yield (*at, "report"), f"unknown report {leaf.report!r}"
            if leaf.by is not None:
                yield from _day_rules(s, (*at, "by"), leaf.by.day, leaf.by.at)
        elif isinstance(leaf, Answered) and leaf.task not in tasks:
            yield (*at, "task"), f"unknown task {leaf.task!r}"
        elif isinstance(leaf, HintTaken) and isinstance(leaf.hint_taken, str):
            task = tasks.get(leaf.hint_taken)
            if task is None:
                yield (*at, "hint_taken"), f"unknown task {leaf.hint_taken!r}"
            elif not task.hints:
                yield (*at, "hint_taken"), f"task {leaf.hint_taken!r} has no hints"


def _characters(s: Scenario, files: Path) -> Found:
    """Requests: parameters offer real hosts, placeholders name parameters, every expansion is a valid action."""
    hosts = {h.id: h for h in s.network.hosts}
    for c, character in enumerate(s.story.characters):
        for r, request in enumerate(character.requests):
            at: Loc = ("story", "characters", c, "requests", r)
            if request.actions or request.attach or request.match.keywords or request.match.patterns:
                if not character.reachable:
                    yield at, f"character {character.id!r} cannot be written to (contactable is false)"
            names = {p.id: p for p in request.params}
            for k, param in enumerate(request.params):
                ploc = (*at, "params", k)
                if param.type == "host":
                    for h, host in enumerate(param.hosts):
                        if host not in hosts:
                            yield (*ploc, "hosts", h), f"unknown host {host!r}"
                        elif hosts[host].hidden:
                            yield (*ploc, "hosts", h), f"host {host!r} is hidden from trainees"
                    if param.choices:
                        yield (*ploc, "choices"), "a host parameter offers hosts (hosts:), not choices"
                elif param.type == "choice" and not param.choices:
                    yield (*ploc, "choices"), "a choice parameter needs choices"
                elif param.type == "text" and (param.hosts or param.choices):
                    yield ploc, "a text parameter offers neither hosts nor choices"
            for k, pattern in enumerate(request.match.patterns):
                try:
                    regex.compile(pattern)
                except regex.error as exc:
                    yield (*at, "match", "patterns", k), f"not a valid regular expression: {exc}"
            for field in ("reply", "refuse", "repeat"):
                text = getattr(request, field)
                for lang in ("ja", "en"):
                    for name in requests.placeholders(getattr(text, lang) if text is not None else ""):
                        if name not in names:
                            yield (*at, field, lang), f"{{{name}}} is not a parameter of request {request.id!r}"
            for k, raw in enumerate(request.actions):
                for name in requests.placeholders(raw.params):
                    if name not in names:
                        yield (*at, "actions", k, "params"), f"{{{name}}} is not a parameter of request {request.id!r}"
                    elif names[name].type == "text":
                        yield (*at, "actions", k, "params"), (
                            f"{{{name}}} is free text: only host and choice parameters may go into actions")
                if raw.type not in ACTION_TYPES:
                    yield (*at, "actions", k, "type"), (
                        f"unknown action type {raw.type!r} (types: {', '.join(sorted(ACTION_TYPES))})")
            if any(raw.type not in ACTION_TYPES for raw in request.actions):
                continue
            bad_placeholders = any(n not in names or names[n].type == "text"
                                   for raw in request.actions for n in requests.placeholders(raw.params))
            if not bad_placeholders:
                yield from _expansions(s, at, request, files)
            for k, attachment in enumerate(request.attach):
                aloc = (*at, "attach", k)
                if (attachment.source is None) == (attachment.host is None or attachment.path is None):
                    yield aloc, "give either host and path (a file of the team's range) or source (a bundled file)"
                elif attachment.source is not None:
                    yield from _bundled((*aloc, "source"), attachment.source, files)
                elif attachment.host not in hosts:
                    name = (attachment.host or "").strip("{}")
                    if not (attachment.host or "").startswith("{") or names.get(name) is None or names[name].type != "host":
                        yield (*aloc, "host"), f"unknown host {attachment.host!r}"
            if request.condition is not None:
                yield from _condition_refs(s, (*at, "condition"), request.condition)
            if request.refuse is not None and request.condition is None:
                yield (*at, "refuse"), "a refusal needs a condition to refuse on"
    yield from _request_cycles(s)


def _expansions(s: Scenario, at: Loc, request: Any, files: Path) -> Found:
    problems = list(requests.validation_problems(request, s))
    for index, message in problems:
        yield (*at, "actions", index, "params"), message
    if problems:
        return
    seen: set[tuple[Loc, str]] = set()
    for values in requests.combinations(request, s):
        for index, action in enumerate(requests.expand_actions(request, values, s)):
            for found in _action_refs(s, (*at, "actions", index, "params"), action, files):
                if found not in seen:
                    seen.add(found)
                    yield found


def _request_cycles(s: Scenario) -> Found:
    """A request whose condition waits (through other requests' conditions) for its own fulfilment never runs."""
    graph: dict[tuple[str, str], set[tuple[str, str]]] = {}
    where: dict[tuple[str, str], Loc] = {}
    for c, character in enumerate(s.story.characters):
        for r, request in enumerate(character.requests):
            key = (character.id, request.id)
            where[key] = ("story", "characters", c, "requests", r, "condition")
            graph[key] = {(leaf.contacted, leaf.request) for _, leaf in
                          (conditions.walk(request.condition) if request.condition is not None else ())
                          if isinstance(leaf, Contacted) and leaf.request is not None}
    for start in graph:
        seen, stack = set(), [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    yield where[start], "cyclic conditions: " + " → ".join("/".join(k) for k in [*path, nxt])
                    stack = []
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))


def _action_refs(s: Scenario, loc: Loc, action: Any, files: Path) -> Found:
    kind = ACTION_TYPES[action.type]
    yield from _host_refs(s, loc, action.params, kind.host_fields, kind.url_fields)
    for field in kind.bundled_fields:
        yield from _bundled((*loc, field), getattr(action.params, field), files)


def _host_refs(s: Scenario, loc: Loc, params: Any, host_fields: tuple[str, ...], url_fields: tuple[str, ...]) -> Found:
    hosts = {h.id: h for h in s.network.hosts}
    names = set(hosts) | {alias for h in s.network.hosts for alias in h.aliases}
    for field in host_fields:
        name = getattr(params, field)
        if name is not None and name not in hosts:  # None: an optional host left out
            yield (*loc, "from" if field == "source" else field), f"unknown host {name!r}"
    vantage = hosts.get(getattr(params, host_fields[0], ""), None) if host_fields else None
    for field in url_fields:
        name = urlsplit(getattr(params, field)).hostname or ""
        if name not in names:
            yield (*loc, field), f"the URL names unknown host {name!r}"
        elif vantage is not None and not vantage.hidden and name in hosts and hosts[name].hidden:
            yield (*loc, field), _hidden_message(hosts[name])


def _hidden_message(host: Any) -> str:
    hint = f"use one of its aliases ({', '.join(host.aliases)})" if host.aliases else "give it an alias"
    return f"the hidden host {host.id!r} is not known by name on visible hosts; {hint}"


def _hidden_names(s: Scenario, text: str) -> Iterator[Any]:
    for host in s.network.hosts:
        if host.hidden and re.search(rf"(?<![\w.-]){re.escape(host.id)}(?![\w-])", text):
            yield host


def _visible_commands(s: Scenario) -> Found:
    """Commands run on visible hosts cannot use hidden hosts' ids (their /etc/hosts lacks them)."""
    hosts = {h.id: h for h in s.network.hosts}
    for i, host in enumerate(s.network.hosts):
        if not host.hidden:
            for k, command in enumerate(host.startup):
                for hidden in _hidden_names(s, command):
                    yield ("network", "hosts", i, "startup", k), _hidden_message(hidden)
    for i, inject in enumerate(s.injects):
        for field in ("actions", "cleanup"):
            for k, action in enumerate(getattr(inject, field)):
                target = hosts.get(getattr(action.params, "host", ""))
                command = getattr(action.params, "command", None)
                if target is None or target.hidden or command is None:
                    continue
                text = command if isinstance(command, str) else " ".join(command)
                for hidden in _hidden_names(s, text):
                    yield ("injects", i, field, k, "params", "command"), _hidden_message(hidden)
    for i, step in enumerate(s.model_response):
        if step.do == "command" and step.host in hosts and not hosts[step.host].hidden:
            for hidden in _hidden_names(s, step.command):
                yield ("model_response", i, "command"), _hidden_message(hidden)


def _after_cycles_and_times(s: Scenario) -> Found:
    by_id = {inject.id: (i, inject) for i, inject in enumerate(s.injects)}
    for i, inject in enumerate(s.injects):
        chain, current = [inject.id], inject
        while isinstance(current.when, After) and current.when.inject in by_id:
            nxt = current.when.inject
            if nxt in chain:
                if nxt == inject.id and len(chain) > 1:
                    yield ("injects", i, "when", "after"), "cycle in after chain: " + " → ".join([*chain, nxt])
                break
            chain.append(nxt)
            current = by_id[nxt][1]
        else:
            if isinstance(current.when, At) and isinstance(inject.when, After):
                total = minutes(current.when.at) + sum(
                    minutes(by_id[c][1].when.delay) for c in chain[:-1]  # type: ignore[union-attr]
                )
                day = current.when.day
                if day <= len(s.days) and total >= minutes(s.days[day - 1].length):
                    yield ("injects", i, "when", "delay"), (
                        f"falls at {total // 60:02d}:{total % 60:02d} on day {day}, after the day ends "
                        f"({s.days[day - 1].length})"
                    )


def _checks(s: Scenario, _files: Path) -> Found:
    injects = {inject.id for inject in s.injects}
    for i, check in enumerate(s.checks):
        for below, kind, params in CHECK_TYPES[check.type].parts(check.params):
            yield from _host_refs(s, ("checks", i, "params", *below), params, kind.host_fields, kind.url_fields)
        if check.active_from is not None and check.active_from not in injects:
            yield ("checks", i, "active_from"), f"unknown inject {check.active_from!r}"


def _tasks_and_reports(s: Scenario, _files: Path) -> Found:
    injects = {inject.id for inject in s.injects}
    for i, task in enumerate(s.tasks):
        if task.opens is not None:
            yield from _moment(s, ("tasks", i, "opens"), task.opens, injects)
        if task.answer.match == "regex":
            for k, pattern in enumerate(task.answer.values):
                try:
                    regex.compile(pattern)  # the module answers are matched with
                except regex.error as exc:
                    yield ("tasks", i, "answer", "values", k), f"not a valid regular expression: {exc}"
    characters = {c.id: c for c in s.story.characters}
    for i, report in enumerate(s.reports):
        yield from _moment(s, ("reports", i, "due"), report.due, injects)
        if report.to is not None and report.to not in characters:
            yield ("reports", i, "to"), f"unknown character {report.to!r}"


def _model_response(s: Scenario, _files: Path) -> Found:
    injects = {inject.id for inject in s.injects}
    hosts = {h.id: h for h in s.network.hosts}
    tasks = {t.id: t for t in s.tasks}
    reports = {r.id for r in s.reports}
    for i, step in enumerate(s.model_response):
        at: Loc = ("model_response", i)
        yield from _moment(s, (*at, "at"), step.at, injects)
        if step.do == "command":
            host = hosts.get(step.host)
            if host is None:
                yield (*at, "host"), f"unknown host {step.host!r}"
            elif not host.trainee_login:
                yield (*at, "host"), f"trainees cannot log in to {step.host!r} (trainee_login is false)"
            elif step.user not in {a.user for a in host.accounts}:
                yield (*at, "user"), f"{step.user!r} is not an account of {step.host!r}"
        elif step.do == "answer":
            task = tasks.get(step.task)
            if task is None:
                yield (*at, "task"), f"unknown task {step.task!r}"
            elif not answers.accepts(task.answer, step.value):
                yield (*at, "value"), f"the model answer is not accepted by task {task.id!r}"
        elif step.do == "report" and step.report not in reports:
            yield (*at, "report"), f"unknown report {step.report!r}"
        elif step.do == "message":
            yield from _message_step(s, at, step)


def _message_step(s: Scenario, at: Loc, step: Any) -> Found:
    character = next((c for c in s.story.characters if c.id == step.to), None)
    if character is None:
        yield (*at, "to"), f"unknown character {step.to!r}"
        return
    if not character.reachable:
        yield (*at, "to"), f"character {step.to!r} cannot be written to (contactable is false)"
    if step.request is None:
        if step.params:
            yield (*at, "params"), "parameters need a request"
        return
    request = next((r for r in character.requests if r.id == step.request), None)
    if request is None:
        yield (*at, "request"), f"character {step.to!r} has no request {step.request!r}"
        return
    for problem in requests.check_values(request, step.params, s):
        yield (*at, "params"), problem

