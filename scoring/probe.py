"""What check types may ask of a team's range: the probe interface and its typed answers.

Checks are written against this interface only; the range library provides
the implementation (``range.probes.RangeProbe``), tests may provide fakes.
Everything a probe reports is read by the platform itself — the process table,
files and directories from outside the container (the Docker host's ``/proc``,
or the container engine's API), network probes and SSH logins from outside the
container in its network namespace — so a trainee with root in a host can
change what the host *does*, not what the platform *sees*. There is on purpose
no way to run a program inside a host: its answer would be the trainee's to forge.
"""
from __future__ import annotations

from dataclasses import dataclass
import threading
from typing import Any, Callable, Literal, Mapping, Protocol

# Caps on what a check reads, whatever the host offers.
MAX_FILE_BYTES = 1024 * 1024
MAX_HTTP_BODY = 256 * 1024
MAX_TREE_ENTRIES = 5000


class ProbeError(Exception):
    """The probe could not decide (host missing or stopped, engine failure, …)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TreeEntry:
    """One entry below a directory: its path relative to it (``/``-separated), its kind and size.

    ``kind`` is ``file`` (a regular file), ``dir``, ``link`` (a symbolic link, never followed)
    or ``other`` (a FIFO, socket or device).
    """

    path: str
    kind: Literal["file", "dir", "link", "other"]
    size: int


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

    def processes(self, host: str) -> list[ProcessRow]:
        """The host's processes, read by the engine (never through the host's own ``ps``)."""
        ...

    def read_file(self, host: str, path: str, max_bytes: int) -> bytes | None:
        """At most *max_bytes* of a regular file, read through the engine; ``None`` when absent.

        Symbolic links are followed inside the host (never out of it), as its own programs would.
        """
        ...

    def list_tree(self, host: str, path: str, max_entries: int) -> list[TreeEntry] | None:
        """Every entry below the directory *path* (links not followed), read by the engine;
        ``None`` when *path* is no directory; ``ProbeError`` past *max_entries*."""
        ...

    def tcp(self, source: str, target: str, port: int, timeout: float) -> bool:
        """Does a TCP connection from inside *source*'s network to *target*:*port* succeed?"""
        ...

    def http(self, source: str, url: str, method: str, timeout: float, max_body: int,
             headers: Mapping[str, str] | None = None) -> HttpOutcome:
        """An HTTP request from inside *source*'s network (the URL's host name in ``Host``, *headers* too)."""
        ...

    def ssh_login(self, host: str, user: str, password: str, timeout: float) -> bool:
        """Does a password login to *host* (through the team's gateway) succeed?"""
        ...

    def ssh_access(self, source: str, host: str, user: str, *, password: str | None, key: bytes | None,
                   timeout: float, shell_or_tunnel: bool) -> bool:
        """Does an SSH login to *host* from inside *source*'s network get in?

        With a password or a private key (PEM/OpenSSH text); with
        *shell_or_tunnel*, "in" also needs a command or a TCP tunnel to work
        once logged in (a ``nologin`` shell still tunnels).
        """
        ...


class RoundProbe:
    """A probe for one round: each host's process table and each file read once, whatever asks.

    Ten checks on one host then cost one process-table read; directory listings
    are cached the same way; network probes and logins are never cached (each
    is its own observation).
    """

    def __init__(self, probe: Probe) -> None:
        self._probe = probe
        self._lock = threading.Lock()
        self._processes: dict[str, list[ProcessRow] | ProbeError] = {}
        self._files: dict[tuple[str, str, int], bytes | None | ProbeError] = {}
        self._trees: dict[tuple[str, str, int], list[TreeEntry] | None | ProbeError] = {}
        self._key_locks: dict[tuple[int, Any], threading.Lock] = {}

    def processes(self, host: str) -> list[ProcessRow]:
        return self._once(self._processes, host, lambda: self._probe.processes(host))

    def read_file(self, host: str, path: str, max_bytes: int) -> bytes | None:
        return self._once(self._files, (host, path, max_bytes), lambda: self._probe.read_file(host, path, max_bytes))

    def list_tree(self, host: str, path: str, max_entries: int) -> list[TreeEntry] | None:
        return self._once(self._trees, (host, path, max_entries),
                          lambda: self._probe.list_tree(host, path, max_entries))

    def tcp(self, source: str, target: str, port: int, timeout: float) -> bool:
        return self._probe.tcp(source, target, port, timeout)

    def http(self, source: str, url: str, method: str, timeout: float, max_body: int,
             headers: Mapping[str, str] | None = None) -> HttpOutcome:
        return self._probe.http(source, url, method, timeout, max_body, headers)

    def ssh_login(self, host: str, user: str, password: str, timeout: float) -> bool:
        return self._probe.ssh_login(host, user, password, timeout)

    def ssh_access(self, source: str, host: str, user: str, *, password: str | None, key: bytes | None,
                   timeout: float, shell_or_tunnel: bool) -> bool:
        return self._probe.ssh_access(source, host, user, password=password, key=key, timeout=timeout,
                                      shell_or_tunnel=shell_or_tunnel)

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
