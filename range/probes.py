"""The checks' view of one team's range (``scoring.probe.Probe``), read by the engine.

Nothing here trusts a program inside a range host. Where the Docker Engine
runs on this machine (and this process is root), the range is read from the
Docker host directly: files and the process table through ``/proc`` of the
host's container (``range.hostread``), network probes from a thread that
joins the source container's network namespace (``range.netns``). Where it
cannot, the same questions go to the Docker API (get_archive, top) and to
``range.netprobe`` under ``nsenter``, which decide exactly as before. SSH
logins go through the team's gateway as a trainee's would, or from a source
host's network namespace with the platform's own SSH client. Nothing is ever
run inside a host: there is no ``exec`` here on purpose.
"""
from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar
from urllib.parse import urlsplit

from range import hostread, labels, netns, netprobe, ssh
from range.engine import DockerRangeEngine
from range.errors import RangeError
from range.spec import RangeSpec
from range.status import HostState, TeamRangeState
from scoring.probe import HttpOutcome, ProbeError, ProcessRow, TreeEntry

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # where ``-m range.netprobe`` is found
GRACE_SECONDS = 2.0  # a network probe is stopped this long after its own timeout
T = TypeVar("T")
_NO_NAMESPACE = object()  # this process cannot join a container's network namespace (not root)


class RangeProbe:
    """``scoring.probe.Probe`` for one team's range on a ``DockerRangeEngine``.

    The team's containers are listed once per probe (make one per round) and
    each host's PID is looked up once, when first needed; a host found to have
    restarted since (its PID gone or another's) is looked up once more.
    """

    def __init__(self, engine: DockerRangeEngine, spec: RangeSpec) -> None:
        self.engine = engine
        self.spec = spec
        self._state: TeamRangeState | None = None
        self._lock = threading.Lock()
        self._hosts: dict[str, HostState] = {}  # with their PIDs
        self._hosts_lock = threading.Lock()
        self._remote: set[str] = set()  # hosts whose PIDs are not this machine's
        self._no_ssh: set[tuple[str, str]] = set()  # (source, address) whose port 22 did not connect

    # Inside hosts ------------------------------------------------------------------------

    def processes(self, host: str) -> list[ProcessRow]:
        rows = self._read(host, hostread.processes,
                          lambda: self.engine.processes(self.spec.exercise, self.spec.team, host))
        return [ProcessRow(p.pid, p.uid, p.user, p.command) for p in rows]

    def read_file(self, host: str, path: str, max_bytes: int) -> bytes | None:
        # Links are followed inside the host, as its own programs (sshd, cron, Apache) follow them: a
        # trainee who swaps a file for a link to the same content has changed nothing.
        return self._read(host, lambda pid, container: hostread.read_file(pid, container, path, max_bytes,
                                                                          follow=True),
                          lambda: self.engine.get_file(self.spec.exercise, self.spec.team, host, path, max_bytes,
                                                       follow=True))

    def list_tree(self, host: str, path: str, max_entries: int) -> list[TreeEntry] | None:
        def on_host(pid: int, container: str) -> list[tuple[str, str, int]] | None:
            try:
                return hostread.list_tree(pid, container, path, max_entries)
            except hostread.TooManyEntries:
                raise ProbeError(f"{path} on {host} has more than {max_entries} entries: too many to look at") from None

        rows = self._read(host, on_host,
                          lambda: self.engine.list_tree(self.spec.exercise, self.spec.team, host, path, max_entries))
        return None if rows is None else [TreeEntry(name, kind, size) for name, kind, size in rows]  # type: ignore[arg-type]

    def _read(self, host: str, on_host: Callable[[int, str], T], through_docker: Callable[[], T]) -> T:
        """Read on the Docker host when it can answer, else through the Docker API."""
        state = self._host(host)
        for attempt in (1, 2):
            if state.pid <= 0 or state.container_id is None or host in self._remote:
                break
            try:
                return on_host(state.pid, state.container_id)
            except hostread.NotThisContainer:
                if attempt == 2:
                    self._remote.add(host)  # found again, still not here: the engine is not on this machine
                    break
                state = self._host(host, stale=state)
            except hostread.HostReadUnavailable:
                break
        return _decide(through_docker)

    # The network, from inside a source host's network namespace -------------------------

    def tcp(self, source: str, target: str, port: int, timeout: float) -> bool:
        address = self.address(source, target)
        answer = self._netprobe(source, lambda opened: netprobe.tcp(address, port, timeout, opened),
                                ["tcp", address, str(port), f"{timeout:g}"], timeout)
        return bool(answer.get("open"))

    def http(self, source: str, url: str, method: str, timeout: float, max_body: int,
             headers: Mapping[str, str] | None = None) -> HttpOutcome:
        address = self.address(source, urlsplit(url).hostname or "")
        answer = self._netprobe(
            source, lambda opened: netprobe.http_request(method, url, address, timeout, max_body, opened, headers),
            ["http", method, url, address, f"{timeout:g}", str(max_body), *([json.dumps(headers)] if headers else [])],
            timeout)
        try:
            return HttpOutcome(int(answer.get("status") or 0), base64.b64decode(str(answer.get("body", ""))),
                               str(answer.get("error", "")))
        except ValueError as exc:
            raise ProbeError(f"the HTTP probe from {source} gave an unreadable answer ({exc})") from None

    def ssh_login(self, host: str, user: str, password: str, timeout: float) -> bool:
        if not set(self._segments(host)) & set(self._segments(labels.GATEWAY_HOST)):
            raise ProbeError(f"{host} is on no segment of the team's gateway, so SSH logins to it cannot be tried")
        port = self._range_state().gateway_port
        if port is None:
            raise ProbeError("the team's gateway has no published SSH port (is it running?)")
        gateway = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.engine.bind_address,
                                                                          self.engine.bind_address)
        try:
            return ssh.ssh_login(gateway, port, self.spec.gateway_user, self.spec.gateway_password,
                                 self.address(labels.GATEWAY_HOST, host), user, password, timeout)
        except ssh.SshUnavailable as exc:
            raise ProbeError(str(exc)) from None

    def ssh_access(self, source: str, host: str, user: str, *, password: str | None, key: bytes | None,
                   timeout: float, shell_or_tunnel: bool) -> bool:
        """An SSH login from inside *source*'s network namespace, by the platform's own SSH client.

        A connection that cannot be made (port closed, filtered, the host
        down) means the login does not get in.
        """
        address = self.address(source, host)
        if (source, address) in self._no_ssh:
            return False

        def attempt(opened: netns.Opened) -> bool:
            try:
                connection = socket.create_connection((address, 22), timeout=timeout)
            except OSError:
                # Read once per round, like a file: the next login from here (another user or key)
                # does not wait for the same filtered port again.
                self._no_ssh.add((source, address))
                return False
            opened(connection)
            try:
                return ssh.access(connection, address, user, password, key, timeout, shell_or_tunnel)
            finally:
                connection.close()

        try:
            answer = self._in_namespace(source, attempt, 3 * timeout + GRACE_SECONDS, "SSH")
        except ssh.SshUnavailable as exc:
            raise ProbeError(str(exc)) from None
        if answer is _NO_NAMESPACE:
            raise ProbeError(f"the network of {source} cannot be entered from this machine (not root?), "
                             "so an SSH login from it cannot be tried")
        return bool(answer)

    # Names and addresses -----------------------------------------------------------------

    def address(self, viewer: str, name: str) -> str:
        """The address *name* (a host id or alias) has as seen from *viewer*.

        Like the range's own ``/etc/hosts``: the address on a segment both
        share, else the target's first segment (reached through a router).
        """
        target = next((h.name for h in self.spec.hosts if name == h.name or name in h.aliases), None)
        if target is None and name != labels.GATEWAY_HOST:
            raise ProbeError(f"{name!r} names no host of the range")
        target = target or labels.GATEWAY_HOST
        segments = self._segments(target)
        viewer_segments = self._segments(viewer)
        segment = next((s for s in segments if s in viewer_segments), segments[0])
        state = next((h for h in self._range_state().hosts if h.name == target), None)
        address = state.addresses.get(segment) if state else None
        if not address:
            raise ProbeError(f"{target} has no address on {segment} ({state.state if state else 'missing'})")
        return address

    def _segments(self, host: str) -> tuple[str, ...]:
        if host == labels.GATEWAY_HOST:
            return (labels.ACCESS_SEGMENT, *self.spec.access_segments)
        try:
            return self.spec.host(host).segments
        except KeyError:
            raise ProbeError(f"{host!r} is no host of the range") from None

    def _range_state(self) -> TeamRangeState:
        with self._lock:
            if self._state is None:
                self._state = _decide(lambda: self.engine.status(self.spec))
            return self._state

    def _host(self, name: str, stale: HostState | None = None) -> HostState:
        """*name*'s container and PID, looked up once; again when *stale* is what was found before."""
        with self._hosts_lock:
            known = self._hosts.get(name)
            if known is None or known == stale:
                if stale is not None:
                    with self._lock:
                        self._state = None  # list again: a host reset since has a new container
                listed = next((h for h in self._range_state().hosts if h.name == name), None)
                if listed is None:
                    raise ProbeError(f"{name!r} is no host of the range")
                known = self._hosts[name] = _decide(lambda: self.engine.with_pid(listed))
            return known

    def _netprobe(self, source: str, in_namespace: Callable[[netns.Opened], dict[str, Any]], args: list[str],
                  timeout: float) -> dict[str, Any]:
        """A ``range.netprobe`` probe in *source*'s network namespace, stopped after its timeout and a grace."""
        answer = self._in_namespace(source, in_namespace, timeout + GRACE_SECONDS, args[0])
        if answer is _NO_NAMESPACE:
            return self._nsenter(source, self._host(source).pid, args, timeout)
        return answer  # type: ignore[return-value]

    def _in_namespace(self, source: str, probe: Callable[[netns.Opened], T], wait: float, what: str) -> T | object:
        """``probe`` on a thread in *source*'s network namespace; ``_NO_NAMESPACE`` where this process cannot join it."""
        state = self._host(source)
        for attempt in (1, 2):
            if state.state != "running" or state.pid <= 0 or state.container_id is None:
                raise ProbeError(f"{source} is not running ({state.state})")
            try:
                return netns.run_in_network_namespace(state.pid, state.container_id, probe, wait)
            except netns.ProbeTimeout:
                raise ProbeError(f"the {what} probe from {source} did not finish within {wait:g} s "
                                 "and was stopped") from None
            except hostread.NotThisContainer:
                if attempt == 2:
                    raise ProbeError(f"the network of {source} cannot be entered from this machine (its "
                                     "container's process is not here: is the Docker Engine remote?)") from None
                state = self._host(source, stale=state)
            except hostread.HostReadUnavailable:
                break
        return _NO_NAMESPACE

    def _nsenter(self, source: str, pid: int, args: list[str], timeout: float) -> dict[str, Any]:
        """``python -m range.netprobe`` under ``nsenter``: where this process cannot join a namespace itself."""
        nsenter = shutil.which("nsenter")
        if nsenter is None:
            raise ProbeError("nsenter is not installed on the Docker host (util-linux)")
        argv = [nsenter, "-t", str(pid), "-n", sys.executable, "-E", "-s", "-m", "range.netprobe", *args]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=timeout + GRACE_SECONDS, cwd=PROJECT_ROOT,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise ProbeError(f"the {args[0]} probe from {source} did not finish within "
                             f"{timeout + GRACE_SECONDS:g} s and was killed") from None
        lines = done.stdout.decode("utf-8", errors="replace").strip().splitlines()
        try:
            answer = json.loads(lines[-1]) if lines else None
        except json.JSONDecodeError:
            answer = None
        if done.returncode != 0 or not isinstance(answer, dict):
            detail = (answer or {}).get("error") if isinstance(answer, dict) else None
            detail = detail or done.stderr.decode("utf-8", errors="replace").strip()[-200:] or "no output"
            raise ProbeError(f"the {args[0]} probe from {source} failed (exit {done.returncode}): {detail}")
        return answer


def _decide(read: Callable[[], T]) -> T:
    """Run an engine read; its failures become ``ProbeError`` (the check could not decide)."""
    try:
        return read()
    except RangeError as exc:
        raise ProbeError(str(exc)) from None
