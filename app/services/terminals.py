"""Browser terminals: who may open one on which host, the per-team cap, the recordings, the bridge.

A terminal is an interactive shell on a range host, reached through the
team's gateway exactly as a trainee's own SSH client would (``range.ssh``).
Every terminal is a ``TerminalSession`` row and an asciicast v2 recording
under the instance folder; the recording is written as the session runs, so
an instructor watching live simply follows the file (from any worker, and
across a restart of the control plane). The file's modification time is the
session's heartbeat: a row left open by a control plane that died stops
counting against the team's cap once its heartbeat is stale.

Every exit of a terminal (the browser leaving at any moment, the shell
ending, an error) closes the shell, the recording and the row; the cap is
checked and taken under a lock on the team's row, so handshakes arriving
together in several workers cannot all see room. A recording stops at its
size limit with a last line saying so, while the terminal goes on.
"""
from __future__ import annotations

import codecs
import enum
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import RangeState, Role, Team, TerminalSession, User
from app.models.base import utcnow
from app.services import ranges
from app.services.errors import N_, Conflict, Forbidden, NotFound, ServiceError
from range import ssh
from range.errors import RangeError

HEARTBEAT_SECONDS = 20  # an open terminal touches its recording this often
STALE_SECONDS = 90  # a recording untouched this long belongs to a terminal nobody runs any more
CONNECT_TIMEOUT = 15.0
MIN_SIZE, MAX_SIZE = (2, 1), (500, 200)  # columns, rows a browser may ask for
TERM = "xterm-256color"
NOTICE_ROOM = 1024  # bytes kept free under a recording's limit for the line saying it stopped


class EndReason(enum.StrEnum):
    EXITED = "exited"  # the shell ended (the trainee typed exit)
    LOST = "lost"  # the connection to the host went: the host was reset or stopped, or the gateway went away
    IDLE = "idle"  # nothing was typed for the idle timeout
    CLOSED = "closed"  # the browser closed the terminal
    UNAVAILABLE = "unavailable"  # the shell could not be opened
    INTERRUPTED = "interrupted"  # the control plane stopped while it was open (found afterwards)


@dataclass(frozen=True)
class TerminalLimits:
    idle_seconds: float = 30 * 60
    per_team: int = 4
    recording_bytes: int = 5 * 1024 * 1024  # per session; past it the recording stops (the terminal does not)


@dataclass(frozen=True)
class ShellTarget:
    """Everything needed to open a shell on one host of one team's range."""

    team_id: int
    host: str
    account: str
    password: str
    gateway_host: str
    gateway_port: int
    gateway_user: str
    gateway_password: str


def target_for(session: Session, user: User, team: Team, host: str, bind_address: str,
               account: str | None = None) -> ShellTarget:
    """The host *user* may open a terminal on: a member of *team*, a host trainees log in to, one of its accounts.

    Staff watch terminals; they do not open them in a team's name (``Forbidden``).
    """
    if not any(m.user_id == user.id for m in team.memberships):
        raise Forbidden(N_("only the team's members may open its terminals"))
    row, hosts = ranges.access_for(session, team)
    if row is None or row.gateway_port is None or row.state is not RangeState.READY:
        raise NotFound(N_("your range is not ready yet"))
    found = next((h for h in hosts if h.name == host), None)
    if found is None or not found.accounts:
        raise NotFound(N_("your range has no host %(host)r you may log in to"), host=host)
    credentials = dict(found.accounts)
    chosen = account or found.accounts[0][0]
    if chosen not in credentials:
        raise NotFound(N_("host %(host)s has no account %(account)r"), host=host, account=chosen)
    return ShellTarget(team.id, host, chosen, credentials[chosen], _reachable(bind_address), row.gateway_port,
                       row.gateway_user, row.gateway_password)


def _reachable(bind_address: str) -> str:
    """Where the gateway's published port is reached from the control plane."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(bind_address, bind_address)


def open_sessions(session: Session, team: Team, instance: Path, now: float | None = None) -> list[TerminalSession]:
    """The team's terminals that are open now; rows whose heartbeat went stale are ended as interrupted."""
    now = time.time() if now is None else now
    alive = []
    for row in session.scalars(select(TerminalSession).where(
            TerminalSession.team_id == team.id, TerminalSession.ended_at.is_(None))):
        if now - heartbeat(instance, row) < STALE_SECONDS:
            alive.append(row)
        else:
            end_session(row, instance, EndReason.INTERRUPTED)
    return alive


def heartbeat(instance: Path, row: TerminalSession) -> float:
    """When the session last showed it was alive (its recording's modification time)."""
    try:
        return (instance / row.recording).stat().st_mtime
    except OSError:
        return row.started_at.timestamp()


def start_session(session: Session, user: User, team: Team, target: ShellTarget, instance: Path,
                  limits: TerminalLimits) -> TerminalSession:
    """A new session row (and its recording's path), if the team is under its cap (``Conflict`` if not).

    The team's row is locked first; the caller commits (or rolls back) at once, which releases it.
    """
    _lock_team(session, team)
    if len(open_sessions(session, team, instance)) >= limits.per_team:
        raise Conflict(N_("your team already has %(count)d terminals open; close one to open another"),
                       count=limits.per_team)
    row = TerminalSession(exercise_id=team.exercise_id, team_id=team.id, user_id=user.id, host=target.host,
                          account=target.account, started_at=utcnow())
    session.add(row)
    session.flush()
    row.recording = f"recordings/{team.exercise_id}/{team.id}/{row.id}.cast"
    return row


def _lock_team(session: Session, team: Team) -> None:
    """Serialise the cap's count-then-insert per team, across threads, workers and processes.

    A no-op UPDATE of the team's row is the portable lock: on PostgreSQL it
    holds the row lock until the transaction ends (a second handshake waits,
    then counts the first one's row); on SQLite it takes the database's one
    write lock (others wait out ``busy_timeout``). ``SELECT … FOR UPDATE``
    would be ignored by SQLite.
    """
    session.execute(update(Team).where(Team.id == team.id).values(number=Team.number)
                    .execution_options(synchronize_session=False))


def end_session(row: TerminalSession, instance: Path, reason: EndReason, *, truncated: bool = False) -> None:
    """The row of a terminal that ended (*truncated*: its recording stopped at its size limit)."""
    if row.ended_at is None:
        row.ended_at, row.end_reason = utcnow(), reason.value
    row.recording_truncated = row.recording_truncated or truncated
    try:
        row.recorded_bytes = (instance / row.recording).stat().st_size
    except OSError:
        pass


def sessions_of(session: Session, team: Team) -> list[tuple[TerminalSession, str]]:
    """The team's terminal sessions with who opened each, newest first."""
    found = session.execute(
        select(TerminalSession, User.display_name).outerjoin(User, User.id == TerminalSession.user_id)
        .where(TerminalSession.team_id == team.id).order_by(TerminalSession.id.desc()))
    return [(row, name or "—") for row, name in found]


def get_session_for(session: Session, user: User, team: Team, terminal_id: int) -> TerminalSession:
    """One of *team*'s sessions, for staff (recordings and live views are for instructors and administrators)."""
    if not user.has_role(Role.INSTRUCTOR):
        raise Forbidden(N_("only instructors may watch terminals"))
    row = session.get(TerminalSession, terminal_id)
    if row is None or row.team_id != team.id:
        raise NotFound(N_("no terminal session %(id)d"), id=terminal_id)
    return row


class Recorder:
    """An asciicast v2 recording being written: a header line, then one JSON line per event, flushed at once.

    The file stays under *max_bytes*: the event that would pass it is
    replaced by a last output line, *notice*, saying the recording stopped
    (``truncated`` is then true) and later events are dropped. A context
    manager: the file is closed on leaving.
    """

    def __init__(self, path: Path, cols: int, rows: int, title: str, *, max_bytes: int | None = None,
                 notice: str = "[the recording stopped here: it reached its size limit]") -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Typed input is recorded too (passwords typed at a prompt included): owner only.
        self._file = open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8")
        self._path = path
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")  # a character split between reads
        self._max_bytes = max_bytes
        self._notice = notice
        self.written = 0
        self.truncated = False
        self._write({"version": 2, "width": cols, "height": rows, "timestamp": int(time.time()),
                     "title": title, "env": {"TERM": TERM, "SHELL": "/bin/bash"}})

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def output(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        if text:
            self._event("o", text)

    def input(self, text: str) -> None:
        self._event("i", text)

    def resize(self, cols: int, rows: int) -> None:
        self._event("r", f"{cols}x{rows}")

    def touch(self) -> None:
        os.utime(self._path)

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def _event(self, kind: str, data: str) -> None:
        if not self.truncated:
            self._write([self._now(), kind, data])

    def _now(self) -> float:
        return round(time.monotonic() - self._started, 6)

    def _write(self, value: object) -> None:
        line = json.dumps(value, ensure_ascii=False) + "\n"
        size = len(line.encode("utf-8"))
        with self._lock:
            if self._file.closed or self.truncated:
                return
            if self._max_bytes is not None and self.written and self.written + size > self._max_bytes - NOTICE_ROOM:
                self.truncated = True
                line = json.dumps([self._now(), "o", f"\r\n\x1b[7m{self._notice}\x1b[0m\r\n"], ensure_ascii=False) + "\n"
                size = len(line.encode("utf-8"))
            self._file.write(line)
            self._file.flush()
            self.written += size


class BrowserGone(Exception):
    """The browser side of a terminal closed."""


class Browser(Protocol):
    """The browser's end of a terminal, as the bridge sees it (the web layer adapts its WebSocket)."""

    def receive(self, timeout: float) -> tuple[str, object] | None:
        """("input", str), ("resize", (cols, rows)) or None after *timeout*; ``BrowserGone`` when closed."""

    def send_output(self, data: bytes) -> None:
        """Send what the shell printed; ``BrowserGone`` when closed."""


def clamp_size(cols: int, rows: int) -> tuple[int, int]:
    return (min(max(cols, MIN_SIZE[0]), MAX_SIZE[0]), min(max(rows, MIN_SIZE[1]), MAX_SIZE[1]))


class ShellUnavailable(ServiceError):
    status = 503


def open_shell(target: ShellTarget, cols: int, rows: int) -> ssh.Shell:
    """The shell of *target*; ``ShellUnavailable`` when it cannot be had (the reason is in the message)."""
    try:
        return ssh.open_shell(target.gateway_host, target.gateway_port, target.gateway_user,
                              target.gateway_password, target.host, target.account, target.password,
                              cols=cols, rows=rows, timeout=CONNECT_TIMEOUT, term=TERM)
    except RangeError as exc:
        raise ShellUnavailable(N_("could not connect to %(host)s (%(reason)s)"), host=target.host,
                               reason=str(exc)) from None


def run_shell(target: ShellTarget, cols: int, rows: int, recorder: Recorder, browser: Browser,
              idle_seconds: float, opened: Callable[[], None]) -> EndReason:
    """A terminal's life once its row exists: open the shell, tell the browser (*opened*), bridge until one side ends.

    The shell is closed on every way out, the browser leaving before the
    bridge runs included (``BrowserGone`` from *opened* ends it as closed).
    """
    try:
        shell = open_shell(target, cols, rows)
    except ShellUnavailable:
        return EndReason.UNAVAILABLE
    try:
        opened()
        return bridge(shell, recorder, browser, idle_seconds)
    except BrowserGone:
        return EndReason.CLOSED
    finally:
        shell.close()  # the bridge closed it already if it ran: closing again is harmless


def bridge(shell: ssh.Shell, recorder: Recorder, browser: Browser, idle_seconds: float,
           clock: Callable[[], float] = time.monotonic) -> EndReason:
    """Copy keystrokes to the shell and its output to the browser, recording both, until one side ends.

    Output is pumped by a thread of its own; this thread reads the browser,
    ends the terminal after *idle_seconds* without a keystroke and keeps the
    heartbeat. The shell is closed on return.
    """
    done = threading.Event()
    ended: list[EndReason] = []

    def pump() -> None:
        while not done.is_set():
            data = shell.recv(1.0)
            if data is None:
                continue
            if not data:
                ended.append(EndReason.EXITED if shell.exited() else EndReason.LOST)
                break
            recorder.output(data)
            try:
                browser.send_output(data)
            except BrowserGone:
                ended.append(EndReason.CLOSED)
                break
        done.set()

    output = threading.Thread(target=pump, name="terminal-output", daemon=True)
    output.start()
    last_input = last_beat = clock()
    try:
        while not done.is_set():
            now = clock()
            if now - last_input >= idle_seconds:
                ended.append(EndReason.IDLE)
                break
            if now - last_beat >= HEARTBEAT_SECONDS:
                recorder.touch()
                last_beat = now
            try:
                message = browser.receive(min(idle_seconds - (now - last_input), 0.5))
            except BrowserGone:
                ended.append(EndReason.CLOSED)
                break
            if message is None:
                continue
            kind, value = message
            if kind == "input" and isinstance(value, str):
                shell.send(value.encode("utf-8"))
                recorder.input(value)
                last_input = clock()
            elif kind == "resize" and isinstance(value, tuple):
                cols, rows = clamp_size(*value)
                shell.resize(cols, rows)
                recorder.resize(cols, rows)
    finally:
        done.set()
        shell.close()
        output.join(5)
    return ended[0] if ended else EndReason.CLOSED


@dataclass(frozen=True)
class CastEvent:
    """One line of a recording: the header (kind "header", data = the header dict) or an event."""

    at: float
    kind: str
    data: object


def follow(path: Path, still_open: Callable[[], bool], wait: Callable[[float], bool],
           poll: float = 0.25) -> Iterator[CastEvent]:
    """The recording's lines as they are written, until the session has ended and everything is read.

    *wait* sleeps up to *poll* seconds and returns ``False`` when the reader
    has gone (the viewer closed the page); *still_open* is asked between reads.
    """
    pending = b""
    offset = 0
    first = True
    while True:
        open_before = still_open()
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
        except FileNotFoundError:
            chunk = b""
        offset += len(chunk)
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            value = json.loads(line)
            if first:
                first = False
                yield CastEvent(0.0, "header", value)
            else:
                yield CastEvent(float(value[0]), str(value[1]), value[2])
        if not chunk and not open_before:
            return
        if not chunk and not wait(poll):
            return


def read_recording(path: Path) -> tuple[dict, list[CastEvent]]:
    """A finished recording: its header and its events (``NotFound`` if the file is gone)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        raise NotFound(N_("the recording is missing")) from None
    header = json.loads(lines[0]) if lines else {}
    events = [CastEvent(float(v[0]), str(v[1]), v[2]) for v in map(json.loads, filter(None, lines[1:]))]
    return header, events

