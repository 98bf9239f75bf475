"""What a team's range looks like now, read back from Docker by label."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HostState:
    name: str
    container_id: str | None
    state: str  # running, paused, exited, missing, …
    addresses: dict[str, str] = field(default_factory=dict)  # segment -> IPv4 address
    # The container's first process on the Docker host; 0 when not running, or not read: the
    # listing ``status`` reads has no PIDs (``DockerRangeEngine.with_pid`` inspects for it).
    pid: int = 0


@dataclass(frozen=True)
class TeamRangeState:
    exercise: str
    team: str
    hosts: tuple[HostState, ...]
    gateway_port: int | None
    networks: int

    @property
    def complete(self) -> bool:
        return bool(self.hosts) and all(h.state == "running" for h in self.hosts)

    @property
    def empty(self) -> bool:
        return not self.networks and all(h.container_id is None for h in self.hosts)
