"""Loading a scenario file for use: validated completely, identified by a content hash."""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.scenario import safe_yaml
from app.scenario.model import Scenario
from app.scenario.validate import files_dir, validate_file


MAX_BUNDLE_BYTES = 8 * 1024 * 1024


class ScenarioError(Exception):
    """A scenario file cannot be used; ``problems`` are ``FILE:LINE: field: message`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ScenarioFile:
    path: Path
    scenario: Scenario
    text: str
    content_hash: str

    @property
    def slug(self) -> str:
        return self.scenario.id

    @property
    def version(self) -> str:
        return self.scenario.version

    @property
    def title_ja(self) -> str:
        return self.scenario.title.ja

    @property
    def title_en(self) -> str:
        return self.scenario.title.en

    @property
    def level(self) -> str:
        return self.scenario.level

    @property
    def days(self) -> int:
        return len(self.scenario.days)

    @property
    def document(self) -> dict[str, Any]:
        if self.scenario.variables:  # as written: its placeholders are filled for each team
            return safe_yaml.load(self.text).data
        return self.scenario.model_dump(mode="json", by_alias=True, exclude_none=True)

    def bundle(self) -> dict[str, str]:
        """The bundled files (relative path → base64), stored with this version."""
        folder = files_dir(self.path)
        files: dict[str, str] = {}
        total = 0
        for item in sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []:
            data = item.read_bytes()
            total += len(data)
            if total > MAX_BUNDLE_BYTES:
                raise ScenarioError([f"{folder}: the bundled files exceed {MAX_BUNDLE_BYTES // 2**20} MiB"])
            files[item.relative_to(folder).as_posix()] = base64.b64encode(data).decode("ascii")
        return files


def load_scenario_file(path: Path) -> ScenarioFile:
    """Validate *path*; raise ``ScenarioError`` with every problem, or return the scenario."""
    result = validate_file(path)
    if not result.ok or result.scenario is None:
        raise ScenarioError([str(problem) for problem in result.problems])
    return ScenarioFile(path, result.scenario, result.text, content_hash(path, result.raw))


def content_hash(path: Path, raw: bytes) -> str:
    """SHA-256 over the YAML bytes and every bundled file (names and contents)."""
    digest = hashlib.sha256(raw)
    folder = files_dir(path)
    if folder.is_dir():
        for item in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(b"\0" + item.relative_to(folder).as_posix().encode() + b"\0")
            digest.update(item.read_bytes())
    return digest.hexdigest()
