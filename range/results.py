"""Typed results of the range library."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ExecResult:
    exit_code: int | None
    output: bytes
    truncated: bool = False
    timed_out: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class ProcessInfo:
    pid: int  # as the Docker host numbers it
    ppid: int
    uid: int
    user: str  # the name the container's /etc/passwd gives the uid
    command: str


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    labels: dict[str, str]
    status: str  # created, running, paused, restarting, exited, dead
    pid: int
    addresses: dict[str, str]  # Docker network name -> IPv4 address
    published: dict[str, int] = field(default_factory=dict)  # "22/tcp" -> host port
    host_config: dict = field(default_factory=dict)
    created: str = ""  # Docker's creation time (RFC 3339, UTC: ordered as text); "" from a listing


@dataclass(frozen=True)
class NetworkInfo:
    id: str
    name: str
    labels: dict[str, str]
    subnet: str | None
    bridge: str | None
