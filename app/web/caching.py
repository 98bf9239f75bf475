"""Pages no browser or proxy may keep: they show a password or a token once."""
from __future__ import annotations

from functools import wraps
from typing import Callable, TypeVar

from flask import make_response

F = TypeVar("F", bound=Callable[..., object])


def no_store(view: F) -> F:
    """``Cache-Control: no-store`` on every response of *view* (the Back button must not show it again)."""

    @wraps(view)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        response = make_response(view(*args, **kwargs))
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response

    return wrapper  # type: ignore[return-value]
