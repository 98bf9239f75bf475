"""Browser terminals into range hosts: the trainees' tabbed page, its WebSocket, and the staff's live views and replays.

Each WebSocket route is one view under two rules — the WebSocket rule and a
plain HTTP one (which answers 400 after the same checks, and keeps the route
visible to the authorisation matrix). The view checks the caller (signed in,
member of the team, the host is theirs, the ``Origin`` is this site) before
the upgrade, so a refused handshake is a plain 403/404. The upgrade itself is flask-sock's
machinery (``simple_websocket.Server`` on the server's socket), which works
under gunicorn's gthread worker and werkzeug's threaded server: each open
terminal holds one worker thread.
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Callable

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, url_for
from flask.sansio.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_login import current_user
from simple_websocket import ConnectionClosed, Server

from app.i18n import translate
from app.models import Role, Team, TerminalSession
from app.services import ranges, terminal_recordings, terminals
from app.services.errors import Conflict, ServiceError
from app.services.terminals import EndReason
from app.settings import ConfigurationError
from app.web.access import team_for as _team, require_role
from app.web.context import database, db_session, settings

bp = Blueprint("terminal", __name__, url_prefix="/teams")

# Pages with a terminal: xterm.js writes its measured cell sizes and colours into <style>
# elements it creates, which ``style-src 'self'`` would block. Scripts stay 'self' only.
TERMINAL_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
                "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


@bp.record_once
def _configure(state: BlueprintSetupState) -> None:
    config = state.app.config
    config.setdefault("MAMORI_TERMINAL_IDLE_SECONDS", 60 * _env_number("MAMORI_TERMINAL_IDLE_MINUTES", 30))
    config.setdefault("MAMORI_TERMINAL_MAX_PER_TEAM", _env_number("MAMORI_TERMINAL_MAX_PER_TEAM", 4))
    config.setdefault("MAMORI_TERMINAL_RECORDING_MAX_BYTES",
                      1024 * 1024 * _env_number("MAMORI_TERMINAL_RECORDING_MAX_MB", 5))


def _env_number(name: str, default: int) -> int:
    value = os.environ.get(name) or str(default)
    if not value.isdigit() or int(value) < 1:
        raise ConfigurationError(f"{name}={value!r} must be a whole number of at least 1")
    return int(value)


def _limits() -> terminals.TerminalLimits:
    config = current_app.config
    return terminals.TerminalLimits(idle_seconds=float(config["MAMORI_TERMINAL_IDLE_SECONDS"]),
                                    per_team=int(config["MAMORI_TERMINAL_MAX_PER_TEAM"]),
                                    recording_bytes=int(config["MAMORI_TERMINAL_RECORDING_MAX_BYTES"]))


def _instance() -> Path:
    return settings().instance_path


def _watched(team: Team, terminal_id: int) -> TerminalSession:
    try:
        return terminals.get_session_for(db_session(), current_user, team, terminal_id)
    except ServiceError as exc:
        abort(exc.status)


def _page(template: str, **context: object) -> Response:
    response = Response(render_template(template, **context))
    response.headers["Content-Security-Policy"] = TERMINAL_CSP
    return response


@bp.route("/<int:team_id>/terminal")
@require_role(Role.TRAINEE)
def page(team_id: int) -> Response:
    """The team's terminals, in tabs; ``?host=H`` opens one on host H at once. Staff go to the session list."""
    team = _team(team_id)
    if current_user.has_role(Role.INSTRUCTOR):
        return redirect(url_for("terminal.sessions", team_id=team.id))
    row, hosts = ranges.access_for(db_session(), team)
    ready = row is not None and row.state.value == "ready" and row.gateway_port is not None
    offered = [h for h in hosts if h.accounts] if ready else []
    config = {
        "socketUrl": url_for("terminal.socket", team_id=team.id, host="__HOST__"),
        "open": _host_to_open(request.args.get("host", ""), offered),
        "messages": _client_messages(),
    }
    return _page("terminal/page.html", team=team, hosts=offered, ready=ready, terminal_config=config)


def _host_to_open(asked: str, offered: list[ranges.HostAccess]) -> str:
    """``?host=`` names one of the team's hosts, or it is ignored (never echoed: it comes from a link anyone can make)."""
    return asked if any(h.name == asked for h in offered) else ""


def _client_messages() -> dict[str, str]:
    return {
        "connecting": _("Connecting…"),
        "connected": _("Connected"),
        "ended": _("Ended"),
        "serverLost": _("The connection to the Mamori server was lost. Reconnecting… (a new shell is started)"),
        "reconnect": _("Reconnect"),
        "close": _("Close"),
        "copyHint": _("Copy: select text (or Ctrl+Shift+C). Paste: Ctrl+Shift+V or right-click."),
        "live": _("Live (read-only)"),
        "refused": _("The server refused the terminal."),
    }


@bp.route("/<int:team_id>/terminal/<host>/socket", websocket=True)
@bp.route("/<int:team_id>/terminal/<host>/socket")
@require_role(Role.TRAINEE)
def socket(team_id: int, host: str) -> Response:
    """The WebSocket of one terminal on *host* (``?account=``, ``?cols=``, ``?rows=``)."""
    team = _team(team_id)
    try:
        target = terminals.target_for(db_session(), current_user, team, host, settings().range_bind_address,
                                      request.args.get("account") or None)
    except ServiceError as exc:
        abort(exc.status)
    _check_handshake()
    cols, rows = terminals.clamp_size(request.args.get("cols", 80, type=int), request.args.get("rows", 24, type=int))
    return _upgrade(lambda ws: _run_terminal(_Socket(ws), team, target, cols, rows))


def _check_handshake() -> None:
    """Only this site's own pages may open a socket (no cross-site WebSocket hijacking), and only as a WebSocket."""
    if request.headers.get("Origin") != f"{request.scheme}://{request.host}":
        abort(403)
    if request.headers.get("Upgrade", "").lower() != "websocket":
        abort(400)


def _run_terminal(sock: "_Socket", team: Team, target: terminals.ShellTarget, cols: int, rows: int) -> None:
    session, instance, limits = db_session(), _instance(), _limits()
    try:
        row = terminals.start_session(session, current_user, team, target, instance, limits)
        session.commit()  # at once: the team's lock is released and the row counts against the cap
    except Conflict as exc:
        session.rollback()
        sock.end("limit", translate(exc.text), reconnect=True)
        return
    reason, recorder = EndReason.CLOSED, None  # if anything below fails, the row still ends
    try:
        with terminal_recordings.Recorder(instance / row.recording, cols, rows, f"{team.name} {target.account}@{target.host}",
                                max_bytes=limits.recording_bytes, notice=_recording_stopped(limits)) as recorder:
            reason = terminals.run_shell(
                target, cols, rows, recorder, sock, limits.idle_seconds,
                opened=lambda: sock.send_json({"type": "open", "session": row.id, "host": target.host,
                                               "account": target.account}))
    finally:
        terminals.end_session(row, instance, reason, truncated=recorder is not None and recorder.truncated)
        session.commit()
    if reason is not EndReason.CLOSED:
        sock.end(reason.value, _end_message(reason, target.host), reconnect=True)


def _recording_stopped(limits: terminals.TerminalLimits) -> str:
    """The recording's last line when it reaches its limit, shown to whoever replays or watches it."""
    return _("[Mamori] The recording stops here: it reached its limit of %(size)s MB. The terminal itself goes on.",
             size=f"{limits.recording_bytes / 1024 / 1024:g}")


def _end_message(reason: EndReason, host: str) -> str:
    if reason is EndReason.EXITED:
        return _("The shell ended.")
    if reason is EndReason.LOST:
        return _("The connection to %(host)s was lost: the host may have been reset, or the range stopped.",
                 host=host)
    if reason is EndReason.IDLE:
        idle = _limits().idle_seconds
        if idle >= 60:
            return _("Closed after %(minutes)d minutes without input.", minutes=math.ceil(idle / 60))
        return _("Closed after %(seconds)d seconds without input.", seconds=math.ceil(idle))
    return _("Could not connect to %(host)s. Wait a moment, then reconnect.", host=host)


@bp.route("/<int:team_id>/terminal/sessions")
@require_role(Role.INSTRUCTOR)
def sessions(team_id: int) -> str:
    """Every terminal the team opened: watch the open ones live, replay any."""
    team = _team(team_id)
    live = {row.id for row in terminals.open_sessions(db_session(), team, _instance())}
    db_session().commit()  # stale rows found just now are ended
    found = terminals.sessions_of(db_session(), team)
    return render_template("terminal/sessions.html", team=team, sessions=found, live=live, end_labels=_end_labels())


def _end_labels() -> dict[str, str]:
    return {
        EndReason.EXITED.value: _("the shell ended"),
        EndReason.LOST.value: _("connection to the host lost"),
        EndReason.IDLE.value: _("closed when idle"),
        EndReason.CLOSED.value: _("closed in the browser"),
        EndReason.UNAVAILABLE.value: _("could not connect"),
        EndReason.INTERRUPTED.value: _("the server stopped"),
        "": "",
    }


@bp.route("/<int:team_id>/terminal/sessions/<int:terminal_id>/watch")
@require_role(Role.INSTRUCTOR)
def watch(team_id: int, terminal_id: int) -> Response:
    """A team's terminal as it happens, read-only."""
    team = _team(team_id)
    row = _watched(team, terminal_id)
    config = {"socketUrl": url_for("terminal.watch_socket", team_id=team.id, terminal_id=row.id),
              "messages": _client_messages()}
    return _page("terminal/watch.html", team=team, row=row, terminal_config=config)


@bp.route("/<int:team_id>/terminal/sessions/<int:terminal_id>/watch/socket", websocket=True)
@bp.route("/<int:team_id>/terminal/sessions/<int:terminal_id>/watch/socket")
@require_role(Role.INSTRUCTOR)
def watch_socket(team_id: int, terminal_id: int) -> Response:
    """The recording as it grows: everything so far, then each new event; what the watcher types is ignored."""
    team = _team(team_id)
    row = _watched(team, terminal_id)
    _check_handshake()
    path, row_id = _instance() / row.recording, row.id
    return _upgrade(lambda ws: _follow(_Socket(ws), path, _still_open(row_id)))


def _still_open(row_id: int) -> Callable[[], bool]:
    """Is the session still running? Asked often, so the database is read at most every two seconds."""
    state = {"checked": 0.0, "open": True}

    def ask() -> bool:
        if state["open"] and time.monotonic() - state["checked"] > 2:
            with database().session() as session:
                row = session.get(TerminalSession, row_id)
                state["open"] = row is not None and row.ended_at is None and \
                    time.time() - terminals.heartbeat(_instance(), row) < terminals.STALE_SECONDS
            state["checked"] = time.monotonic()
        return bool(state["open"])

    return ask


def _follow(sock: "_Socket", path: Path, still_open: Callable[[], bool]) -> None:
    for event in terminal_recordings.follow(path, still_open, sock.idle):
        if event.kind == "header":
            header = event.data if isinstance(event.data, dict) else {}
            sock.send_json({"type": "header", "cols": header.get("width", 80), "rows": header.get("height", 24)})
        elif event.kind in ("o", "r"):
            sock.send_json({"type": event.kind, "data": event.data})
    sock.end("ended", _("The session has ended."), reconnect=False)


@bp.route("/<int:team_id>/terminal/sessions/<int:terminal_id>/replay")
@require_role(Role.INSTRUCTOR)
def replay(team_id: int, terminal_id: int) -> Response:
    """A recording played back with its own timing (a small player over the .cast file)."""
    team = _team(team_id)
    row = _watched(team, terminal_id)
    try:
        _header, events = terminal_recordings.read_recording(_instance() / row.recording)
    except ServiceError as exc:
        abort(exc.status)
    typed = "".join(str(e.data) for e in events if e.kind == "i")
    config = {"castUrl": url_for("terminal.recording", team_id=team.id, terminal_id=row.id),
              "messages": _client_messages()}
    return _page("terminal/replay.html", team=team, row=row, typed=typed, terminal_config=config)


@bp.route("/<int:team_id>/terminal/sessions/<int:terminal_id>/recording.cast")
@require_role(Role.INSTRUCTOR)
def recording(team_id: int, terminal_id: int) -> Response:
    """The asciicast v2 file itself (plays in asciinema too)."""
    team = _team(team_id)
    row = _watched(team, terminal_id)
    try:
        data = (_instance() / row.recording).read_bytes()
    except OSError:
        abort(404)
    return Response(data, mimetype="application/x-asciicast", headers={
        "Content-Disposition": f"attachment; filename=terminal-{row.id}.cast"})


class _Socket:
    """A WebSocket as the terminal bridge sees it (``terminals.Browser``), plus status messages."""

    def __init__(self, ws: Server) -> None:
        self._ws = ws
        self._lock = threading.Lock()  # output comes from the bridge's thread, status from the request's

    def receive(self, timeout: float) -> tuple[str, object] | None:
        try:
            message = self._ws.receive(timeout)
        except ConnectionClosed:
            raise terminals.BrowserGone() from None
        if message is None:
            if not self._ws.connected:
                raise terminals.BrowserGone()
            return None
        try:
            value = json.loads(message)
            if value.get("type") == "input":
                return "input", str(value["data"])
            if value.get("type") == "resize":
                return "resize", (int(value["cols"]), int(value["rows"]))
        except (ValueError, TypeError, KeyError, AttributeError):
            pass
        return None  # not ours: ignored

    def idle(self, seconds: float) -> bool:
        """Wait *seconds* (discarding anything sent); ``False`` once the other side has gone."""
        try:
            self._ws.receive(seconds)
        except ConnectionClosed:
            return False
        return bool(self._ws.connected)

    def send_output(self, data: bytes) -> None:
        self._send(data)

    def send_json(self, value: dict) -> None:
        self._send(json.dumps(value, ensure_ascii=False))

    def end(self, reason: str, message: str, *, reconnect: bool) -> None:
        try:
            self.send_json({"type": "end", "reason": reason, "message": message, "reconnect": reconnect})
        except terminals.BrowserGone:
            pass

    def _send(self, data: bytes | str) -> None:
        with self._lock:
            try:
                self._ws.send(data)
            except (ConnectionClosed, OSError):
                raise terminals.BrowserGone() from None


def _upgrade(run: Callable[[Server], None]) -> Response:
    """Take the connection over as a WebSocket, run *run* on it, close it (as flask-sock's route does)."""
    ws = Server(request.environ)
    try:
        run(ws)
    except (ConnectionClosed, terminals.BrowserGone):
        pass
    finally:
        try:
            ws.close()
        except ConnectionClosed:
            pass
    return _Upgraded(ws.mode)


class _Upgraded(Response):
    """The reply after a WebSocket: the server must not write an HTTP response on the taken-over socket."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def, override]
        if self.mode == "gunicorn":
            raise StopIteration()  # gunicorn closes the connection without writing to it
        if self.mode == "werkzeug":
            return super().__call__(environ, start_response)
        return []
