"""run_check and the check verdicts against a fake probe: no Docker, milliseconds each."""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

import pytest

from scoring.checks import CHECK_TYPES, CheckResult, run_check
from scoring.probe import MAX_FILE_BYTES, ExecOutcome, HttpOutcome, ProbeError, ProcessRow


@dataclass
class FakeProbe:
    """Answers fixed in advance; ``tcp_open`` maps (target, port) to open or not."""

    outcome: ExecOutcome = ExecOutcome(0, b"")
    rows: list[ProcessRow] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    tcp_open: dict[tuple[str, int], bool] = field(default_factory=dict)
    response: HttpOutcome = HttpOutcome(200, b"")
    login: bool = True
    fail: BaseException | None = None
    release: threading.Event | None = None
    asked: list[tuple[Any, ...]] = field(default_factory=list)

    def _answer(self, value: Any, *asked: Any) -> Any:
        self.asked.append(asked)
        if self.release is not None:
            self.release.wait()
        if self.fail is not None:
            raise self.fail
        return value

    def exec(self, host: str, argv: Sequence[str], *, user: str, timeout: float, max_output: int) -> ExecOutcome:
        return self._answer(self.outcome, "exec", host, list(argv), user, max_output)

    def processes(self, host: str) -> list[ProcessRow]:
        return self._answer(self.rows, "processes", host)

    def read_file(self, host: str, path: str, max_bytes: int) -> bytes | None:
        data = self.files.get(path)
        return self._answer(None if data is None else data[:max_bytes], "read_file", host, path, max_bytes)

    def tcp(self, source: str, target: str, port: int, timeout: float) -> bool:
        return self._answer(self.tcp_open.get((target, port), False), "tcp", source, target, port)

    def http(self, source: str, url: str, method: str, timeout: float, max_body: int) -> HttpOutcome:
        return self._answer(self.response, "http", source, url, method, max_body)

    def ssh_login(self, host: str, user: str, password: str, timeout: float) -> bool:
        return self._answer(self.login, "ssh_login", host, user)


def check(kind: str, probe: FakeProbe, deadline: float = 5, **params: Any) -> CheckResult:
    return run_check(kind, CHECK_TYPES[kind].Params(**params), probe, deadline)


def test_a_probe_that_cannot_decide_is_an_error_with_its_reason() -> None:
    result = check("process", FakeProbe(fail=ProbeError("ws01 is not running (paused)")), host="ws01", pattern="x")
    assert (result.status, result.reason) == ("error", "ws01 is not running (paused)")


def test_run_check_never_raises() -> None:
    assert run_check("nope", None, FakeProbe(), 1).status == "error"
    assert run_check("file", None, FakeProbe(), 1).status == "error"
    broken = check("tcp", FakeProbe(fail=RuntimeError("boom " * 200)), source="ws01", host="web01", port=80)
    assert broken.status == "error" and "RuntimeError: boom" in broken.reason and len(broken.reason) == 300


def test_a_check_past_its_deadline_is_an_error_at_the_deadline() -> None:
    release = threading.Event()
    try:
        result = check("ssh_login", FakeProbe(release=release), deadline=0.2, host="ws01", user="u", password="p")
    finally:
        release.set()
    assert result.status == "error" and "did not finish within 0.2 s" in result.reason
    assert 0.2 <= result.seconds < 1


def test_command_verdicts_and_caps() -> None:
    probe = FakeProbe(outcome=ExecOutcome(0, b"PermitRootLogin no\n"))
    result = check("command", probe, host="ws01", command="sshd -T", expect_output="(?m)^PermitRootLogin no$")
    assert result.status == "up"
    assert probe.asked[-1] == ("exec", "ws01", ["sh", "-c", "sshd -T"], "root", 64 * 1024)
    assert check("command", probe, host="ws01", command=["true"], expect_exit=1).status == "down"
    flood = FakeProbe(outcome=ExecOutcome(None, b"y\n" * 100, truncated=True))
    assert "64 KiB" in check("command", flood, host="ws01", command="yes").reason
    hung = FakeProbe(outcome=ExecOutcome(None, b"", timed_out=True))
    assert check("command", hung, host="ws01", command="sleep 9", timeout=1).status == "error"


def test_process_matches_the_command_line_with_a_regex() -> None:
    probe = FakeProbe(rows=[ProcessRow(4321, 1000, "tanaka", "python3 /tmp/.x/beacon.py --c2 update")])
    assert check("process", probe, host="ws01", pattern=r"beacon\.py", expect="absent").status == "down"
    assert check("process", probe, host="ws01", pattern=r"^sshd").status == "down"


def test_file_hash_reads_at_most_a_mebibyte() -> None:
    big = b"x" * (MAX_FILE_BYTES + 10)
    probe = FakeProbe(files={"/big": big, "/small": b"ok\n"})
    assert check("file", probe, host="ws01", path="/big", sha256=hashlib.sha256(big).hexdigest()).status == "error"
    assert probe.asked[-1][-1] == MAX_FILE_BYTES + 1
    assert check("file", probe, host="ws01", path="/big", contains="x").status == "up"
    assert check("file", probe, host="ws01", path="/small", sha256=hashlib.sha256(b"ok\n").hexdigest()).status == "up"
    assert check("file", probe, host="ws01", path="/none", expect="absent").status == "up"
    assert check("file", probe, host="ws01", path="/small", expect="absent").status == "down"


def test_http_without_a_response_is_down_and_bodies_are_capped() -> None:
    probe = FakeProbe(response=HttpOutcome(0, b"", "ConnectionRefusedError: Connection refused"))
    result = check("http", probe, source="ws01", url="http://web01/")
    assert result.status == "down" and "Connection refused" in result.reason
    assert probe.asked[-1][-1] == 256 * 1024
    assert check("http", FakeProbe(response=HttpOutcome(302)), source="ws01", url="http://web01/").status == "down"


def test_blocked_needs_a_working_control_connection() -> None:
    params = {"source": "ws01", "host": "attacker", "port": 8080, "control_host": "web01", "control_port": 80}
    nothing_works = check("blocked", FakeProbe(), **params)
    assert nothing_works.status == "error"
    assert "the control connection failed, so a failed probe proves nothing" in nothing_works.reason
    assert check("blocked", FakeProbe(tcp_open={("web01", 80): True}), **params).status == "up"
    both = FakeProbe(tcp_open={("web01", 80): True, ("attacker", 8080): True})
    assert check("blocked", both, **params).status == "down"


@pytest.mark.parametrize(("login", "expect", "status"), [
    (True, "success", "up"), (False, "success", "down"), (True, "failure", "down"), (False, "failure", "up"),
])
def test_ssh_login_expectations(login: bool, expect: str, status: str) -> None:
    result = check("ssh_login", FakeProbe(login=login), host="ws01", user="tanaka", password="p", expect=expect)
    assert result.status == status


def test_a_pattern_that_backtracks_forever_on_a_trainees_file_is_an_error_not_a_stall() -> None:
    probe = FakeProbe(files={"/srv/www/index.html": b"a" * 5000 + b"!"})
    params = CHECK_TYPES["file"].Params(host="web01", path="/srv/www/index.html", contains="(a|aa)+$")
    result = run_check("file", params, probe, deadline_seconds=10)
    assert result.status == "error" and "took more than" in result.reason
    assert result.seconds < 8


def test_a_round_probe_reads_each_process_table_and_file_once() -> None:
    from scoring.probe import RoundProbe

    probe = FakeProbe(rows=[ProcessRow(1, 0, "root", "sshd")], files={"/etc/motd": b"hi"})
    cached = RoundProbe(probe)
    for _ in range(5):
        run_check("process", CHECK_TYPES["process"].Params(host="ws01", pattern="sshd"), cached, 5)
        run_check("file", CHECK_TYPES["file"].Params(host="ws01", path="/etc/motd", contains="hi"), cached, 5)
    assert [a[0] for a in probe.asked] == ["processes", "read_file"]
    failing = RoundProbe(FakeProbe(fail=ProbeError("ws01 is not running")))
    first = run_check("process", CHECK_TYPES["process"].Params(host="ws01", pattern="x"), failing, 5)
    assert first.status == "error" and "not running" in first.reason
