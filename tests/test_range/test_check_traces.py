"""What checks leave behind in a range, as trainees would find it (docs/scenario-format.md's table).

An http check is a line in the web server's access log with its User-Agent
(``mamori-check/1``, or the one the scenario gives); an ssh_login check is
a login in the host's auth.log; a file or process check leaves nothing.
"""
from __future__ import annotations

import re
import time
from typing import Iterator

import pytest

from range.docker_backend import DockerBackend
from range.engine import DockerRangeEngine
from range.images import build_image, image_tag
from range.probes import RangeProbe
from range.spec import Account, HostSpec, RangeSpec, ServicePort
from scoring.checks import CHECK_TYPES, run_check
from tests.test_range.conftest import new_exercise_id

pytestmark = pytest.mark.docker
ACCESS_LOG = "/var/log/apache2/access.log"
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Trident/7.0"


class Office:
    def __init__(self, engine: DockerRangeEngine, spec: RangeSpec) -> None:
        self.engine, self.spec = engine, spec

    def sh(self, host: str, script: str) -> str:
        result = self.engine.exec(self.spec.exercise, self.spec.team, host, ["sh", "-c", script], timeout=20)
        assert result.ok, f"{host}: {script}: {result.text}"
        return result.text

    def check(self, kind: str, **params: object) -> str:
        result = run_check(kind, CHECK_TYPES[kind].Params(**params), RangeProbe(self.engine, self.spec), 30)
        assert result.status == "up", result.reason
        return result.reason


@pytest.fixture(scope="module")
def office(docker_backend: DockerBackend) -> Iterator[Office]:
    for name in ("base", "workstation", "webserver"):
        build_image(docker_backend, name, log=lambda line: None)
    engine = DockerRangeEngine(docker_backend)
    spec = RangeSpec(
        exercise=new_exercise_id(), team="t", segments=("office",),
        hosts=(
            HostSpec(name="ws01", image=image_tag("workstation"), segments=("office",),
                     accounts=(Account("tanaka", "tanaka-pass-1"),), trainee_login=True),
            HostSpec(name="web01", image=image_tag("webserver"), segments=("office",),
                     services=(ServicePort("http", 80),)),
        ),
        access_segments=("office",), gateway_image=image_tag("base"), gateway_user="team",
        gateway_password="gateway-pass-1",
    )
    try:
        engine.provision(spec)
        yield Office(engine, spec)
    finally:
        engine.teardown(spec.exercise)


def _lines_after(office: Office, host: str, path: str, before: int, wanted: str) -> list[str]:
    """The lines added to *path* since it had *before* lines, once one holds *wanted* (logs are written late)."""
    for _ in range(50):
        lines = office.sh(host, f"cat {path} 2>/dev/null || true").splitlines()[before:]
        if any(wanted in line for line in lines):
            return lines
        time.sleep(0.2)
    return lines


def _count(office: Office, host: str, path: str) -> int:
    return int(office.sh(host, f"cat {path} 2>/dev/null | wc -l").strip() or 0)


def test_an_http_check_is_an_access_log_line_with_its_user_agent(office: Office) -> None:
    before = _count(office, "web01", ACCESS_LOG)
    office.check("http", **{"from": "ws01", "url": "http://web01/", "contains": "."})
    plain = _lines_after(office, "web01", ACCESS_LOG, before, "mamori-check/1")
    assert len(plain) == 1 and '"GET / HTTP/1.1" 200' in plain[0] and '"mamori-check/1"' in plain[0], plain

    before = _count(office, "web01", ACCESS_LOG)
    office.check("http", **{"from": "ws01", "url": "http://web01/?from=check", "contains": ".",
                            "headers": {"User-Agent": BROWSER, "Accept-Language": "ja"}})
    given = _lines_after(office, "web01", ACCESS_LOG, before, "Mozilla/5.0")
    assert len(given) == 1 and "GET /?from=check" in given[0], given
    assert "Mozilla/5.0 (Windows NT 10.0; Win64; x64)" in given[0] and "mamori-check" not in given[0], given


def test_an_ssh_login_check_is_a_login_in_auth_log(office: Office) -> None:
    before = _count(office, "ws01", "/var/log/auth.log")
    office.check("ssh_login", host="ws01", user="tanaka", password="tanaka-pass-1")
    added = _lines_after(office, "ws01", "/var/log/auth.log", before, "Accepted password for tanaka")
    assert any("sshd" in line and "Accepted password for tanaka" in line for line in added), added


def test_file_and_process_checks_leave_no_trace(office: Office) -> None:
    before = {path: _count(office, host, path) for host, path in
              (("ws01", "/var/log/auth.log"), ("web01", ACCESS_LOG), ("web01", "/var/log/auth.log"))}
    office.check("file", host="web01", path="/etc/hostname")
    office.check("process", host="web01", pattern="apache2", expect="present")
    time.sleep(1)
    after = {path: _count(office, host, path) for host, path in
             (("ws01", "/var/log/auth.log"), ("web01", ACCESS_LOG), ("web01", "/var/log/auth.log"))}
    assert after == before


def test_a_tcp_check_is_a_connection_closed_at_once(office: Office) -> None:
    before_web, before_ssh = _count(office, "web01", ACCESS_LOG), _count(office, "ws01", "/var/log/auth.log")
    office.check("tcp", **{"from": "web01", "host": "ws01", "port": 22})
    office.check("tcp", **{"from": "ws01", "host": "web01", "port": 80})
    web01 = office.sh("web01", "hostname -i").split()[0]
    # The probe closes before sshd's banner is read: sshd sees a close, or a reset when its banner was unread.
    added = _lines_after(office, "ws01", "/var/log/auth.log", before_ssh, f" by {web01} port")
    assert any("sshd" in line and re.search(rf"Connection (closed|reset) by {re.escape(web01)} port", line)
               for line in added), added
    assert _count(office, "web01", ACCESS_LOG) == before_web  # no request, no access-log line


def test_logins_come_from_the_gateway_or_from_the_vantage_host(office: Office) -> None:
    before = _count(office, "ws01", "/var/log/auth.log")
    office.check("ssh_login", host="ws01", user="tanaka", password="wrong", expect="failure")
    failed = _lines_after(office, "ws01", "/var/log/auth.log", before, "Failed password for tanaka")
    assert any(re.search(r"Failed password for tanaka from \S+\.210 port", line) for line in failed), failed
    before = _count(office, "ws01", "/var/log/auth.log")
    office.check("ssh_login", **{"host": "ws01", "user": "tanaka", "password": "tanaka-pass-1", "from": "web01",
                                 "counts_as": "shell_or_tunnel"})
    web01 = office.sh("web01", "hostname -i").split()[0]
    added = _lines_after(office, "ws01", "/var/log/auth.log", before, "session closed for user tanaka")
    assert any(f"Accepted password for tanaka from {web01} port" in line for line in added), added
