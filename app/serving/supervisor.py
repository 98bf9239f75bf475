"""What ``mamori serve`` runs: the web server, and the engine beside it, kept alive.

The web server (gunicorn, which restarts its own workers) is essential: when it ends, everything
stops. The engine is restarted when it dies, after a pause that doubles on each quick death (1 s up
to a minute) and starts over once it has run a minute; every death is logged with its exit status or
signal. A stop request (SIGINT from the terminal's Ctrl-C, SIGTERM from systemd) stops both: SIGTERM
to each, SIGKILL for one still running after the grace period.
"""
from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Mapping, Sequence

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0
STABLE_AFTER = 60.0  # an engine that ran this long was healthy: the next death waits FIRST_BACKOFF again
GRACE = 30.0  # the engine finishes the inject in progress on SIGTERM
POLL = 0.2


def describe_exit(returncode: int) -> str:
    """``exit status 3`` or ``killed by SIGKILL`` (Popen gives -N for a signal)."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


@dataclass
class Child:
    """One supervised command."""

    name: str
    command: Sequence[str]
    restart: bool  # restarted when it dies (the engine); otherwise its death stops everything (the web)
    env: Mapping[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = FIRST_BACKOFF
    restart_at: float | None = None
    deaths: list[int] = field(default_factory=list)

    def start(self) -> None:
        self.process = subprocess.Popen(list(self.command), env=self.env)
        self.started = time.monotonic()
        self.restart_at = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    """Run *children* until the web one ends or a stop is requested; return the exit status for ``serve``."""

    def __init__(self, children: list[Child], log: Callable[[str], None]) -> None:
        self.children = children
        self.log = lambda line: log(f"{datetime.now():%Y-%m-%d %H:%M:%S} mamori serve: {line}")
        self.stop_requested = False

    def request_stop(self, *_: object) -> None:
        self.stop_requested = True

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self.request_stop)
        for child in self.children:
            child.start()
            self.log(f"{child.name} started (pid {child.process.pid})")  # type: ignore[union-attr]
        status = 0
        while not self.stop_requested:
            ended = self._watch()
            if ended is not None:
                status = ended
                break
            time.sleep(POLL)
        self._stop_all()
        return status

    def _watch(self) -> int | None:
        """One look at every child; the exit status for ``serve`` when an essential one has ended."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:  # dead, waiting for its restart
                if now >= child.restart_at:
                    child.start()
                    self.log(f"{child.name} restarted (pid {child.process.pid})")  # type: ignore[union-attr]
                continue
            if child.process is None or child.running():
                continue
            returncode = child.process.returncode
            if self._stopping_soon():
                return None
            if not child.restart:
                self.log(f"{child.name} ended ({describe_exit(returncode)}); stopping")
                return max(abs(returncode), 1)
            child.deaths.append(returncode)
            if now - child.started >= STABLE_AFTER:
                child.backoff = FIRST_BACKOFF
            child.restart_at = now + child.backoff
            self.log(f"{child.name} died ({describe_exit(returncode)}) after {now - child.started:.0f} s; "
                     f"restarting in {child.backoff:g} s")
            child.backoff = min(child.backoff * 2, MAX_BACKOFF)
        return None

    def _stopping_soon(self) -> bool:
        """A Ctrl-C reaches the children too: one may end a moment before our own handler runs."""
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline and not self.stop_requested:
            time.sleep(0.05)
        return self.stop_requested

    def _stop_all(self) -> None:
        running = [child for child in self.children if child.running()]
        for child in running:
            child.process.terminate()  # type: ignore[union-attr]
        deadline = time.monotonic() + GRACE
        for child in running:
            try:
                child.process.wait(timeout=max(deadline - time.monotonic(), 0.1))  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                self.log(f"{child.name} did not stop within {GRACE:g} s; killing it")
                child.process.kill()  # type: ignore[union-attr]
                child.process.wait()  # type: ignore[union-attr]
        self.log("stopped")
