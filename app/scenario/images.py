"""Rules about images: each host's image, the scenario's own extensions, file owners, the range's DNS host.

One home for "which image is this host, and what is on it". Each rule yields
``(location, message)`` like the other rules of ``references``.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from app.scenario import references
from app.scenario.model import Host, ImageExtension, Scenario
from range import catalogue
from range.images import available_images

Loc = tuple[str | int, ...]
Found = Iterator[tuple[Loc, str]]
DNS_ROLE = "dns"


def check(s: Scenario, files: Path) -> Found:
    """Every image rule of the scenario *s* (its bundled files in *files*)."""
    roles = set(available_images())
    yield from _extensions(s, files, roles)
    own = {declared.id: declared for declared in s.images}
    for i, host in enumerate(s.network.hosts):
        at: Loc = ("network", "hosts", i)
        if host.image not in roles and host.image not in own:
            yield (*at, "image"), f"unknown image {host.image!r} ({_known(roles, own)})"
            continue
        yield from _owners(at, host, role_of(host.image, own))
    yield from _dns(s, own)


def role_of(image: str, own: dict[str, ImageExtension]) -> str:
    """The role image *image* is (an extension's ``from``), or *image* itself."""
    return own[image].from_ if image in own else image


def _known(roles: set[str], own: dict[str, ImageExtension]) -> str:
    text = "role images: " + ", ".join(sorted(roles))
    return text + ("; this scenario's: " + ", ".join(sorted(own)) if own else "")


def _extensions(s: Scenario, files: Path, roles: set[str]) -> Found:
    ids = Counter(declared.id for declared in s.images)
    seen: set[str] = set()
    for i, declared in enumerate(s.images):
        at: Loc = ("images", i)
        if declared.id in roles:
            yield (*at, "id"), f"{declared.id!r} is a role image's name; give the scenario's image its own id"
        elif ids[declared.id] > 1 and declared.id in seen:
            yield (*at, "id"), f"duplicate id {declared.id!r}"
        seen.add(declared.id)
        if declared.from_ in ids:
            yield (*at, "from"), (f"{declared.from_!r} is this scenario's own image; an image extends a role image "
                                  f"(role images: {', '.join(sorted(roles))})")
        elif declared.from_ not in roles:
            yield (*at, "from"), f"unknown role image {declared.from_!r} (role images: {', '.join(sorted(roles))})"
        for k, package in enumerate(declared.packages):
            if package in declared.packages[:k]:
                yield (*at, "packages", k), f"package {package!r} listed twice"
        yield from _image_files(at, declared, files, _templates(s))


def _templates(s: Scenario) -> dict[str, str]:
    """Bundled sources filled per team (``template: true``) → the host that uses them."""
    return {f.source.rstrip("/"): host.id for host in s.network.hosts for f in host.files
            if f.template and f.source is not None}


def _image_files(at: Loc, declared: ImageExtension, files: Path, templates: dict[str, str]) -> Found:
    for k, placed in enumerate(declared.files):
        loc = (*at, "files", k)
        if (placed.content is None) == (placed.source is None):
            yield loc, "give exactly one of content or source"
        elif placed.source is not None:
            yield from _source(loc, placed.source, files)
            source = placed.source.rstrip("/")
            for template, host in templates.items():
                if source == template or template.startswith(source + "/") or source.startswith(template + "/"):
                    yield (*loc, "source"), (f"{template!r} is a template of host {host!r}, filled for each team; "
                                             "one image serves every team: bundle a copy of its own for the image")


def _source(loc: Loc, source: str, files: Path) -> Found:
    """A bundled file, or a folder with at least one file (copied whole)."""
    folder = files / source
    plain = not any(part in ("", ".", "..") for part in source.rstrip("/").split("/"))
    if plain and folder.resolve().is_relative_to(files.resolve()) and folder.is_dir():
        if not any(p.is_file() for p in folder.rglob("*")):
            yield (*loc, "source"), f"bundled folder {source!r} in {files.name}/ holds no file"
        return
    yield from references._bundled((*loc, "source"), source, files)


def _owners(at: Loc, host: Host, role: str) -> Found:
    """A placed file's owner is one of the host's accounts or a user the (role) image has."""
    try:
        known = catalogue.accounts(role)
    except catalogue.CatalogueError:  # a role not described yet (`mamori images describe --write`)
        return
    users = {account.user for account in host.accounts} | set(known)
    for k, placed in enumerate(host.files):
        if placed.owner not in users:
            yield (*at, "files", k, "owner"), (
                f"no user {placed.owner!r} on host {host.id!r}: add it to the host's accounts, or use a user "
                f"the image {role!r} has (`mamori images describe {role}`)")


def _dns(s: Scenario, own: dict[str, Any]) -> Found:
    if s.network.dns is None:
        return
    hosts = {host.id: host for host in s.network.hosts}
    host = hosts.get(s.network.dns)
    if host is None:
        yield ("network", "dns"), f"unknown host {s.network.dns!r}"
    elif role_of(host.image, own) != DNS_ROLE:
        yield ("network", "dns"), (f"host {host.id!r} runs the image {host.image!r}; the range's DNS server "
                                   f"is a host with the {DNS_ROLE!r} image")
