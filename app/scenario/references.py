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

from app.scenario.model import After, At, Scenario, When, minutes
from range.actions import ACTION_TYPES
from range.images import available_images
from scoring import answers
from range.labels import ACCESS_SEGMENT as RESERVED_SEGMENT
from range.labels import GATEWAY_HOST as RESERVED_HOST
from scoring.checks import CHECK_TYPES

Loc = tuple[str | int, ...]
Found = Iterator[tuple[Loc, str]]


def cross_check(scenario: Scenario, files_dir: Path) -> list[tuple[Loc, str]]:
    rules = (_duplicates, _network, _injects, _checks, _tasks_and_reports, _model_response)
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
    for name, items in collections.items():
        counts = Counter(item.id for item in items)
        base: Loc = tuple(int(p) if p.isdigit() else p for p in name.split("."))
        for index, item in enumerate(items):
            if counts[item.id] > 1 and [i.id for i in items].index(item.id) != index:
                yield (*base, index, "id"), f"duplicate id {item.id!r}"


def _network(s: Scenario, files: Path) -> Found:
    segments = {seg.id: seg for seg in s.network.segments}
    hosts = {host.id: host for host in s.network.hosts}
    images = set(available_images())
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
        if host.image not in images:
            yield (*at, "image"), f"unknown image {host.image!r} (images: {', '.join(sorted(images))})"
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
                yield from _bundled((*at, "files", k, "source"), placed.source, files)


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


def _bundled(loc: Loc, source: str, files: Path) -> Found:
    target = (files / source).resolve()
    if not target.is_relative_to(files.resolve()):
        yield loc, f"{source!r} points outside the scenario's folder {files.name}/"
    elif any(part in ("", ".", "..") for part in source.split("/")):
        yield loc, f"{source!r}: write the path plainly, like site/index.html (no '.', '..' or '//')"
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
        if moment.after not in injects:
            yield (*loc, "after"), f"unknown inject {moment.after!r}"


def _injects(s: Scenario, files: Path) -> Found:
    inject_ids = {inject.id for inject in s.injects}
    check_ids = {check.id for check in s.checks}
    characters = {c.id for c in s.story.characters}
    for i, inject in enumerate(s.injects):
        at: Loc = ("injects", i)
        when = inject.when
        if isinstance(when, When):
            yield from _day_rules(s, (*at, "when"), when.day, when.not_before, "not_before")
            if when.give_up_at is not None:
                yield from _day_rules(s, (*at, "when"), when.day, when.give_up_at, "give_up_at")
            if when.condition.check not in check_ids:
                yield (*at, "when", "condition", "check"), f"unknown check {when.condition.check!r}"
        else:
            yield from _moment(s, (*at, "when"), when, inject_ids)
            if isinstance(when, After) and when.after == inject.id:
                yield (*at, "when", "after"), "an inject cannot wait for itself"
        if inject.skip_if is not None and inject.skip_if.check not in check_ids:
            yield (*at, "skip_if", "check"), f"unknown check {inject.skip_if.check!r}"
        if not inject.actions and inject.message is None:
            yield at, "an inject needs actions, a message, or both"
        if inject.message is not None and inject.message.sender not in characters:
            yield (*at, "message", "from"), f"unknown character {inject.message.sender!r}"
        for field in ("actions", "cleanup"):
            for k, action in enumerate(getattr(inject, field)):
                yield from _action_refs(s, (*at, field, k, "params"), action, files)
    yield from _after_cycles_and_times(s)


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
        while isinstance(current.when, After) and current.when.after in by_id:
            nxt = current.when.after
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
    for i, report in enumerate(s.reports):
        yield from _moment(s, ("reports", i, "due"), report.due, injects)


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

