"""Every check type against a real range: seen UP and DOWN, tamper-proof, bounded, never raising.

One small range is provisioned for the module; each case puts the range in
the defender's desired state and out of it with the engine, and restores
what it changed.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
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


DATA = {"a.txt": "住民票コード,氏名\n1,山田\n".encode(), "sub/b.csv": b"id,amount\n1,100\n"}
DATA_HASHES = {name: hashlib.sha256(content).hexdigest() for name, content in DATA.items()}
WEBSHELL = b"<?php system($_GET['c']); ?>\n"
ATTACKER_KEY = "/root/.ssh/id_ed25519"


def php_users(password: str) -> Move:
    """The CMS's JSON password file with admin's password hashed by PHP's password_hash (bcrypt)."""
    return sh("web01", "mkdir -p /var/www/cms && php -r 'file_put_contents(\"/var/www/cms/users.json\", "
                       f"json_encode([\"admin\" => password_hash(\"{password}\", PASSWORD_DEFAULT)]));'")


def plant_attacker_key(team: Team) -> None:
    team.sh("attacker", f"test -f {ATTACKER_KEY} || ssh-keygen -q -t ed25519 -N '' -f {ATTACKER_KEY}")
    public = team.sh("attacker", f"cat {ATTACKER_KEY}.pub")
    team.sh("ws01", f"mkdir -p /home/tanaka/.ssh && echo '{public.strip()}' >> /home/tanaka/.ssh/authorized_keys")


BACKDOOR = sh("ws01", "useradd -M sysmaint && echo 'sysmaint ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/90-sysmaint")
NO_BACKDOOR = sh("ws01", "userdel sysmaint 2>/dev/null; rm -f /etc/sudoers.d/90-sysmaint")

CASES = [
    Case("account", "account", {"host": "ws01", "user": "sysmaint", "expect": "absent"}, NO_BACKDOOR, BACKDOOR),
    Case("all", "all", {"checks": [
        {"type": "account", "params": {"host": "ws01", "user": "sysmaint", "expect": "absent"}},
        {"type": "file", "params": {"host": "ws01", "path": "/etc/sudoers.d/90-sysmaint", "expect": "absent"}}]},
         NO_BACKDOOR, sh("ws01", "echo 'sysmaint ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/90-sysmaint")),
    Case("password-shadow", "password", {"host": "ws01", "user": "tanaka", "password": "tanaka-pass-1"},
         password("ws01", "tanaka", "a-new-strong-pass-42"), password("ws01", "tanaka", "tanaka-pass-1"),
         ends="down"),
    Case("password-json", "password", {"host": "web01", "file": "/var/www/cms/users.json", "user": "admin",
                                       "password": "minato2020"},
         php_users("Renewed#2026"), php_users("minato2020")),
    Case("crontab", "crontab", {"host": "ws01", "pattern": "sysupd"},
         sh("ws01", "rm -f /var/spool/cron/crontabs/tanaka"),
         lambda t: t.put("ws01", "/var/spool/cron/crontabs/tanaka",
                         b"*/2 * * * * /home/tanaka/.local/share/.sysupd/sysupd.sh >/dev/null 2>&1\n")),
    Case("search", "search", {"host": "web01", "path": "/var/www/html",
                              "contains": r"(system|passthru|shell_exec|popen|proc_open)\s*\("},
         sh("web01", "rm -rf /var/www/html/uploads"),
         lambda t: t.put("web01", "/var/www/html/uploads/2024/img.php", WEBSHELL)),
    Case("hashes", "hashes", {"host": "ws01", "path": "/srv/data", "files": DATA_HASHES},
         lambda t: [t.put("ws01", f"/srv/data/{name}", content) for name, content in DATA.items()],
         lambda t: t.put("ws01", "/srv/data/sub/b.csv", b"\x8f\x00encrypted")),
    Case("ssh-key-from-attacker", "ssh_login", {"source": "attacker", "host": "ws01", "user": "tanaka",
                                                "key_file": ATTACKER_KEY, "counts_as": "shell_or_tunnel",
                                                "expect": "failure", "timeout": 10},
         sh("ws01", "rm -f /home/tanaka/.ssh/authorized_keys"), plant_attacker_key),
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
    Case("http-statuses", "http", {"source": "ws01", "url": "http://www.city.minato.example/admin/",
                                   "expect_status": [403, 404], "timeout": 5},
         sh("web01", "rm -rf /var/www/html/admin"),
         lambda t: t.put("web01", "/var/www/html/admin/index.html", b"<p>admin</p>\n")),
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


def test_a_flooded_tree_or_a_fifo_in_it_gives_a_bounded_answer(team: Team) -> None:
    """A trainee's 20,000 empty files, or a FIFO, where a search looks: an ERROR or a verdict, never a stall."""
    team.sh("ws01", "mkdir -p /srv/flood/deep && cd /srv/flood/deep && seq 1 20000 | xargs touch && "
                    "mkfifo /srv/flood/pipe.php")
    try:
        flooded = team.check("search", host="ws01", path="/srv/flood", contains="system", max_files=2000)
        assert flooded.status == "error" and "more than 2000 entries" in flooded.reason, flooded
        assert flooded.seconds < 5
        fifo = team.check("search", host="ws01", path="/srv/flood", names=["*.php"], contains="system",
                          max_files=5000)
        assert fifo.status == "error", "still too many: the cap holds whatever the filter"
        team.sh("ws01", "rm -rf /srv/flood/deep")
        fifo = team.check("search", host="ws01", path="/srv/flood", names=["*.php"], contains="system")
        assert fifo.status == "up" and fifo.seconds < 2, fifo  # a FIFO is never opened, never a file
    finally:
        team.sh("ws01", "rm -rf /srv/flood")


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


def test_a_fifo_or_a_link_out_of_the_host_never_reads_the_docker_hosts_file(team: Team) -> None:
    """What a trainee with root could put where a file check looks: never a hang, never the Docker host's file.

    Links are followed inside the host (as its own programs follow them), so every link below
    leads to ws01's own /etc/hostname, or to nothing.
    """
    checked = "/etc/mamori/trap.txt"
    host_file = "/etc/hostname"  # on the Docker host too, with other content
    docker_host_name = Path(host_file).read_text(encoding="utf-8").strip()
    ws01_name = team.sh("ws01", f"cat {host_file}").strip()
    assert ws01_name != docker_host_name
    for trap in (f"mkfifo {checked}", f"ln -s {host_file} {checked}", f"ln -s ../../../../..{host_file} {checked}",
                 f"ln -s /proc/1/root{host_file} {checked}", f"ln -s {checked} {checked}"):
        team.sh("ws01", f"mkdir -p /etc/mamori && rm -f {checked} && {trap}")
        try:
            host = team.check("file", host="ws01", path=checked, contains=f"^{docker_host_name}$")
            assert host.status in ("down", "error"), (trap, host)
            own = team.check("file", host="ws01", path=checked, contains=f"^{ws01_name}$")
            expected = {"down"} if trap.startswith(("mkfifo", f"ln -s {checked}")) else {"up"}
            if "/proc/" in trap:
                expected = {"down"}  # a magic link is never followed
            assert own.status in expected, (trap, own)
            assert host.seconds < 2 and own.seconds < 2
        finally:
            team.sh("ws01", f"rm -f {checked}")
    team.sh("ws01", "mkdir -p /srv/up && ln -sfn / /srv/up/root")
    try:
        through = team.check("file", host="ws01", path=f"/srv/up/root{host_file}", contains=f"^{ws01_name}$")
        assert through.status == "up", "the link resolves inside ws01: its own /etc/hostname"
    finally:
        team.sh("ws01", "rm -rf /srv/up")


def test_swapping_a_file_for_a_link_to_it_removes_nothing(team: Team) -> None:
    """A forgery the host's programs would see through: the malware or the attacker's key moved and linked back."""
    malware, key_dir = "/home/tanaka/.local/share/.sysupd/sysupd.sh", "/home/tanaka/.ssh"
    team.sh("ws01", f"mkdir -p {malware.rsplit('/', 1)[0]} {key_dir} /var/tmp/hid && echo 'beacon' > {malware} && "
                    f"echo 'ssh-ed25519 AAAAC3Nza attacker' > {key_dir}/authorized_keys")
    try:
        gone = {"host": "ws01", "path": malware, "expect": "absent"}
        no_key = {"host": "ws01", "path": key_dir, "names": ["authorized_keys"], "contains": "ssh-"}
        assert team.check("file", **gone).status == "down" and team.check("search", **no_key).status == "down"
        team.sh("ws01", f"mv {malware} /var/tmp/hid/m && ln -s /var/tmp/hid/m {malware} && "
                        f"mv {key_dir}/authorized_keys /var/tmp/hid/k && ln -s /var/tmp/hid/k {key_dir}/authorized_keys")
        assert team.check("file", **gone).status == "down", "the link still leads to the malware"
        assert team.check("search", **no_key).status == "down", "sshd still reads the key through the link"
        team.sh("ws01", "rm -f /var/tmp/hid/m /var/tmp/hid/k")
        assert team.check("file", **gone).status == "up", "a dangling link runs nothing"
        assert team.check("search", **no_key).status == "up"
    finally:
        team.sh("ws01", f"rm -rf /var/tmp/hid {malware} {key_dir}/authorized_keys")


def test_the_docker_api_lists_a_tree_as_the_docker_host_does(team: Team) -> None:
    """The fallback (no /proc of the container here) sees the same entries, links as links, never followed."""
    team.sh("ws01", "mkdir -p /srv/tree/sub && echo 1 > /srv/tree/a.txt && echo 22 > /srv/tree/sub/b.txt && "
                    "ln -s /etc /srv/tree/out && mkfifo /srv/tree/pipe")
    try:
        probe = RangeProbe(team.engine, team.spec)
        on_host = sorted((e.path, e.kind, e.size) for e in probe.list_tree("ws01", "/srv/tree", 100) or [])
        through_api = sorted(team.engine.list_tree(team.spec.exercise, team.spec.team, "ws01", "/srv/tree", 100) or [])
        assert on_host == [("a.txt", "file", 2), ("out", "link", 0), ("pipe", "other", 0), ("sub", "dir", 0),
                           ("sub/b.txt", "file", 3)]
        assert through_api == on_host
        assert probe.list_tree("ws01", "/srv/tree/out", 100) is None, "a link to a directory is not listed"
        assert team.engine.list_tree(team.spec.exercise, team.spec.team, "ws01", "/srv/tree/a.txt", 100) is None
    finally:
        team.sh("ws01", "rm -rf /srv/tree")


def test_logins_from_a_host_whose_ssh_is_filtered_wait_for_it_once_a_round(team: Team) -> None:
    """The ransomware check tries three ways in from the attacker: a firewall that drops them costs one timeout."""
    drop = "-s attacker -d ws01 -p tcp --dport 22 -j DROP"
    ways_in = [{"type": "ssh_login", "params": {"from": "attacker", "host": "ws01", "user": user, "password": "x",
                                                "counts_as": "shell_or_tunnel", "expect": "failure", "timeout": 3}}
               for user in ("tanaka", "staff", "root")]
    team.sh("fw01", f"iptables -I FORWARD {drop}")
    try:
        locked_out = team.check("all", checks=ways_in)
    finally:
        team.sh("fw01", f"iptables -D FORWARD {drop}")
    assert locked_out.status == "up", locked_out
    assert locked_out.seconds < 6, "one connection timeout of 3 s, not three"
