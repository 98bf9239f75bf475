"""Inject action types: one small class each, registered by name, with typed parameters.

An inject's actions are what an attacker really does inside a team's range.
Parameters are validated when the scenario loads. ``run_action`` is how the
runtime runs one, through an ``ActionTarget`` (``range.actions_target`` for a
real range): bounded by its timeout, and every failure — a host that is down
or reset, a command that exits non-zero, hangs or floods — an unsuccessful
``ActionResult`` with the reason, never an exception.
"""
from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections import Counter
from typing import Annotated, Any, ClassVar, Literal, Protocol, Sequence

from pydantic import AfterValidator, Field, StringConstraints
from pydantic.dataclasses import dataclass

from range.errors import RangeError
from range.results import ExecResult, ProcessInfo
from scoring.params import PARAMS_CONFIG, AbsolutePath, Command, FileMode, HostId, ParamsKind, Seconds, UnixUser, registrar

BundledPath = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.][A-Za-z0-9_./-]*$", max_length=300)]
MAX_SUMMARY = 300
MAX_OUTPUT = 64 * 1024
SETTLE_SECONDS = 1.0  # a background command must still run this long after its start
REQUEST_MAX_TIME = 10.0  # curl --max-time of each request, at most
GRACE_SECONDS = 5.0  # run_action gives up on an action this long after its timeout
MAX_BODY_BYTES = 100_000  # a request body travels as one argument (Linux allows 128 KiB)


class ActionError(Exception):
    """An action could not do its work (unknown bundled file, chown refused, …)."""


class ActionTarget(Protocol):
    """One team's range as inject actions act on it. Methods raise ``RangeError`` or ``ActionError``."""

    def exec(self, host: str, argv: Sequence[str], *, user: str, timeout: float, max_output: int) -> ExecResult:
        """Run *argv* in *host* as *user* and wait; killed at *timeout*, output cut at *max_output* bytes."""

    def start_detached(self, host: str, argv: Sequence[str], *, user: str) -> None:
        """Start *argv* in *host* as *user* and leave it running."""

    def put_file(self, host: str, path: str, content: bytes, mode: int) -> None:
        """Write *content* at *path* (parent directories made), owned by root."""

    def chown(self, host: str, path: str, owner: str) -> None:
        """Give *path* to *owner* and the owner's login group."""

    def processes(self, host: str) -> list[ProcessInfo]:
        """The host's processes as the engine sees them."""

    def bundled(self, source: str) -> bytes:
        """The bytes of a file bundled with the scenario; ``ActionError`` when there is none."""

    def isolate(self, host: str) -> None:
        """Cut *host* off every network but the team's own way in (its SSH gateway)."""

    def reconnect(self, host: str) -> bool:
        """Undo ``isolate``; whether *host* had been isolated."""


@dataclasses.dataclass(frozen=True)
class ActionResult:
    """Did the action do its work, what happened (≤ 300 characters), its output (≤ 64 KiB), how long."""

    ok: bool
    summary: str
    output: bytes = b""
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if len(self.summary) > MAX_SUMMARY:
            object.__setattr__(self, "summary", self.summary[: MAX_SUMMARY - 1] + "…")
        if len(self.output) > MAX_OUTPUT:
            object.__setattr__(self, "output", self.output[:MAX_OUTPUT])


class ActionType(ParamsKind):
    """Base class of an action type: its parameters, which of them name hosts or bundled files, and ``run``.

    ``run(params, target, timeout)`` acts on the range only through *target*,
    takes at most about *timeout* seconds and returns an ``ActionResult``; it
    may raise (``RangeError``, ``ActionError``) — ``run_action`` turns that into a result.
    """

    bundled_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def run(cls, params: Any, target: ActionTarget, timeout: float) -> ActionResult:
        raise NotImplementedError(f"action type {getattr(cls, 'name', cls.__name__)!r} cannot run")


ACTION_TYPES: dict[str, type[ActionType]] = {}
register = registrar(ACTION_TYPES, "action type", requires="run")


def _argv(command: str | Sequence[str]) -> list[str]:
    return ["sh", "-c", command] if isinstance(command, str) else list(command)


def _excerpt(data: bytes, limit: int = 120) -> str:
    text = " ".join(data[-limit * 4:].decode("utf-8", errors="replace").split())
    return repr(("…" if len(text) > limit else "") + text[-limit:])


def _place(target: ActionTarget, host: str, path: str, content: bytes, mode: str, owner: str) -> ActionResult:
    """Put *content* at *path*, then chown, then chmod (a chown clears set-id bits); never over a directory."""
    bits = int(mode, 8)
    if not target.exec(host, ["test", "!", "-d", path], user="root", timeout=10, max_output=4096).ok:
        raise ActionError(f"{path} on {host} is a directory (or could not be checked); nothing was written")
    target.put_file(host, path, content, bits)
    target.chown(host, path, owner)
    done = target.exec(host, ["chmod", f"{bits:04o}", path], user="root", timeout=10, max_output=4096)
    if not done.ok:
        raise ActionError(f"chmod {bits:04o} {path} on {host} failed: {_excerpt(done.output)}")
    return ActionResult(True, f"{path} on {host}: {len(content)} bytes, owner {owner}, mode {bits:04o}")


@register("run")
class RunAction(ActionType):
    summary = "Run a command in a host as a user and wait for it (killed at the timeout)."

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        command: Command
        user: UnixUser = "root"
        timeout: Seconds = 60

    @classmethod
    def run(cls, params: RunAction.Params, target: ActionTarget, timeout: float) -> ActionResult:
        limit = min(params.timeout, timeout)
        out = target.exec(params.host, _argv(params.command), user=params.user, timeout=limit,
                          max_output=MAX_OUTPUT)
        where = f"on {params.host} as {params.user}"
        if out.timed_out or out.exit_code is None:
            return ActionResult(False, f"timed out after {limit:g} s {where} and was killed", out.output)
        if out.truncated:
            return ActionResult(False, f"printed more than {MAX_OUTPUT // 1024} KiB {where} and was stopped",
                                out.output)
        said = f": {_excerpt(out.output)}" if out.output.strip() else ""
        return ActionResult(out.exit_code == 0, f"exit {out.exit_code} {where}{said}", out.output)


@register("write_file")
class WriteFileAction(ActionType):
    summary = "Write a file with the given text in a host."

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        path: AbsolutePath
        content: str = Field(max_length=1_000_000)
        mode: FileMode = "0644"
        owner: UnixUser = "root"

    @classmethod
    def run(cls, params: WriteFileAction.Params, target: ActionTarget, timeout: float) -> ActionResult:
        return _place(target, params.host, params.path, params.content.encode(), params.mode, params.owner)


@register("copy_file")
class CopyFileAction(ActionType):
    summary = "Copy a file bundled with the scenario into a host."
    bundled_fields = ("source",)

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        source: BundledPath
        path: AbsolutePath
        mode: FileMode = "0644"
        owner: UnixUser = "root"

    @classmethod
    def run(cls, params: CopyFileAction.Params, target: ActionTarget, timeout: float) -> ActionResult:
        content = target.bundled(params.source)
        return _place(target, params.host, params.path, content, params.mode, params.owner)


@register("background")
class BackgroundAction(ActionType):
    summary = "Start a long-running process in a host (a beacon, a listener) and leave it running."

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        command: Command
        user: UnixUser = "root"

    @classmethod
    def run(cls, params: BackgroundAction.Params, target: ActionTarget, timeout: float) -> ActionResult:
        """Started, and still running a second later: a command that forks away and exits counts as exited."""
        before = {p.pid for p in target.processes(params.host)}
        target.start_detached(params.host, _argv(params.command), user=params.user)
        time.sleep(min(SETTLE_SECONDS, timeout))
        after = target.processes(params.host)
        pids = {p.pid for p in after}
        # Its own process: new, and started by the engine (its parent is outside the container). Not matched
        # by user name: an administrator account is uid 0, which the passwd file names "root".
        ours = [p for p in after if p.pid not in before and p.ppid not in pids]
        if not ours:
            return ActionResult(False, f"the command exited within {SETTLE_SECONDS:g} s on {params.host} "
                                       f"(as {params.user}), or never started")
        return ActionResult(True, f"running on {params.host} as {params.user}: host pid {ours[0].pid} "
                                  f"{ours[0].command[:120]!r}")


@register("isolate")
class IsolateAction(ActionType):
    summary = ("Cut a host off its networks (an EDR's network containment): nothing in, out or through, "
               "open connections too, except the team's SSH gateway, so the team can still examine it.")

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId

    @classmethod
    def run(cls, params: IsolateAction.Params, target: ActionTarget, timeout: float) -> ActionResult:
        target.isolate(params.host)
        return ActionResult(True, f"{params.host} isolated: only the team's SSH gateway reaches it")


@register("reconnect")
class ReconnectAction(ActionType):
    summary = "Undo an isolation: the host is on its networks again."

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId

    @classmethod
    def run(cls, params: ReconnectAction.Params, target: ActionTarget, timeout: float) -> ActionResult:
        was = target.reconnect(params.host)
        return ActionResult(True, f"{params.host} reconnected" if was else f"{params.host} was not isolated")


def _body_fits(body: str | None) -> str | None:
    if body is not None and len(body.encode()) > MAX_BODY_BYTES:
        raise ValueError(f"the body is larger than {MAX_BODY_BYTES} bytes as UTF-8")
    return body


# One line per request: curl's exit status and the HTTP status ("7 000" when nothing answered).
_REQUESTS = """n=$1 pause=$2; shift 2; i=0
while [ "$i" -lt "$n" ]; do
  [ "$i" -eq 0 ] || sleep "$pause"
  code=$(curl -sS -g -o /dev/null -w '%{http_code}' "$@"); echo "@@request $? $code@@"
  i=$((i + 1))
done"""


@register("request")
class RequestAction(ActionType):
    summary = "Make HTTP requests from one host to another (probes, logins, uploads)."
    host_fields = ("source",)
    url_fields = ("url",)

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        source: HostId = Field(alias="from")
        url: str = Field(pattern=r"^http://[a-z0-9][a-z0-9.-]{0,252}(:\d{1,5})?(/\S*)?$")
        method: Literal["GET", "POST"] = "GET"
        body: Annotated[str | None, AfterValidator(_body_fits)] = Field(default=None, max_length=100_000)
        content_type: str = "application/x-www-form-urlencoded"
        count: int = Field(default=1, ge=1, le=1000)
        interval: float = Field(default=0.0, ge=0, le=60)

    @classmethod
    def run(cls, params: RequestAction.Params, target: ActionTarget, timeout: float) -> ActionResult:
        """curl in the source host, each request bounded by ``--max-time``, all of them by *timeout*."""
        body = [] if params.body is None else ["-H", f"Content-Type: {params.content_type}",
                                               "--data-raw", params.body]
        argv = ["sh", "-c", _REQUESTS, "mamori-request", str(params.count), f"{params.interval:g}",
                "--max-time", f"{min(REQUEST_MAX_TIME, timeout):g}", "-X", params.method, *body, params.url]
        out = target.exec(params.source, argv, user="root", timeout=timeout, max_output=MAX_OUTPUT)
        # Marked, so curl's own complaints on stderr cannot hide a request's line in the merged output.
        tally = Counter(code if rc == "0" else f"curl exit {rc}"
                        for rc, code in re.findall(r"@@request (\d+) (\d{3})@@", out.text))
        failures, done = sum(n for what, n in tally.items() if what.startswith("curl")), sum(tally.values())
        seen = ", ".join(f"{n}× {what}" for what, n in sorted(tally.items())) or "nothing"
        asked = f"{params.method} {params.url} from {params.source}"
        stopped = f"; timed out after {timeout:g} s" if out.timed_out else ""
        ok = not out.timed_out and out.exit_code == 0 and not failures and done == params.count
        return ActionResult(ok, f"{asked}: {done} of {params.count} requests: {seen}{stopped}", out.output)


def run_action(type_name: str, params: Any, target: ActionTarget, timeout: float) -> ActionResult:
    """Run one action for at most about *timeout* seconds; never raises.

    A host that is missing or down, an engine failure or an action that throws
    is an unsuccessful result with the reason; an action still running
    ``GRACE_SECONDS`` after its timeout is abandoned (its thread ends on the engine's timeouts).
    """
    started = time.monotonic()
    try:
        kind = ACTION_TYPES.get(type_name)
        if kind is None:
            return ActionResult(False, f"unknown action type {type_name!r}")
        box: list[ActionResult] = []
        worker = threading.Thread(target=lambda: box.append(_guarded(kind, params, target, timeout)),
                                  name=f"action-{type_name}", daemon=True)
        worker.start()
        worker.join(max(timeout, 0.0) + GRACE_SECONDS)
        if not box:
            return ActionResult(False, f"the action did not finish within {timeout + GRACE_SECONDS:g} s",
                                seconds=time.monotonic() - started)
        return dataclasses.replace(box[0], seconds=time.monotonic() - started)
    except Exception as exc:  # e.g. no thread could be started: still a result, never an exception
        return ActionResult(False, f"the action could not run: {type(exc).__name__}: {exc}",
                            seconds=time.monotonic() - started)


def _guarded(kind: type[ActionType], params: Any, target: ActionTarget, timeout: float) -> ActionResult:
    try:
        return kind.run(params, target, timeout)
    except Exception as exc:  # ours (ActionError, RangeError) say what went wrong; others need their type
        reason = str(exc) if isinstance(exc, (ActionError, RangeError)) else f"{type(exc).__name__}: {exc}"
        return ActionResult(False, f"{kind.name} on {getattr(params, kind.host_fields[0], '?')}: {reason}")
