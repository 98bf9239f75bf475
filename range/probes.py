"""The checks' view of one team's range (``scoring.probe.Probe``), read by the engine.

Nothing here trusts a program inside a range host: processes come from the
engine's process table, files through the Docker API, network probes run on
the Docker host inside the source container's network namespace
(``range.netprobe`` under ``nsenter``), SSH logins go through the team's
gateway as a trainee's would.
"""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar
from urllib.parse import urlsplit

from range import labels, ssh
from range.engine import DockerRangeEngine
from range.errors import RangeError
from range.spec import RangeSpec
from range.status import TeamRangeState
from scoring.probe import ExecOutcome, HttpOutcome, ProbeError, ProcessRow

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # where ``-m range.netprobe`` is found
GRACE_SECONDS = 2.0  # a network probe is killed this long after its own timeout
T = TypeVar("T")


class RangeProbe:
    """``scoring.probe.Probe`` for one team's range on a ``DockerRangeEngine``.

    Addresses are read from the engine once per probe (make one per round);
    container PIDs are looked up for every network probe, so a restarted
    host is found again.
    """

    def __init__(self, engine: DockerRangeEngine, spec: RangeSpec) -> None:
        self.engine = engine
        self.spec = spec
        self._state: TeamRangeState | None = None
        self._lock = threading.Lock()

    # Inside hosts, through the engine ------------------------------------------------

    def exec(self, host: str, argv: Sequence[str], *, user: str, timeout: float, max_output: int) -> ExecOutcome:
        result = _decide(lambda: self.engine.exec(self.spec.exercise, self.spec.team, host, argv, user=user,
                                                  timeout=timeout, max_output=max_output))
        return ExecOutcome(result.exit_code, result.output, result.timed_out, result.truncated)

    def processes(self, host: str) -> list[ProcessRow]:
        rows = _decide(lambda: self.engine.processes(self.spec.exercise, self.spec.team, host))
        return [ProcessRow(p.pid, p.uid, p.user, p.command) for p in rows]

    def read_file(self, host: str, path: str, max_bytes: int) -> bytes | None:
        return _decide(lambda: self.engine.get_file(self.spec.exercise, self.spec.team, host, path, max_bytes))

    # The network, from inside a source host's network namespace -------------------------

    def tcp(self, source: str, target: str, port: int, timeout: float) -> bool:
        answer = self._netprobe(source, ["tcp", self.address(source, target), str(port), f"{timeout:g}"], timeout)
        return bool(answer.get("open"))

    def http(self, source: str, url: str, method: str, timeout: float, max_body: int) -> HttpOutcome:
        address = self.address(source, urlsplit(url).hostname or "")
        answer = self._netprobe(source, ["http", method, url, address, f"{timeout:g}", str(max_body)], timeout)
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

    def _pid(self, host: str) -> int:
        def look() -> Any:
            return self.engine.backend.container(self.engine.container_id(self.spec.exercise, self.spec.team, host))

        info = _decide(look)
        if info is None or info.status != "running" or info.pid <= 0:
            raise ProbeError(f"{host} is not running ({info.status if info else 'missing'})")
        return int(info.pid)

    def _netprobe(self, source: str, args: list[str], timeout: float) -> dict[str, Any]:
        """Run ``range.netprobe`` in *source*'s network namespace; killed after its timeout and a grace."""
        nsenter = shutil.which("nsenter")
        if nsenter is None:
            raise ProbeError("nsenter is not installed on the Docker host (util-linux)")
        argv = [nsenter, "-t", str(self._pid(source)), "-n", sys.executable, "-E", "-s", "-m", "range.netprobe",
                *args]
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
