"""Browser terminals: who may open one on which host, the per-team cap, the bridge (recordings: ``terminal_recordings``).

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

import enum
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import RangeState, Role, Team, TerminalSession, User
from app.models.base import utcnow
from app.services import ranges
from app.services.errors import N_, Conflict, Forbidden, NotFound, ServiceError
from app.services.terminal_recordings import TERM, Recorder
from range import ssh
from range.errors import RangeError

HEARTBEAT_SECONDS = 20  # an open terminal touches its recording this often
STALE_SECONDS = 90  # a recording untouched this long belongs to a terminal nobody runs any more
CONNECT_TIMEOUT = 15.0
MIN_SIZE, MAX_SIZE = (2, 1), (500, 200)  # columns, rows a browser may ask for


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
