"""Every check type against a real range: seen UP and DOWN, tamper-proof, bounded, never raising.

One small range is provisioned for the module; each case puts the range in
the defender's desired state and out of it with the engine, and restores
what it changed.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest

from range.docker_backend import DockerBackend
from range.engine import DockerRangeEngine
from range.images import build_image
from range.probes import RangeProbe
from range.spec import RangeSpec
from scoring.checks import CHECK_TYPES, CheckResult, CheckType, register, run_check
from tests.test_range.conftest import new_exercise_id
from tests.test_range.ranges import small_range

pytestmark = pytest.mark.docker

POLICY_PATH = "/etc/mamori/policy.txt"
POLICY = "# 情報セキュリティポリシー v3\nPasswordAuthentication no\n".encode()
POLICY_SHA = hashlib.sha256(POLICY).hexdigest()
C2_RULE = "-p tcp -d update.minato-cdn.example --dport 8080 -j DROP"


@dataclass(frozen=True)
class Team:
    """One team's range, and the engine-side moves the cases make in it."""

    engine: DockerRangeEngine
    spec: RangeSpec

    def sh(self, host: str, script: str) -> str:
        result = self.engine.exec(self.spec.exercise, self.spec.team, host, ["sh", "-c", script], timeout=20)
        assert result.ok, f"{host}: {script}: {result.text}"
        return result.text

    def put(self, host: str, path: str, content: bytes) -> None:
        self.engine.put_file(self.spec.exercise, self.spec.team, host, path, content)

    def running(self, host: str, command: str) -> bool:
        processes = self.engine.processes(self.spec.exercise, self.spec.team, host)
        return any(p.command.startswith(command) for p in processes)

    def start(self, host: str, command: str, user: str = "root") -> None:
        self.engine.start_detached(self.spec.exercise, self.spec.team, host, command.split(), user=user)
        wait_for(lambda: self.running(host, command), f"{command} on {host}")

    def stop(self, host: str, command: str) -> None:
        self.engine.exec(self.spec.exercise, self.spec.team, host, ["pkill", "-KILL", "-f", f"^{command}"])
        wait_for(lambda: not self.running(host, command), f"{command} gone from {host}")

    def listen(self, host: str, port: int) -> None:
        self.start(host, f"nc -lk {port}")
        wait_for(lambda: f":{port} " in self.sh(host, "ss -ltnH"), f"{host} listening on {port}")

    def check(self, kind: str, **params: Any) -> CheckResult:
        probe = RangeProbe(self.engine, self.spec)
        return run_check(kind, CHECK_TYPES[kind].Params(**params), probe, deadline_seconds=30)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:g} s for {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def team(docker_backend: DockerBackend) -> Iterator[Team]:
    for name in ("base", "router", "workstation", "webserver", "attacker"):
        build_image(docker_backend, name, log=lambda line: None)
    engine = DockerRangeEngine(docker_backend)
    spec = small_range(new_exercise_id(), "a")
    try:
        engine.provision(spec)
        yield Team(engine, spec)
    finally:
        engine.teardown(spec.exercise)


Move = Callable[[Team], object]


def sh(host: str, script: str) -> Move:
    return lambda team: team.sh(host, script)


def password(host: str, user: str, value: str) -> Move:
    return sh(host, f"echo '{user}:{value}' | chpasswd")


DEFACE_SITE = sh("web01", "echo '<p>HACKED by 0xdead</p>' >> /var/www/html/index.html")
RESTORE_SITE = sh("web01", "sed -i '/HACKED by 0xdead/d' /var/www/html/index.html")


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    params: dict[str, Any]
    to_up: Move
    to_down: Move
    ends: str = "up"  # the state that leaves the range as it was provisioned


CASES = [
    Case("command", "command", {"host": "ws01", "user": "tanaka", "command": "id -un; test -e /var/tmp/patched",
                                "expect_output": r"^tanaka$"},
         sh("ws01", "touch /var/tmp/patched"), sh("ws01", "rm -f /var/tmp/patched"), ends="down"),
    Case("process", "process", {"host": "ws01", "pattern": r"^sleep 4242\b", "expect": "absent"},
         lambda t: t.stop("ws01", "sleep 4242"), lambda t: t.start("ws01", "sleep 4242", user="tanaka")),
    Case("file-hash", "file", {"host": "ws01", "path": POLICY_PATH, "sha256": POLICY_SHA},
         lambda t: t.put("ws01", POLICY_PATH, POLICY),
         lambda t: t.put("ws01", POLICY_PATH, POLICY + b"PermitEmptyPasswords yes\n")),
    Case("file-absent", "file", {"host": "ws01", "path": "/tmp/.cache/dropper.sh", "expect": "absent"},
         sh("ws01", "rm -f /tmp/.cache/dropper.sh"),
         lambda t: t.put("ws01", "/tmp/.cache/dropper.sh", b"#!/bin/sh\n")),
    Case("file-content", "file", {"host": "web01", "path": "/var/www/html/index.html", "contains": "公式",
                                  "not_contains": "(?i)hacked"}, RESTORE_SITE, DEFACE_SITE),
    Case("tcp", "tcp", {"source": "ws01", "host": "web01", "port": 9100, "timeout": 2},
         lambda t: t.listen("web01", 9100), lambda t: t.stop("web01", "nc -lk 9100"), ends="down"),
    Case("http", "http", {"source": "ws01", "url": "http://www.city.minato.example/", "contains": "公式",
                          "not_contains": "(?i)hacked", "timeout": 5}, RESTORE_SITE, DEFACE_SITE),
    Case("ssh-login-works", "ssh_login", {"host": "ws01", "user": "tanaka", "password": "tanaka-pass-1",
                                          "timeout": 10},
         password("ws01", "tanaka", "tanaka-pass-1"), password("ws01", "tanaka", "changed-by-attacker-7")),
    Case("ssh-default-password-refused", "ssh_login", {"host": "fw01", "user": "netadmin",
                                                       "password": "fw-admin-pass", "expect": "failure", "timeout": 10},
         password("fw01", "netadmin", "a-new-strong-pass-42"), password("fw01", "netadmin", "fw-admin-pass"),
         ends="down"),
    Case("blocked", "blocked", {"source": "ws01", "host": "attacker", "port": 8080, "control_host": "web01",
                                "control_port": 80, "timeout": 2},
         sh("fw01", f"iptables -I FORWARD {C2_RULE}"),
         sh("fw01", f"iptables -D FORWARD {C2_RULE} 2>/dev/null; true"), ends="down"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_every_check_type_sees_up_and_down(team: Team, case: Case) -> None:
    try:
        case.to_down(team)
        down = team.check(case.kind, **case.params)
        assert down.status == "down", down
        case.to_up(team)
        up = team.check(case.kind, **case.params)
        assert up.status == "up", up
        assert down.reason and up.reason and 0 < up.seconds < 15
    finally:
        (case.to_up if case.ends == "up" else case.to_down)(team)


def test_every_registered_check_type_runs_and_has_a_case() -> None:
    assert {case.kind for case in CASES} == set(CHECK_TYPES)
    for kind in CHECK_TYPES.values():
        assert "run" in vars(kind), f"{kind.name} has no run()"
    with pytest.raises(TypeError, match="defines no run"):
        register("no-run-yet")(type("NoRunCheck", (CheckType,), {"summary": "…"}))
    assert "no-run-yet" not in CHECK_TYPES


TOOLS_THAT_LIE = {
    "/bin/ps": "#!/bin/sh\necho '  PID TTY          TIME CMD'\n",
    "/usr/bin/pgrep": "#!/bin/sh\nexit 1\n",
    "/usr/bin/sha256sum": f"#!/bin/sh\necho '{POLICY_SHA}  '\"$1\"\n",
    "/bin/cat": "#!/bin/sh\nprintf '%s' '" + POLICY.decode() + "'\n",
}


def test_tools_that_lie_inside_a_host_do_not_change_verdicts(team: Team) -> None:
    checks = [
        ("process", {"host": "ws01", "pattern": "^sleep 5151", "expect": "absent"}),
        ("process", {"host": "ws01", "pattern": "^sleep 5151", "expect": "present"}),
        ("file", {"host": "ws01", "path": POLICY_PATH, "sha256": POLICY_SHA}),
        ("file", {"host": "ws01", "path": POLICY_PATH, "not_contains": "PermitEmptyPasswords"}),
    ]
    team.start("ws01", "sleep 5151", user="tanaka")
    team.put("ws01", POLICY_PATH, POLICY + b"PermitEmptyPasswords yes\n")
    try:
        before = [team.check(kind, **params).status for kind, params in checks]
        assert before == ["down", "up", "down", "down"]
        for path, script in TOOLS_THAT_LIE.items():
            name = path.rsplit("/", 1)[1]
            team.put("ws01", f"/var/tmp/lies/{name}", script.encode())
            team.sh("ws01", f"mkdir -p /var/tmp/real && cp -a {path} /var/tmp/real/{name} && "
                            f"cp /var/tmp/lies/{name} {path}")
        lies = team.sh("ws01", f"ps aux; pgrep -f sleep; sha256sum {POLICY_PATH}; cat {POLICY_PATH}; true")
        assert "5151" not in lies and POLICY_SHA in lies and "PermitEmptyPasswords" not in lies
        assert [team.check(kind, **params).status for kind, params in checks] == before
    finally:
        team.sh("ws01", "; ".join(f"cp /var/tmp/real/{p.rsplit('/', 1)[1]} {p}" for p in TOOLS_THAT_LIE) + "; true")
        team.stop("ws01", "sleep 5151")
        team.put("ws01", POLICY_PATH, POLICY)


def test_a_hung_or_flooding_host_gives_a_bounded_error(team: Team) -> None:
    hung = team.check("command", host="ws01", command="sleep 600", timeout=2)
    assert hung.status == "error" and "did not finish within 2 s" in hung.reason, hung
    assert hung.seconds < 4
    assert not team.running("ws01", "sleep 600"), "the hung command is killed"
    try:
        flood = team.check("command", host="ws01", command="yes mamori", timeout=3)
        assert flood.status == "error" and "64 KiB" in flood.reason, flood
        assert flood.seconds < 5, "at worst the command's own timeout"
        assert team.check("command", host="ws01", command="true").status == "up", "the host still answers"
    finally:
        team.sh("ws01", "pkill -KILL -x yes; true")


def test_blocked_is_an_error_when_the_control_connection_fails(team: Team) -> None:
    everything_from_ws01 = "-s ws01 -j DROP"
    team.sh("fw01", f"iptables -I FORWARD {everything_from_ws01}")
    try:
        result = team.check("blocked", source="ws01", host="attacker", port=8080, control_host="web01",
                            control_port=80, timeout=2)
    finally:
        team.sh("fw01", f"iptables -D FORWARD {everything_from_ws01}")
    assert result.status == "error", result
    assert "the control connection failed, so a failed probe proves nothing" in result.reason
    closed_control = team.check("blocked", source="ws01", host="attacker", port=8080, control_host="web01",
                                control_port=81, timeout=2)
    assert closed_control.status == "error", closed_control


def test_a_fifo_or_a_link_out_of_the_host_at_a_checked_path_reads_as_absent_at_once(team: Team) -> None:
    """What a trainee with root could put where a file check looks: never a hang, never the Docker host's file."""
    checked = "/etc/mamori/trap.txt"
    host_file = "/etc/hostname"  # on the Docker host too, with other content
    for trap in (f"mkfifo {checked}", f"ln -s {host_file} {checked}", f"ln -s ../../../../..{host_file} {checked}",
                 f"ln -s /proc/1/root{host_file} {checked}"):
        team.sh("ws01", f"mkdir -p /etc/mamori && rm -f {checked} && {trap}")
        try:
            present = team.check("file", host="ws01", path=checked)
            absent = team.check("file", host="ws01", path=checked, expect="absent")
            assert (present.status, absent.status) == ("down", "up"), (trap, present, absent)
            assert "is absent" in present.reason and present.seconds < 2 and absent.seconds < 2
        finally:
            team.sh("ws01", f"rm -f {checked}")
    team.sh("ws01", "mkdir -p /srv/up && ln -sfn / /srv/up/root")
    try:
        through = team.check("file", host="ws01", path=f"/srv/up/root{host_file}", contains=r"^ws01$")
        assert through.status == "up", "the link resolves inside ws01: its own /etc/hostname"
    finally:
        team.sh("ws01", "rm -rf /srv/up")
