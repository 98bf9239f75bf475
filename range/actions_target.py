"""The inject actions' view of one team's range (``range.actions.ActionTarget``), through the engine.

Unlike the checks' probe, actions *change* hosts: they run commands as a
user, start processes, place files. Everything goes through the range
engine's Docker API calls; a host without a running container makes the
engine raise, and ``range.actions.run_action`` turns that into a failed result.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from range import hostfw, labels
from range.actions import ActionError
from range.engine import DockerRangeEngine
from range.results import ExecResult, ProcessInfo
from range.spec import RangeSpec

CHOWN_TIMEOUT = 10.0


class RangeActionTarget:
    """``ActionTarget`` for one team's range on a ``DockerRangeEngine``.

    *bundle* maps a scenario's bundled file paths (relative to its folder,
    ``attacker/pass.txt``) to their bytes.
    """

    def __init__(self, engine: DockerRangeEngine, spec: RangeSpec, bundle: Mapping[str, bytes]) -> None:
        self.engine = engine
        self.spec = spec
        self.bundle = bundle

    def exec(self, host: str, argv: Sequence[str], *, user: str, timeout: float, max_output: int) -> ExecResult:
        return self.engine.exec(self.spec.exercise, self.spec.team, host, argv, user=user, timeout=timeout,
                                max_output=max_output)

    def start_detached(self, host: str, argv: Sequence[str], *, user: str) -> None:
        self.engine.start_detached(self.spec.exercise, self.spec.team, host, argv, user=user)

    def put_file(self, host: str, path: str, content: bytes, mode: int) -> None:
        self.engine.put_file(self.spec.exercise, self.spec.team, host, path, content, mode)

    def chown(self, host: str, path: str, owner: str) -> None:
        """``chown OWNER: PATH`` as root inside the host (the owner's login group too)."""
        done = self.exec(host, ["chown", f"{owner}:", path], user="root", timeout=CHOWN_TIMEOUT, max_output=4096)
        if not done.ok:
            said = " ".join(done.text.split())[:200] or f"exit {done.exit_code}"
            raise ActionError(f"chown {owner}: {path} on {host} failed: {said}")

    def processes(self, host: str) -> list[ProcessInfo]:
        return self.engine.processes(self.spec.exercise, self.spec.team, host)

    def bundled(self, source: str) -> bytes:
        try:
            return self.bundle[source]
        except KeyError:
            raise ActionError(f"no file {source!r} is bundled with the scenario") from None

    def isolate(self, host: str) -> None:
        state = self.engine.status(self.spec)
        gateway = next((h for h in state.hosts if h.name == labels.GATEWAY_HOST), None)
        keep = sorted(set(gateway.addresses.values())) if gateway is not None else []
        if not keep:
            raise ActionError("the team's SSH gateway is not running: isolating would shut the team out too")
        hostfw.isolate(self._pid(state, host), keep)

    def reconnect(self, host: str) -> bool:
        return hostfw.reconnect(self._pid(self.engine.status(self.spec), host))

    def _pid(self, state: object, host: str) -> int:
        found = next((h for h in state.hosts if h.name == host), None)  # type: ignore[attr-defined]
        if found is None or found.container_id is None:
            self.engine.container_id(self.spec.exercise, self.spec.team, host)  # says which host is missing
            raise ActionError(f"{host} is not running")
        pid = self.engine.with_pid(found).pid
        if not pid:
            raise ActionError(f"{host} is not running")
        return pid
