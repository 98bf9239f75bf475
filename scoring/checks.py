"""Check types: one small class each, registered by name, with typed parameters.

A scenario names a check type and gives its parameters; the parameters are
validated when the scenario loads, never mid-exercise. Every check answers
"does the defender's desired state hold?" — UP when it does, DOWN when it
does not, ERROR when the check itself could not decide. ``run_check`` is how
the engine runs one: under a deadline, every failure an ERROR result.
"""
from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from typing import Any, Literal

import regex
from pydantic import Field
from pydantic.dataclasses import dataclass

from scoring.params import (
    PARAMS_CONFIG, AbsolutePath, Command, HostId, ParamsKind, Password, Port, Regex, Seconds, Sha256, UnixUser,
    registrar,
)
from scoring.probe import MAX_COMMAND_OUTPUT, MAX_FILE_BYTES, MAX_HTTP_BODY, Probe, ProbeError

Status = Literal["up", "down", "error"]
MAX_REASON = 300
REGEX_SECONDS = 1.0  # a scenario's pattern on content a trainee controls: never a stalled round


def _search(pattern: str, text: str) -> regex.Match[str] | None:
    """``re.search`` under a time limit; a pattern that backtracks too long cannot decide (ERROR)."""
    try:
        return regex.search(pattern, text, timeout=REGEX_SECONDS)
    except TimeoutError:
        raise ProbeError(f"the pattern {pattern[:60]!r} took more than {REGEX_SECONDS:g} s on this content") from None


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """UP (the desired state holds), DOWN (it does not) or ERROR (could not tell), and why.

    ``reason`` is cut at 300 characters; ``seconds`` is how long the check took.
    """

    status: Status
    reason: str
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if len(self.reason) > MAX_REASON:
            object.__setattr__(self, "reason", self.reason[: MAX_REASON - 1] + "…")


class CheckType(ParamsKind):
    """Base class of a check type: its parameters, which of them name hosts, and ``run``.

    ``run(params, probe)`` reads the range only through *probe* and returns a
    ``CheckResult``; it may raise (``ProbeError`` when the probe cannot decide).
    """

    @classmethod
    def run(cls, params: Any, probe: Probe) -> CheckResult:
        raise NotImplementedError(f"check type {getattr(cls, 'name', cls.__name__)!r} cannot run")


CHECK_TYPES: dict[str, type[CheckType]] = {}
register = registrar(CHECK_TYPES, "check type", requires="run")


def _verdict(holds: bool, reason: str) -> CheckResult:
    return CheckResult("up" if holds else "down", reason)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _excerpt(data: bytes, limit: int = 80) -> str:
    text = " ".join(_text(data[: limit * 4]).split())
    return repr(text[:limit] + ("…" if len(text) > limit else ""))


def _content_problem(text: str, contains: str | None, not_contains: str | None, what: str) -> str | None:
    """Why *text* fails the contains / not_contains patterns, or ``None`` when it passes."""
    if contains is not None and _search(contains, text) is None:
        return f"{what} does not match {contains!r}"
    found = _search(not_contains, text) if not_contains is not None else None
    if found is not None:
        return f"{what} matches {not_contains!r} ({found.group(0)[:60]!r})"
    return None


@register("command")
class CommandCheck(CheckType):
    summary = "A command run inside a host exits with the expected status (and output)."

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        command: Command
        user: UnixUser = "root"
        expect_exit: int = 0
        expect_output: Regex | None = None
        timeout: Seconds = 10

    @classmethod
    def run(cls, params: CommandCheck.Params, probe: Probe) -> CheckResult:
        argv = ["sh", "-c", params.command] if isinstance(params.command, str) else list(params.command)
        out = probe.exec(params.host, argv, user=params.user, timeout=params.timeout,
                         max_output=MAX_COMMAND_OUTPUT)
        if out.truncated:
            return CheckResult("error", f"the command printed more than {MAX_COMMAND_OUTPUT // 1024} KiB "
                                        "and was stopped, so its exit status says nothing")
        if out.timed_out or out.exit_code is None:
            return CheckResult("error", f"the command did not finish within {params.timeout:g} s")
        seen = f"exit status {out.exit_code}, output {_excerpt(out.output)}"
        if out.exit_code != params.expect_exit:
            return CheckResult("down", f"{seen}; expected exit status {params.expect_exit}")
        if params.expect_output is not None and _search(params.expect_output, _text(out.output)) is None:
            return CheckResult("down", f"{seen}; the output does not match {params.expect_output!r}")
        return CheckResult("up", seen)


@register("process")
class ProcessCheck(CheckType):
    summary = "A process whose command line matches a pattern is present or absent (read from the container's process table, not from ps)."

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        pattern: Regex
        expect: Literal["present", "absent"] = "present"

    @classmethod
    def run(cls, params: ProcessCheck.Params, probe: Probe) -> CheckResult:
        found = next((p for p in probe.processes(params.host) if _search(params.pattern, p.command)), None)
        return _verdict((found is not None) == (params.expect == "present"),
                        f"no process of {params.host} matches {params.pattern!r}" if found is None else
                        f"{params.host} runs pid {found.pid} as {found.user}: {found.command[:120]!r}")


@register("file")
class FileCheck(CheckType):
    summary = "A file exists or not, has a hash, or contains (or no longer contains) a pattern — read by the platform itself, never through the range host's own programs."

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        path: AbsolutePath
        expect: Literal["present", "absent"] = "present"
        sha256: Sha256 | None = None
        contains: Regex | None = None
        not_contains: Regex | None = None

    @classmethod
    def run(cls, params: FileCheck.Params, probe: Probe) -> CheckResult:
        where = f"{params.path} on {params.host}"
        data = probe.read_file(params.host, params.path, MAX_FILE_BYTES + 1)  # one more: is it bigger?
        if data is None or params.expect == "absent":
            return _verdict((data is None) == (params.expect == "absent"),
                            f"{where} {'is absent' if data is None else 'exists'}")
        if params.sha256 is not None and len(data) > MAX_FILE_BYTES:
            return CheckResult("error", f"{where} is larger than {MAX_FILE_BYTES // 1024} KiB, too large to hash")
        digest = hashlib.sha256(data).hexdigest()
        if params.sha256 is not None and digest != params.sha256:
            return CheckResult("down", f"{where} has sha256 {digest[:16]}…, expected {params.sha256[:16]}…")
        problem = _content_problem(_text(data[:MAX_FILE_BYTES]), params.contains, params.not_contains, where)
        return CheckResult("down" if problem else "up", problem or f"{where} is present as expected")


@register("tcp")
class TcpCheck(CheckType):
    summary = "A TCP port of a host is open (or closed) as seen from a vantage host in the range."
    host_fields = ("source", "host")

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        source: HostId = Field(alias="from")
        host: HostId
        port: Port
        expect: Literal["open", "closed"] = "open"
        timeout: Seconds = 5

    @classmethod
    def run(cls, params: TcpCheck.Params, probe: Probe) -> CheckResult:
        state = "open" if probe.tcp(params.source, params.host, params.port, params.timeout) else "closed"
        return _verdict(state == params.expect,
                        f"port {params.port} of {params.host} is {state} as seen from {params.source}")


@register("http")
class HttpCheck(CheckType):
    summary = "An HTTP request from a vantage host gets the expected status and body."
    host_fields = ("source",)
    url_fields = ("url",)

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        source: HostId = Field(alias="from")
        url: str = Field(pattern=r"^http://[a-z0-9][a-z0-9.-]{0,252}(:\d{1,5})?(/\S*)?$")
        method: Literal["GET", "HEAD", "POST"] = "GET"
        expect_status: int = Field(default=200, ge=100, le=599)
        contains: Regex | None = None
        not_contains: Regex | None = None
        timeout: Seconds = 10

    @classmethod
    def run(cls, params: HttpCheck.Params, probe: Probe) -> CheckResult:
        asked = f"{params.method} {params.url} from {params.source}"
        out = probe.http(params.source, params.url, params.method, params.timeout, MAX_HTTP_BODY)
        if out.status == 0:
            return CheckResult("down", f"{asked}: no HTTP response ({out.failure or 'no reason given'})")
        if out.status != params.expect_status:
            return CheckResult("down", f"{asked}: status {out.status}, expected {params.expect_status}")
        problem = _content_problem(_text(out.body), params.contains, params.not_contains, "the body")
        return CheckResult("down" if problem else "up", f"{asked}: {problem or f'status {out.status} as expected'}")


@register("ssh_login")
class SshLoginCheck(CheckType):
    summary = "Logging in to a host over SSH (through the team's gateway) succeeds or fails."

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        user: UnixUser
        password: Password
        expect: Literal["success", "failure"] = "success"
        timeout: Seconds = 15

    @classmethod
    def run(cls, params: SshLoginCheck.Params, probe: Probe) -> CheckResult:
        success = probe.ssh_login(params.host, params.user, params.password, params.timeout)
        return _verdict(success == (params.expect == "success"), f"an SSH login as {params.user} on "
                        f"{params.host} with the password {'succeeds' if success else 'fails'}")


@register("blocked")
class BlockedCheck(CheckType):
    summary = (
        "A TCP connection from one host to another is blocked, proven by a control "
        "connection from the same host that does get through."
    )
    host_fields = ("source", "host", "control_host")

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        source: HostId = Field(alias="from")
        host: HostId
        port: Port
        control_host: HostId
        control_port: Port
        timeout: Seconds = 5

    @classmethod
    def run(cls, params: BlockedCheck.Params, probe: Probe) -> CheckResult:
        if not probe.tcp(params.source, params.control_host, params.control_port, params.timeout):
            return CheckResult("error", "the control connection failed, so a failed probe proves nothing "
                                        f"({params.source} → {params.control_host}:{params.control_port})")
        through = probe.tcp(params.source, params.host, params.port, params.timeout)
        path = f"{params.source} → {params.host}:{params.port}"
        return _verdict(not through, f"{path} {'gets through' if through else 'is blocked'} "
                                     f"(the control connection to {params.control_host} works)")


def run_check(kind_name: str, params: Any, probe: Probe, deadline_seconds: float) -> CheckResult:
    """Run one check under a deadline; never raises.

    A probe that cannot decide, a check that throws or one still running at the deadline is an
    ERROR with the reason; a late check is abandoned (its thread ends on the probe's timeouts).
    """
    started = time.monotonic()
    try:
        kind = CHECK_TYPES.get(kind_name)
        if kind is None:
            return CheckResult("error", f"unknown check type {kind_name!r}", 0.0)
        box: list[CheckResult] = []
        worker = threading.Thread(target=lambda: box.append(_guarded(kind, params, probe)),
                                  name=f"check-{kind_name}", daemon=True)
        worker.start()
        worker.join(max(deadline_seconds, 0.0))
        if not box:
            return CheckResult("error", f"the check did not finish within {deadline_seconds:g} s",
                               time.monotonic() - started)
        return dataclasses.replace(box[0], seconds=time.monotonic() - started)
    except Exception as exc:  # e.g. no thread could be started: still a result, never an exception
        return CheckResult("error", f"the check could not run: {type(exc).__name__}: {exc}",
                           time.monotonic() - started)


def _guarded(kind: type[CheckType], params: Any, probe: Probe) -> CheckResult:
    try:
        return kind.run(params, probe)
    except ProbeError as exc:
        return CheckResult("error", exc.reason)
    except Exception as exc:
        return CheckResult("error", f"the check failed: {type(exc).__name__}: {exc}")
