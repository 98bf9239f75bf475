"""What check types may ask of a team's range: the probe interface and its typed answers.

Checks are written against this interface only; the range library provides
the implementation (``range.probes.RangeProbe``), tests may provide fakes.
Everything a probe reports is read by the platform itself — the process table
and files through the container engine, network probes from outside the
container in its network namespace — so a trainee with root in a host can
change what the host *does*, not what the platform *sees*.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

# Caps on what a check reads, whatever the host offers.
MAX_FILE_BYTES = 1024 * 1024
MAX_COMMAND_OUTPUT = 64 * 1024
MAX_HTTP_BODY = 256 * 1024


class ProbeError(Exception):
    """The probe could not decide (host missing or stopped, engine failure, …)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ExecOutcome:
    """A command run inside a host: ``exit_code`` is ``None`` when it did not finish."""

    exit_code: int | None
    output: bytes
    timed_out: bool = False
    truncated: bool = False


@dataclass(frozen=True)
class ProcessRow:
    """One process of a host, as the engine's process table shows it."""

    pid: int
    uid: int
    user: str
    command: str


@dataclass(frozen=True)
class HttpOutcome:
    """An HTTP exchange. ``status`` is 0 when no response came; ``failure`` then says why."""

    status: int
    body: bytes = b""
    failure: str = ""


class Probe(Protocol):
    """One team's range as the checks see it. Every method raises ``ProbeError`` when it cannot decide."""

    def exec(self, host: str, argv: Sequence[str], *, user: str, timeout: float,
             max_output: int) -> ExecOutcome:
        """Run *argv* in *host* as *user*; killed at *timeout*, output cut at *max_output* bytes."""
        ...

    def processes(self, host: str) -> list[ProcessRow]:
        """The host's processes, read by the engine (never through the host's own ``ps``)."""
        ...

    def read_file(self, host: str, path: str, max_bytes: int) -> bytes | None:
        """At most *max_bytes* of a regular file, read through the engine; ``None`` when absent."""
        ...

    def tcp(self, source: str, target: str, port: int, timeout: float) -> bool:
        """Does a TCP connection from inside *source*'s network to *target*:*port* succeed?"""
        ...

    def http(self, source: str, url: str, method: str, timeout: float, max_body: int) -> HttpOutcome:
        """An HTTP request from inside *source*'s network (the URL's host name in ``Host``)."""
        ...

    def ssh_login(self, host: str, user: str, password: str, timeout: float) -> bool:
        """Does a password login to *host* (through the team's gateway) succeed?"""
        ...
