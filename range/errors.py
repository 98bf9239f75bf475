"""Errors of the range library, each with a message an operator can act on."""
from __future__ import annotations


class RangeError(Exception):
    """Base class of everything the range library raises on purpose."""


class EngineUnavailable(RangeError):
    """The Docker Engine does not answer."""


class ImageBuildError(RangeError):
    """An image could not be built; the message carries the failing step."""
