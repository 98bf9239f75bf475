"""What check types may ask of a team's range: the probe interface and its typed answers.

Checks are written against this interface only; the range library provides
the implementation (``range.probes.RangeProbe``), tests may provide fakes.
Everything a probe reports is read by the platform itself — the process table
and files from outside the container (the Docker host's ``/proc``, or the
container engine's API), network probes from outside the container in its
network namespace — so a trainee with root in a host can change what the host
*does*, not what the platform *sees*.
"""
from __future__ import annotations

from dataclasses import dataclass
import threading
from typing import Any, Callable, Protocol, Sequence

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


class RoundProbe:
    """A probe for one round: each host's process table and each file read once, whatever asks.

    Ten checks on one host then cost one process-table read; network probes,
    commands and logins are never cached (each is its own observation).
    """

    def __init__(self, probe: Probe) -> None:
        self._probe = probe
        self._lock = threading.Lock()
        self._processes: dict[str, list[ProcessRow] | ProbeError] = {}
        self._files: dict[tuple[str, str, int], bytes | None | ProbeError] = {}
        self._key_locks: dict[tuple[int, Any], threading.Lock] = {}

    def processes(self, host: str) -> list[ProcessRow]:
        return self._once(self._processes, host, lambda: self._probe.processes(host))

    def read_file(self, host: str, path: str, max_bytes: int) -> bytes | None:
        return self._once(self._files, (host, path, max_bytes), lambda: self._probe.read_file(host, path, max_bytes))

    def exec(self, host: str, argv: Sequence[str], *, user: str, timeout: float, max_output: int) -> ExecOutcome:
        return self._probe.exec(host, argv, user=user, timeout=timeout, max_output=max_output)

    def tcp(self, source: str, target: str, port: int, timeout: float) -> bool:
        return self._probe.tcp(source, target, port, timeout)

    def http(self, source: str, url: str, method: str, timeout: float, max_body: int) -> HttpOutcome:
        return self._probe.http(source, url, method, timeout, max_body)

    def ssh_login(self, host: str, user: str, password: str, timeout: float) -> bool:
        return self._probe.ssh_login(host, user, password, timeout)

    def _once(self, cache: dict[Any, Any], key: Any, read: Callable[[], Any]) -> Any:
        with self._lock:  # one lock per key: reads of different hosts still run side by side
            key_lock = self._key_locks.setdefault((id(cache), key), threading.Lock())
        with key_lock:
            if key not in cache:
                try:
                    cache[key] = read()
                except ProbeError as exc:
                    cache[key] = exc
            found = cache[key]
        if isinstance(found, ProbeError):
            raise found
        return found
