"""Ids and text from requests reach the database only within what it can hold.

An id the database cannot store (PostgreSQL's ``integer``: 4 bytes, signed) is no row at all: 404 in
a path, "absent" in a query string, never an overflow deep in a query (a 500). A NUL character, which
PostgreSQL's text columns refuse, makes the whole request a 400 before any view reads it.
"""
from __future__ import annotations

from flask import abort, request
from werkzeug.routing import IntegerConverter, Map

MAX_ID = 2**31 - 1  # the ids' columns are INTEGER (PostgreSQL: 4 bytes)


class BoundedIntegerConverter(IntegerConverter):
    """``<int:…>`` that only matches 0 … 2**31 − 1 unless the rule says otherwise: a larger number is 404."""

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None,  # noqa: A002 - werkzeug's names
                 max: int | None = None, signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=MAX_ID if max is None else max, signed=signed)


def query_id(value: str) -> int:
    """``request.args.get(name, type=query_id)``: a whole number 0 … 2**31 − 1, else absent (ValueError)."""
    number = int(value) if value.isascii() and value.isdigit() else -1
    if not 0 <= number <= MAX_ID:
        raise ValueError(f"not an id: {value[:40]!r}")
    return number


def refuse_nul_characters() -> None:
    """``before_request``: a query or form value with a NUL in it is a 400 (no text column can store it)."""
    values = [*request.args.values(), *request.args.keys()]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values += [*request.form.values(), *request.form.keys()]
    if any("\x00" in value for value in values):
        abort(400)

