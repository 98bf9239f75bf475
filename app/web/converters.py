"""Ids from paths and query strings reach the database only within what it can hold.

An id the database cannot store (SQLite: 8 bytes, signed) is no row at all: 404 in a path, "absent"
in a query string, never an ``OverflowError`` deep in a query (a 500).
"""
from __future__ import annotations

from werkzeug.routing import IntegerConverter, Map

MAX_ID = 2**63 - 1


class BoundedIntegerConverter(IntegerConverter):
    """``<int:…>`` that only matches 0 … 2**63 − 1 unless the rule says otherwise: a larger number is 404."""

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None,  # noqa: A002 - werkzeug's names
                 max: int | None = None, signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=MAX_ID if max is None else max, signed=signed)


def query_id(value: str) -> int:
    """``request.args.get(name, type=query_id)``: a whole number 0 … 2**63 − 1, else absent (ValueError)."""
    number = int(value) if value.isascii() and value.isdigit() else -1
    if not 0 <= number <= MAX_ID:
        raise ValueError(f"not an id: {value[:40]!r}")
    return number
