"""Rows of the authorisation matrix (tests/test_authz_matrix.py), one module per part of the portals.

Each module here defines ``ROWS``, a list of :class:`Row`; the matrix runs them
all (before logging out). Paths may use the matrix world's ids: {exercise},
{team_a}, {team_b}, {trainee_a_user}, {instructor_token}, {message_a}.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any

PERSONAS = ("anonymous", "trainee_a", "trainee_b", "instructor", "admin")


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    expect: tuple[int, int, int, int, int]  # in PERSONAS order
    data: dict[str, Any] = field(default_factory=dict)


def extra_rows() -> list[Row]:
    rows: list[Row] = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        rows.extend(importlib.import_module(f"{__name__}.{module.name}").ROWS)
    return rows
