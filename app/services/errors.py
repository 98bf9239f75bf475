"""Errors the service layer raises; each message is meant for a person to act on.

Messages are English templates marked with ``N_`` so the catalog can carry
their Japanese; ``str(error)`` gives English (CLI, logs), and the web layer
shows ``translate(error.text)`` in the reader's language.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def N_(template: str) -> str:
    """Mark *template* for extraction into the message catalog; translation happens later."""
    return template


LINE_PREFIX = N_("line %(line)d: ")


@dataclass(frozen=True)
class Text:
    """A translatable message: an English template, its parameters, maybe a file line."""

    template: str
    params: dict[str, Any] = field(default_factory=dict)
    line: int | None = None

    def __str__(self) -> str:
        body = self.template % self.params if self.params else self.template
        return body if self.line is None else LINE_PREFIX % {"line": self.line} + body


class ServiceError(Exception):
    """Base class; views turn it into a 4xx answer, the CLI into one line on stderr."""

    status = 400

    def __init__(self, template: str, **params: Any) -> None:
        self.text = Text(template, params)
        super().__init__(str(self.text))


class InvalidInput(ServiceError):
    status = 400


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    status = 409


class RateLimited(ServiceError):
    status = 429
