"""What a team's range is made of: frozen, typed inputs of the range library.

``app`` compiles a scenario and a team into a ``RangeSpec``; the range engine
turns it into Docker networks and containers and back.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Account:
    user: str
    password: str
    admin: bool = False  # an administrator account logs in with root's rights (see docs)
    shell: str = "/bin/bash"


@dataclass(frozen=True)
class PlacedFile:
    path: str
    content: bytes
    mode: int = 0o644
    owner: str = "root"


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int
    protocol: str = "tcp"


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 384 * 1024 * 1024
    nano_cpus: int = 500_000_000  # half a core
    pids: int = 512


@dataclass(frozen=True)
class LogLimits:
    """Docker's log rotation for every range container: at most ``max_files`` × ``max_size`` on disk.

    A trainee who is root in a host can write to PID 1's stdout; without
    rotation that file grows on the Docker host until the disk is full.
    ``max_size`` is Docker's notation (``5m``, ``512k``).
    """

    max_size: str = "5m"
    max_files: int = 2


@dataclass(frozen=True)
class HostSpec:
    name: str
    image: str
    segments: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    accounts: tuple[Account, ...] = ()
    files: tuple[PlacedFile, ...] = ()
    startup: tuple[str, ...] = ()
    services: tuple[ServicePort, ...] = ()
    capabilities: tuple[str, ...] = ()
    forwarding: bool = False
    gateway: str | None = None
    hidden: bool = False
    trainee_login: bool = False
    limits: Limits = field(default_factory=Limits)
    fixed_addresses: tuple[tuple[str, str], ...] = ()  # (segment, address) the scenario fixes


@dataclass(frozen=True)
class RangeSpec:
    """One team's range. ``exercise`` and ``team`` label everything made for it."""

    exercise: str
    team: str
    segments: tuple[str, ...]
    hosts: tuple[HostSpec, ...]
    access_segments: tuple[str, ...]
    gateway_image: str
    gateway_user: str
    gateway_password: str
    fixed_subnets: tuple[tuple[str, str], ...] = ()  # (segment, subnet): one team per engine then
    dns: str | None = None  # the host that is the range's DNS server (None: names in /etc/hosts only)

    def host(self, name: str) -> HostSpec:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)
