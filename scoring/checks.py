"""Check types: one small class each, registered by name, with typed parameters.

A scenario names a check type and gives its parameters; the parameters are
validated when the scenario loads, never mid-exercise. Every check answers
"does the defender's desired state hold?" — UP when it does, DOWN when it
does not, ERROR when the check itself could not decide.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic.dataclasses import dataclass

from scoring.params import (
    PARAMS_CONFIG,
    AbsolutePath,
    ParamsKind,
    registrar,
    Command,
    HostId,
    Port,
    Regex,
    Seconds,
    Sha256,
    UnixUser,
)


class CheckType(ParamsKind):
    """Base class of a check type: its parameters and which of them name hosts."""


CHECK_TYPES: dict[str, type[CheckType]] = {}
register = registrar(CHECK_TYPES, "check type")


@register("command")
class CommandCheck(CheckType):
    summary = "A command run inside a host exits with the expected status (and output)."

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        command: Command
        user: UnixUser = "root"
        expect_exit: int = 0
        expect_output: Regex | None = None
        timeout: Seconds = 10


@register("process")
class ProcessCheck(CheckType):
    summary = "A process whose command line matches a pattern is present or absent (read from the container's process table, not from ps)."

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        pattern: Regex
        expect: Literal["present", "absent"] = "present"


@register("file")
class FileCheck(CheckType):
    summary = "A file exists or not, has a hash, or contains (or no longer contains) a pattern — read through the Docker API."

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        path: AbsolutePath
        expect: Literal["present", "absent"] = "present"
        sha256: Sha256 | None = None
        contains: Regex | None = None
        not_contains: Regex | None = None


@register("tcp")
class TcpCheck(CheckType):
    summary = "A TCP port of a host is open (or closed) as seen from a vantage host in the range."
    host_fields = ("source", "host")

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        source: HostId = Field(alias="from")
        host: HostId
        port: Port
        expect: Literal["open", "closed"] = "open"
        timeout: Seconds = 5


@register("http")
class HttpCheck(CheckType):
    summary = "An HTTP request from a vantage host gets the expected status and body."
    host_fields = ("source",)
    url_fields = ("url",)

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        source: HostId = Field(alias="from")
        url: str = Field(pattern=r"^http://[a-z0-9][a-z0-9.-]{0,252}(:\d{1,5})?(/\S*)?$")
        method: Literal["GET", "HEAD", "POST"] = "GET"
        expect_status: int = Field(default=200, ge=100, le=599)
        contains: Regex | None = None
        not_contains: Regex | None = None
        timeout: Seconds = 10


@register("ssh_login")
class SshLoginCheck(CheckType):
    summary = "Logging in to a host over SSH (through the team's gateway) succeeds or fails."

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        user: UnixUser
        password: str = Field(min_length=1, max_length=200)
        expect: Literal["success", "failure"] = "success"
        timeout: Seconds = 15


@register("blocked")
class BlockedCheck(CheckType):
    summary = (
        "A TCP connection from one host to another is blocked, proven by a control "
        "connection from the same host that does get through."
    )
    host_fields = ("source", "host", "control_host")

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        source: HostId = Field(alias="from")
        host: HostId
        port: Port
        control_host: HostId
        control_port: Port
        timeout: Seconds = 5
