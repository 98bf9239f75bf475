"""A root trainee who replaces every program a check could use changes no verdict (issue: forged remediation).

The range is put in a mix of defended and undefended states, every check
type is run, then — on every host a trainee is root on — every program in
``/usr/bin``, ``/usr/sbin`` and ``/usr/local/bin`` is replaced by a liar
(``grep`` finds nothing, the rest print "changed" and succeed, as the
issue's shims did), ``/etc/ld.so.preload`` names a library, profiles alias
and re-PATH the tools. Every verdict must be the same afterwards, while the
old ``sh -c`` checks (what the removed ``command`` type ran) now lie.

Left genuine: ``sshd``, which OpenSSH re-executes for every connection —
replacing it really breaks SSH, which is a change of what the host *does*,
not a forgery of what the platform *sees*; and the copy of ``dash`` the
liars themselves run with (outside ``PATH``).
"""
from __future__ import annotations

import hashlib
from typing import Any, Iterator

import pytest

from range.docker_backend import DockerBackend
from range.engine import DockerRangeEngine
from range.images import build_image
from range.probes import RangeProbe
from range.spec import RangeSpec
from scoring.checks import CHECK_TYPES, run_check
from tests.test_range.conftest import new_exercise_id
from tests.test_range.ranges import small_range

pytestmark = pytest.mark.docker

TAMPERED_HOSTS = ("ws01", "web01", "fw01")
PATH_DIRECTORIES = "/usr/bin /usr/sbin /usr/local/bin"
GENUINE = {"/usr/sbin/sshd"}
LIAR_SHELL = "/opt/liar/dash"
KEY = "/root/.ssh/id_ed25519"
DATA = {"a.txt": "住民票コード,氏名\n1,山田\n".encode(), "sub/b.csv": b"id,amount\n1,100\n"}
POLICY = b"PasswordAuthentication no\nPermitEmptyPasswords yes\n"

# (check type, parameters): every registered type, in states both UP and DOWN.
CHECKS: list[tuple[str, dict[str, Any]]] = [
    ("account", {"host": "ws01", "user": "sysmaint", "expect": "absent"}),
    ("account", {"host": "ws01", "user": "tanaka"}),
    ("password", {"host": "ws01", "user": "tanaka", "password": "tanaka-pass-1"}),
    ("password", {"host": "ws01", "user": "staff", "password": "staff-pass-1", "expect": "accepted"}),
    ("password", {"host": "web01", "file": "/var/www/cms/users.json", "user": "admin", "password": "minato2020"}),
    ("crontab", {"host": "ws01", "pattern": "sysupd"}),
    ("crontab", {"host": "ws01", "pattern": "kazei_sync", "expect": "present"}),
    ("search", {"host": "web01", "path": "/var/www/html", "contains": r"(system|passthru)\s*\("}),
    ("search", {"host": "ws01", "path": "/srv/data", "names": ["*.locked", "README_RESTORE.txt"]}),
    ("hashes", {"host": "ws01", "path": "/srv/data",
                "files": {name: hashlib.sha256(content).hexdigest() for name, content in DATA.items()}}),
    ("file", {"host": "ws01", "path": "/etc/mamori/policy.txt", "not_contains": "PermitEmptyPasswords yes"}),
    ("file", {"host": "ws01", "path": "/etc/mamori/policy.txt", "contains": "PasswordAuthentication no"}),
    ("process", {"host": "ws01", "pattern": r"^sleep 4343\b", "expect": "absent"}),
    ("process", {"host": "web01", "pattern": "apache2"}),
    ("all", {"checks": [{"type": "account", "params": {"host": "ws01", "user": "sysmaint", "expect": "absent"}},
                        {"type": "file", "params": {"host": "ws01", "path": "/etc/sudoers.d/90-sysmaint",
                                                    "expect": "absent"}}]}),
    ("tcp", {"source": "ws01", "host": "web01", "port": 80, "timeout": 3}),
    ("tcp", {"source": "ws01", "host": "web01", "port": 9999, "expect": "open", "timeout": 2}),
    ("http", {"source": "ws01", "url": "http://web01/", "contains": "公式", "timeout": 5}),
    ("http", {"source": "ws01", "url": "http://web01/admin/", "expect_status": [403, 404], "timeout": 5}),
    ("blocked", {"source": "ws01", "host": "attacker", "port": 8080, "control_host": "web01", "control_port": 80,
                 "timeout": 2}),
    ("ssh_login", {"host": "ws01", "user": "tanaka", "password": "tanaka-pass-1", "timeout": 10}),
    ("ssh_login", {"source": "attacker", "host": "ws01", "user": "tanaka", "key_file": KEY, "expect": "failure",
                   "timeout": 10}),
]
# What the removed `command` type ran for some of them; each must lie once the tools do.
OLD_COMMANDS = {
    "ws01": "! grep -qs sysupd /var/spool/cron/crontabs/tanaka",
    "web01": "! grep -rlsE '(system|passthru)[[:space:]]*\\(' /var/www/html",
}


@pytest.fixture(scope="module")
def ranged(docker_backend: DockerBackend) -> Iterator[tuple[DockerRangeEngine, RangeSpec]]:
    for name in ("base", "router", "workstation", "webserver", "attacker"):
        build_image(docker_backend, name, log=lambda line: None)
    engine = DockerRangeEngine(docker_backend)
    spec = small_range(new_exercise_id(), "t")
    try:
        engine.provision(spec)
        yield engine, spec
    finally:
        engine.teardown(spec.exercise)


def sh(engine: DockerRangeEngine, spec: RangeSpec, host: str, script: str) -> str:
    result = engine.exec(spec.exercise, spec.team, host, ["sh", "-c", script], timeout=30)
    assert result.ok, f"{host}: {script}: {result.text}"
    return result.text


def undefended_and_defended(engine: DockerRangeEngine, spec: RangeSpec) -> None:
    """A backdoor, a cron job, a web shell, an altered file and the attacker's key; a renewed CMS password."""
    run = lambda host, script: sh(engine, spec, host, script)  # noqa: E731
    run("ws01", "useradd -M sysmaint && touch /etc/sudoers.d/90-sysmaint")
    engine.put_file(spec.exercise, spec.team, "ws01", "/var/spool/cron/crontabs/tanaka",
                    b"*/2 * * * * /home/tanaka/.sysupd/sysupd.sh\n0 7 * * 1-5 /home/tanaka/bin/kazei_sync.sh\n")
    for name, content in DATA.items():
        engine.put_file(spec.exercise, spec.team, "ws01", f"/srv/data/{name}", content)
    engine.put_file(spec.exercise, spec.team, "ws01", "/srv/data/sub/b.csv", b"\x8f encrypted")
    engine.put_file(spec.exercise, spec.team, "ws01", "/etc/mamori/policy.txt", POLICY)
    engine.start_detached(spec.exercise, spec.team, "ws01", ["sleep", "4343"], user="tanaka")
    engine.put_file(spec.exercise, spec.team, "web01", "/var/www/html/uploads/x.php",
                    b"<?php system($_GET['c']); ?>\n")
    run("web01", "mkdir -p /var/www/cms && php -r 'file_put_contents(\"/var/www/cms/users.json\", "
                 "json_encode([\"admin\" => password_hash(\"Renewed#2026\", PASSWORD_DEFAULT)]));'")
    run("attacker", f"test -f {KEY} || ssh-keygen -q -t ed25519 -N '' -f {KEY}")
    public = run("attacker", f"cat {KEY}.pub").strip()
    run("ws01", f"mkdir -p /home/tanaka/.ssh && echo '{public}' > /home/tanaka/.ssh/authorized_keys")


def tamper(engine: DockerRangeEngine, spec: RangeSpec, backend: DockerBackend, host: str) -> int:
    """Replace every program in PATH on *host* by a liar, from outside (no program of the host is needed)."""
    listed = sh(engine, spec, host, f"mkdir -p /opt/liar && cp /usr/bin/dash {LIAR_SHELL} && "
                                    f"find {PATH_DIRECTORIES} -maxdepth 1 \\( -type f -o -type l \\) 2>/dev/null")
    programs = [p for p in listed.split() if p not in GENUINE]
    liar = f"#!{LIAR_SHELL}\necho changed\nexit 0\n".encode()
    finds_nothing = f"#!{LIAR_SHELL}\nexit 1\n".encode()
    files = [(p, finds_nothing if p.rsplit("/", 1)[1] in ("grep", "egrep", "pgrep") else liar, 0o755)
             for p in programs]
    aliases = b"alias grep='echo changed'\nalias cat='echo changed'\nexport PATH=/opt/liar:$PATH\n"
    files += [("/etc/ld.so.preload", b"/opt/liar/libmamori-lies.so\n", 0o644),
              ("/etc/profile.d/zz-liar.sh", aliases, 0o644), ("/root/.bashrc", aliases, 0o644),
              ("/etc/bash.bashrc", aliases, 0o644), ("/etc/environment", b"PATH=/opt/liar:/usr/bin\n", 0o644)]
    backend.put_files(engine.container_id(spec.exercise, spec.team, host), files)
    return len(programs)


def verdicts(engine: DockerRangeEngine, spec: RangeSpec) -> list[str]:
    probe = RangeProbe(engine, spec)
    return [run_check(kind, CHECK_TYPES[kind].Params(**params), probe, 40).status for kind, params in CHECKS]


def old_command_exit(engine: DockerRangeEngine, spec: RangeSpec, host: str) -> int | None:
    return engine.exec(spec.exercise, spec.team, host, ["sh", "-c", OLD_COMMANDS[host]], timeout=20).exit_code


def test_every_check_type_is_in_the_tamper_set() -> None:
    assert {kind for kind, _ in CHECKS} == set(CHECK_TYPES)


def test_replacing_every_program_a_trainee_can_reach_changes_no_verdict(
        ranged: tuple[DockerRangeEngine, RangeSpec], docker_backend: DockerBackend) -> None:
    engine, spec = ranged
    undefended_and_defended(engine, spec)
    before = verdicts(engine, spec)
    assert "error" not in before, list(zip(CHECKS, before))
    assert {"up", "down"} <= set(before), "both states are represented"
    old_before = {host: old_command_exit(engine, spec, host) for host in OLD_COMMANDS}
    assert old_before == {"ws01": 1, "web01": 1}, "the old command checks saw the cron job and the web shell"

    replaced = {host: tamper(engine, spec, docker_backend, host) for host in TAMPERED_HOSTS}
    assert all(count > 100 for count in replaced.values()), replaced

    lie = engine.exec(spec.exercise, spec.team, "ws01", ["grep", "-c", "root", "/etc/passwd"], timeout=10)
    assert lie.exit_code == 1, "grep on ws01 now lies"
    assert {host: old_command_exit(engine, spec, host) for host in OLD_COMMANDS} == {"ws01": 0, "web01": 0}, \
        "the removed command checks would now pay for a cron job and a web shell still there"
    after = verdicts(engine, spec)
    assert after == before, [(c, b, a) for c, b, a in zip(CHECKS, before, after) if b != a]
