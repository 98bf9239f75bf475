"""Per-team variables: drawing each team's values and filling ``{{id}}`` placeholders.

Pure functions over plain data: no database, no Docker. A team's values follow
from the exercise's seed and the team's number alone, so drawing again gives the
same values; ``distinct`` variables shuffle their pool with the seed and team N
takes item N (no two teams share a value while the pool has enough items).

Two placeholder forms are filled later, when a text is shown to one team
(``app.services.scenarios``): ``{{clock:D/HH:MM}}`` and ``{{address:HOST}}``.
They pass through the rendering here untouched.
"""
from __future__ import annotations

import base64
import random
import re
from ipaddress import IPv4Network
from typing import Any, Iterator

from app.scenario.model import Scenario, Variable

Loc = tuple[str | int, ...]

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
CLOCK = re.compile(r"^clock:(?:([1-9])/)?([0-9]{1,2}):([0-5][0-9])$")
ADDRESS = re.compile(r"^address:([a-z][a-z0-9-]{0,30})$")

WORDS = (
    "sakura", "momiji", "kaede", "tsubaki", "ajisai", "kikyo", "suzuran", "hinoki", "matsu", "take",
    "ume", "yuzu", "sudachi", "kabosu", "mikan", "ringo", "nashi", "kaki", "biwa", "momo",
    "hotaru", "tsubame", "kawasemi", "hibari", "uguisu", "kamome", "sagi", "tombo", "semi", "kirin",
    "fuji", "aso", "zao", "daisen", "ibuki", "kurama", "takao", "bandai", "iwate", "chokai",
)
SURNAMES = (
    "sato", "suzuki", "takahashi", "tanaka", "ito", "watanabe", "yamamoto", "nakamura", "kobayashi",
    "kato", "yoshida", "yamada", "sasaki", "yamaguchi", "matsumoto", "inoue", "kimura", "hayashi",
    "shimizu", "yamazaki", "mori", "abe", "ikeda", "hashimoto", "ishikawa", "ogawa", "okada", "goto",
)
INITIALS = "aehikmnrstyk"
DOMAIN_WORDS = ("cdn-update", "sync-cloud", "secure-login", "mail-check", "office-patch", "api-status",
                "docs-share", "auth-verify", "static-files", "update-center", "win-telemetry", "backup-sync")
# Offsets a range gives to the platform in every segment (.1 the bridge, .210 the access gateway).
RESERVED_OFFSETS = {1, 210}
MAX_IPV4_POOL = 4096

# Fields whose value names something, a time or a kind: a drawn value there would break the scenario.
STRUCTURAL_FIELDS = frozenset({
    "id", "version", "type", "do", "at", "delay", "due", "length", "day", "image", "from", "host",
    "hosts", "segments", "segment", "access_segments", "inject", "finished", "check", "task", "report",
    "character", "request", "mode", "level", "protocol", "source", "gateway", "dns", "capabilities",
    "packages", "attack_techniques", "kind", "formula", "template",
})


def draw(variables: list[Variable], seed: str, number: int) -> dict[str, str]:
    """Team *number*'s values (1-based), the same every time for the same seed."""
    return {variable.id: _draw_one(variable, seed, number) for variable in variables}


def _draw_one(variable: Variable, seed: str, number: int) -> str:
    own = random.Random(f"{seed}:{variable.id}:{number}")
    pool = possible_values(variable)
    if pool is None:  # password, hex: too many to list; a collision is beyond any room's size
        return _fresh(variable, own)
    if not variable.distinct:
        return own.choice(pool)
    shuffled = list(pool)
    random.Random(f"{seed}:{variable.id}").shuffle(shuffled)
    return shuffled[(number - 1) % len(shuffled)]


def possible_values(variable: Variable) -> list[str] | None:
    """Every value *variable* can take, in a fixed order; ``None`` when too many to list."""
    if variable.values is not None:
        return list(variable.values)
    if variable.between is not None:
        return [str(n) for n in range(variable.between[0], variable.between[1] + 1)]
    if variable.generate == "word":
        return list(WORDS)
    if variable.generate == "username":
        return [f"{initial}.{surname}" for surname in SURNAMES for initial in INITIALS]
    if variable.generate == "domain":
        return [f"{word}.{variable.suffix or 'example'}" for word in DOMAIN_WORDS]
    if variable.generate == "ipv4":
        return _addresses(variable.subnet or IPv4Network("203.0.113.0/24"))
    return None


def _addresses(subnet: IPv4Network) -> list[str]:
    out = []
    for offset in range(1, subnet.num_addresses - 1):
        if offset not in RESERVED_OFFSETS:
            out.append(str(subnet.network_address + offset))
        if len(out) >= MAX_IPV4_POOL:
            break
    return out


def _fresh(variable: Variable, rng: random.Random) -> str:
    if variable.generate == "hex":
        return "".join(rng.choice("0123456789abcdef") for _ in range(variable.length))
    letters = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
    digits = "23456789"
    chars = [rng.choice(letters) for _ in range(variable.length - 2)] + [rng.choice(digits) for _ in range(2)]
    rng.shuffle(chars)
    return "".join(chars)


def pool_size(variable: Variable) -> int | None:
    pool = possible_values(variable)
    return None if pool is None else len(pool)


def sample(variables: list[Variable]) -> dict[str, str]:
    """Each variable's first possible value (what the validator renders the scenario with)."""
    return {v.id: (possible_values(v) or [_fresh(v, random.Random(v.id))])[0] for v in variables}


def render_text(text: str, values: dict[str, str]) -> str:
    """*text* with each ``{{id}}`` of *values* filled; other placeholders stay as written."""
    if "{{" not in text:
        return text
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def fill_templates(bundle: dict[str, str], scenario: Scenario, values: dict[str, str]) -> dict[str, str]:
    """The bundled files (path → base64) with every source a host marks ``template: true`` filled with *values*.

    A template source may name a folder: every file below it is filled. Other files stay byte for byte.
    """
    sources = [f.source.rstrip("/") for h in scenario.network.hosts for f in h.files
               if f.template and f.source is not None]
    filled = dict(bundle)
    for name, encoded in bundle.items():
        if any(name == source or name.startswith(source + "/") for source in sources):
            text = base64.b64decode(encoded).decode("utf-8")
            filled[name] = base64.b64encode(render_text(text, values).encode("utf-8")).decode("ascii")
    return filled


def render(data: Any, values: dict[str, str]) -> Any:
    """A copy of a scenario document (plain data) with placeholders filled in every string."""
    if isinstance(data, str):
        return render_text(data, values)
    if isinstance(data, dict):
        return {key: render(value, values) for key, value in data.items()}
    if isinstance(data, list):
        return [render(item, values) for item in data]
    return data


def placeholders(data: Any, loc: Loc = ()) -> Iterator[tuple[Loc, str]]:
    """Every placeholder in a document: (location of the string, the name inside the braces)."""
    if isinstance(data, str):
        for match in PLACEHOLDER.finditer(data):
            yield loc, match.group(1)
    elif isinstance(data, dict):
        for key, value in data.items():
            if key != "variables":
                yield from placeholders(value, (*loc, key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from placeholders(item, (*loc, index))


def names_in(text: str) -> list[str]:
    return [match.group(1) for match in PLACEHOLDER.finditer(text)]


def declared(data: Any) -> list[Variable]:
    """The document's variables that are well-formed (the model reports the others)."""
    out = []
    for item in (data.get("variables") or []) if isinstance(data, dict) else []:
        try:
            out.append(Variable.model_validate(item))
        except ValueError:
            continue
    return out


def with_samples(data: Any) -> Any:
    """The document rendered with sample values: what the typed model validates."""
    variables = declared(data)
    return render(data, sample(variables)) if variables else data
