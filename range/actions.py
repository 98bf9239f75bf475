"""Inject action types: one small class each, registered by name, with typed parameters.

An inject's actions are what an attacker really does inside a team's range.
Parameters are validated when the scenario loads; running them is the
runtime's job, through the range backend.
"""
from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints
from pydantic.dataclasses import dataclass

from scoring.params import (
    PARAMS_CONFIG,
    AbsolutePath,
    Command,
    FileMode,
    HostId,
    ParamsKind,
    Seconds,
    UnixUser,
    registrar,
)

BundledPath = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.][A-Za-z0-9_./-]*$", max_length=300)]


class ActionType(ParamsKind):
    """Base class of an action type: its parameters and which of them name hosts or bundled files."""

    bundled_fields: ClassVar[tuple[str, ...]] = ()


ACTION_TYPES: dict[str, type[ActionType]] = {}
register = registrar(ACTION_TYPES, "action type")


@register("run")
class RunAction(ActionType):
    summary = "Run a command in a host as a user and wait for it (killed at the timeout)."

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        command: Command
        user: UnixUser = "root"
        timeout: Seconds = 60


@register("write_file")
class WriteFileAction(ActionType):
    summary = "Write a file with the given text in a host."

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        path: AbsolutePath
        content: str = Field(max_length=1_000_000)
        mode: FileMode = "0644"
        owner: UnixUser = "root"


@register("copy_file")
class CopyFileAction(ActionType):
    summary = "Copy a file bundled with the scenario into a host."
    bundled_fields = ("source",)

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        source: BundledPath
        path: AbsolutePath
        mode: FileMode = "0644"
        owner: UnixUser = "root"


@register("background")
class BackgroundAction(ActionType):
    summary = "Start a long-running process in a host (a beacon, a listener) and leave it running."

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        command: Command
        user: UnixUser = "root"


@register("request")
class RequestAction(ActionType):
    summary = "Make HTTP requests from one host to another (probes, logins, uploads)."
    host_fields = ("source",)
    url_fields = ("url",)

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        source: HostId = Field(alias="from")
        url: str = Field(pattern=r"^http://[a-z0-9][a-z0-9.-]{0,252}(:\d{1,5})?(/\S*)?$")
        method: Literal["GET", "POST"] = "GET"
        body: str | None = Field(default=None, max_length=100_000)
        content_type: str = "application/x-www-form-urlencoded"
        count: int = Field(default=1, ge=1, le=1000)
        interval: float = Field(default=0.0, ge=0, le=60)
