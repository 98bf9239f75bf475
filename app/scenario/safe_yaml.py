"""Reading untrusted YAML safely, remembering the line of every value.

Refused with a clean message, in well under a second and without building
anything large: files over the size limit, bytes that are not UTF-8, anchors
and aliases (the "billion laughs" bomb), tags that would construct objects,
nesting deeper than a scenario ever needs, duplicate keys, too many nodes.
Times like ``00:20`` stay strings (YAML 1.1 would read them as base-60 ints).

Syntax errors carry their column and a hint, all of them at once where the
text allows (``yaml_hints``). A file libyaml reads is also read with PyYAML's
pure-Python parser, the one many editors and linters use: where the two
grammars differ (a ``?`` inside ``{…}``), the file is refused with a hint, so
it reads the same everywhere. Both parsers rather than a YAML 1.2 parser: no
new dependency, and the check is exactly "the parsers authors' tools use agree".
The pure-Python pass runs only on a file libyaml accepted within the node
limit, which keeps it to a fraction of a second.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml import SafeLoader as _PortableLoader
from yaml.events import AliasEvent, CollectionStartEvent, NodeEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app.scenario import yaml_hints

try:  # libyaml's parser when present: the same grammar, much faster
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - PyYAML wheels ship libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

MAX_BYTES = 256 * 1024
MAX_DEPTH = 30
MAX_NODES = 25_000  # a bundled scenario has ~4,000; bounds the pure-Python pass too

Path = tuple[str | int, ...]


class YamlProblem(Exception):
    """The file cannot be read as a scenario document; ``line`` and ``column`` are 1-based.

    ``found`` holds every problem (several syntax errors at once), this one first.
    """

    def __init__(self, line: int, message: str, column: int | None = None,
                 others: tuple["YamlProblem", ...] = ()) -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.column = column
        self.found: tuple[YamlProblem, ...] = (self, *others)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader whose only implicit types are bool, null, int, float (no sexagesimal, no dates)."""


_Loader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN\0"),
    ("tag:yaml.org,2002:int", r"^[-+]?(?:0|[1-9][0-9_]*)$", "-+0123456789"),
    ("tag:yaml.org,2002:float", r"^[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?$", "-+0123456789"),
):
    _Loader.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))

_ALLOWED_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


@dataclass(frozen=True)
class Document:
    data: Any
    lines: dict[Path, int]

    def line_of(self, path: Path) -> int:
        """The line of the value at *path*, or of its nearest existing parent."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1


def decode(raw: bytes) -> str:
    if len(raw) > MAX_BYTES:
        raise YamlProblem(1, f"the file is larger than {MAX_BYTES // 1024} KiB")
    if b"\0" in raw:
        raise YamlProblem(raw[: raw.index(b"\0")].count(b"\n") + 1, "binary data (NUL byte), not YAML text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlProblem(line, f"not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None


def load(text: str) -> Document:
    _scan_events(text)
    _check_portable(text)
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _problem(exc, text) from None
    if node is None:
        raise YamlProblem(1, "the file is empty")
    lines: dict[Path, int] = {}
    _check_nodes(node, (), lines)
    constructor = _Loader("")
    try:
        data = constructor.construct_document(node)
    except yaml.YAMLError as exc:
        raise _problem(exc) from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer of thousands of digits
        raise YamlProblem(1, f"a value cannot be read: {str(exc).splitlines()[0][:120]}") from None
    finally:
        constructor.dispose()
    return Document(data, lines)


def _scan_events(text: str) -> None:
    """Refuse aliases, deep nesting and huge documents before anything is built."""
    depth = nodes = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, AliasEvent):
                raise YamlProblem(event.start_mark.line + 1, "anchors and aliases (*name) are not allowed")
            if isinstance(event, NodeEvent):
                if getattr(event, "anchor", None):
                    raise YamlProblem(event.start_mark.line + 1, "anchors (&name) are not allowed")
                tag = getattr(event, "tag", None)
                if tag and tag not in _ALLOWED_TAGS and tag != "!":
                    raise YamlProblem(event.start_mark.line + 1, f"the tag {tag} is not allowed")
                nodes += 1
                if nodes > MAX_NODES:
                    raise YamlProblem(event.start_mark.line + 1, f"more than {MAX_NODES} values")
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise YamlProblem(event.start_mark.line + 1, f"nested deeper than {MAX_DEPTH} levels")
            elif type(event).__name__ in ("SequenceEndEvent", "MappingEndEvent"):
                depth -= 1
    except yaml.YAMLError as exc:
        raise _syntax(text, exc, _parse_libyaml) from None


def _parse_libyaml(text: str) -> None:
    for _ in yaml.parse(text, Loader=_Loader):
        pass


def _parse_portable(text: str) -> None:
    for _ in yaml.parse(text, Loader=_PortableLoader):
        pass


def _check_portable(text: str) -> None:
    """Refuse what libyaml reads but PyYAML's pure-Python parser (editors', linters') does not."""
    try:
        _parse_portable(text)
    except yaml.YAMLError as exc:
        raise _syntax(text, exc, _parse_portable, "other YAML parsers (PyYAML's SafeLoader) refuse this") from None


def _syntax(text: str, first: yaml.YAMLError, parse: yaml_hints.Parse, prefix: str = "not valid YAML") -> YamlProblem:
    found = yaml_hints.all_errors(text, parse, first, prefix)
    problems = [YamlProblem(line, message, column) for line, column, message in found]
    head, *others = problems
    return YamlProblem(head.line, head.message, head.column, tuple(others))


def _check_nodes(node: Node, path: Path, lines: dict[Path, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                raise YamlProblem(key.start_mark.line + 1, "mapping keys must be plain text")
            line = key.start_mark.line + 1
            if key.value in seen:
                raise YamlProblem(line, f"duplicate key {key.value!r} (first on line {seen[key.value]})")
            seen[key.value] = line
            _check_nodes(value, (*path, key.value), lines)
            lines[(*path, key.value)] = line
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _check_nodes(item, (*path, index), lines)


def _problem(exc: yaml.YAMLError, text: str = "") -> YamlProblem:
    line, column, message = yaml_hints.explain(exc, text)
    return YamlProblem(line, message, column)
