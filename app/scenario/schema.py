"""The JSON Schema of the scenario format, for authors' editors (``mamori scenario schema``).

It describes the file as written: a host's segment may be a plain id, and a
text field with a pattern (an account name, an alias) may hold a
``{{variable}}`` placeholder. The validator stays the stricter judge: it says
where a placeholder may not stand (ids, times) and checks the filled values.
"""
from __future__ import annotations

from typing import Any

from app.scenario.model import Scenario

# Any string that holds a placeholder passes a field's pattern (JSON Schema patterns are not anchored).
_PLACEHOLDER = r"\{\{\s*[a-z][a-z0-9_]*(?::[^{}]*)?\s*\}\}"


def json_schema() -> dict[str, Any]:
    document = Scenario.model_json_schema(by_alias=True)
    _allow_placeholders(document)
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "Mamori scenario"
    return document


def _allow_placeholders(node: Any) -> None:
    if isinstance(node, dict):
        pattern = node.get("pattern")
        if node.get("type") == "string" and isinstance(pattern, str):
            node["pattern"] = f"(?:{pattern})|{_PLACEHOLDER}"
        for value in node.values():
            _allow_placeholders(value)
    elif isinstance(node, list):
        for value in node:
            _allow_placeholders(value)
