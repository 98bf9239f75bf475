"""Check types that look at a range's network from inside it: tcp, http, blocked, ssh_login.

Probes run on the Docker host in the source container's network namespace
(as that host sees the network, through the routers' rules), with the
platform's own code: no ``curl``, ``nc`` or ``ssh`` of the range is used.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator
from pydantic.dataclasses import dataclass

from scoring.checks.base import CheckResult, CheckType, content_problem, register, text_of, verdict
from scoring.params import PARAMS_CONFIG, AbsolutePath, HostId, Password, Port, Regex, Seconds, UnixUser
from scoring.probe import MAX_FILE_BYTES, MAX_HTTP_BODY, Probe

HttpStatus = Annotated[int, Field(ge=100, le=599)]
HeaderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,64}$")]
HeaderValue = Annotated[str, StringConstraints(max_length=500, pattern=r"^[ -~]*$")]  # printable ASCII only
# The probe's own: the URL names the host, every request closes its connection, a GET has no body.
PROBE_HEADERS = {"host", "connection", "content-length", "transfer-encoding"}
MAX_HEADERS = 10


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
        return verdict(state == params.expect,
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
        expect_status: HttpStatus | Annotated[list[HttpStatus], Field(min_length=1, max_length=20)] = 200  # one status, or any of several (e.g. [403, 404])
        contains: Regex | None = None
        not_contains: Regex | None = None
        timeout: Seconds = 10
        # Request headers, e.g. {User-Agent: "Mozilla/5.0 …"}; without one the User-Agent is mamori-check/1.
        headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict)

        @model_validator(mode="after")
        def _sane_headers(self) -> Any:
            if len(self.headers) > MAX_HEADERS:
                raise ValueError(f"at most {MAX_HEADERS} headers")
            taken = sorted(name for name in self.headers if name.lower() in PROBE_HEADERS)
            if taken:
                raise ValueError(f"the probe sets {', '.join(taken)} itself; leave it out of headers")
            if len({name.lower() for name in self.headers}) < len(self.headers):
                raise ValueError("a header is given twice (names are case-insensitive)")
            return self

    @classmethod
    def run(cls, params: HttpCheck.Params, probe: Probe) -> CheckResult:
        asked = f"{params.method} {params.url} from {params.source}"
        out = probe.http(params.source, params.url, params.method, params.timeout, MAX_HTTP_BODY,
                         params.headers or None)
        if out.status == 0:
            return CheckResult("down", f"{asked}: no HTTP response ({out.failure or 'no reason given'})")
        wanted = params.expect_status if isinstance(params.expect_status, list) else [params.expect_status]
        if out.status not in wanted:
            return CheckResult("down", f"{asked}: status {out.status}, expected {' or '.join(map(str, wanted))}")
        problem = content_problem(text_of(out.body), params.contains, params.not_contains, "the body")
        return CheckResult("down" if problem else "up", f"{asked}: {problem or f'status {out.status} as expected'}")


@register("ssh_login")
class SshLoginCheck(CheckType):
    summary = ("Logging in to a host over SSH succeeds or fails: through the team's gateway with a password, "
               "or from another host of the range (e.g. the attacker's) with its password or private key.")
    host_fields = ("host", "source")

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        user: UnixUser
        password: Password | None = None
        source: HostId | None = Field(default=None, alias="from")  # try it from this host's network
        key_file: AbsolutePath | None = None  # a private key on the `from` host, read by the platform
        counts_as: Literal["login", "shell_or_tunnel"] = "login"  # what "succeeds" means
        expect: Literal["success", "failure"] = "success"
        timeout: Seconds = 15

        @model_validator(mode="after")
        def _one_credential(self) -> Any:
            if (self.password is None) == (self.key_file is None):
                raise ValueError("give either password or key_file")
            if self.source is None and (self.key_file is not None or self.counts_as != "login"):
                raise ValueError("key_file and counts_as need from (the host the login is tried from)")
            return self

    @classmethod
    def run(cls, params: SshLoginCheck.Params, probe: Probe) -> CheckResult:
        how = f"with the key {params.key_file}" if params.key_file else "with the password"
        if params.source is None:
            assert params.password is not None
            success = probe.ssh_login(params.host, params.user, params.password, params.timeout)
            where = f"on {params.host}"
        else:
            key = None
            if params.key_file is not None:
                key = probe.read_file(params.source, params.key_file, MAX_FILE_BYTES)
                if key is None:
                    return verdict(params.expect == "failure",
                                   f"{params.source} has no key {params.key_file}, so it cannot log in")
            success = probe.ssh_access(params.source, params.host, params.user, password=params.password,
                                       key=key, timeout=params.timeout,
                                       shell_or_tunnel=params.counts_as == "shell_or_tunnel")
            where = f"on {params.host} from {params.source}"
        got_in = "gets in" if success else "does not get in"
        return verdict(success == (params.expect == "success"), f"an SSH login as {params.user} {where} {how} "
                       f"{got_in}" + (" (a shell or a tunnel)" if params.counts_as == "shell_or_tunnel" else ""))


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
        return verdict(not through, f"{path} {'gets through' if through else 'is blocked'} "
                                     f"(the control connection to {params.control_host} works)")
