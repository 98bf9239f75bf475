"""Reading a range from the Docker host (range.hostread, range.netns) against real containers.

The fast way must answer exactly what the Docker API answers, never reach
the Docker host's own files or network, and never hang on what a trainee
with root in the container puts in its way.
"""
from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from range import hostread, netns
from range.docker_backend import DockerBackend
from range.engine import DockerRangeEngine
from range.images import build_image, image_tag
from range.probes import RangeProbe
from range.spec import Account, HostSpec, RangeSpec, ServicePort
from scoring.probe import ProbeError
from tests.test_range.conftest import new_exercise_id

pytestmark = pytest.mark.docker


def office(exercise: str) -> RangeSpec:
    """Two hosts on one segment: the cheapest range with a network to probe."""
    return RangeSpec(
        exercise=exercise, team="h", segments=("office",),
        hosts=(
            HostSpec(name="ws01", image=image_tag("workstation"), segments=("office",),
                     accounts=(Account("tanaka", "tanaka-pass-1"),)),
            HostSpec(name="web01", image=image_tag("webserver"), segments=("office",),
                     services=(ServicePort("http", 80),)),
        ),
        access_segments=("office",), gateway_image=image_tag("base"), gateway_user="team",
        gateway_password="gateway-pass-1",
    )


class Range:
    def __init__(self, engine: DockerRangeEngine, spec: RangeSpec) -> None:
        self.engine, self.spec = engine, spec

    def sh(self, host: str, script: str, user: str = "root") -> str:
        result = self.engine.exec(self.spec.exercise, self.spec.team, host, ["sh", "-c", script], user=user,
                                  timeout=20)
        assert result.ok, f"{host}: {script}: {result.text}"
        return result.text

    def container(self, host: str) -> tuple[int, str]:
        """(pid, container id) of *host* now."""
        info = self.engine.backend.container(self.engine.container_id(self.spec.exercise, self.spec.team, host))
        assert info is not None and info.pid > 0
        return info.pid, info.id

    def probe(self) -> RangeProbe:
        return RangeProbe(self.engine, self.spec)


@pytest.fixture(scope="module")
def office_range(docker_backend: DockerBackend) -> Iterator[Range]:
    for name in ("base", "workstation", "webserver"):
        build_image(docker_backend, name, log=lambda line: None)
    engine = DockerRangeEngine(docker_backend)
    spec = office(new_exercise_id())
    try:
        engine.provision(spec)
        yield Range(engine, spec)
    finally:
        engine.teardown(spec.exercise)


@pytest.fixture(scope="module")
def host_secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file of the Docker host's own, which no path in a container may reach."""
    path = tmp_path_factory.mktemp("hostread") / "shadow"
    path.write_text(f"root:host-secret-{uuid.uuid4().hex}:19000:0:99999:7:::\n")
    return path


@pytest.fixture(scope="module")
def traps(office_range: Range, host_secret: Path) -> str:
    """What a trainee with root could leave at checked paths, in ws01's /srv/t."""
    office_range.sh("ws01", f"""
        mkdir -p /srv/t/dir/sub && cd /srv/t
        echo plain > plain && : > empty && head -c 3000000 /dev/zero > big && ln plain hard
        ln -s / up && ln -s ../../../../../../.. dots && ln -s {host_secret} to-host
        ln -s ../../../../..{host_secret} to-host-relative && ln -s /proc/1/root p1 && ln -s /proc/self/root pself
        ln -s plain to-plain && ln -s dir to-dir && ln -s nowhere dangling && ln -s loop2 loop1 && ln -s loop1 loop2
        ln -s /srv/t/dir/sub deep && mkfifo fifo && ln -s fifo to-fifo
        python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("/srv/t/socket")'
        chmod 000 plain
    """)
    return "/srv/t"


PATHS = [
    "plain", "hard", "empty", "big", "dir", "dir/", "dir/.", "nope", "nope/x", "plain/x", "plain/", "plain/.",
    "up/srv/t/plain", "dots/srv/t/plain", "to-plain", "to-plain/", "to-dir", "to-dir/", "dangling", "dangling/x",
    "loop1", "loop1/x", "deep/../plain", "dir/../plain", "fifo", "to-fifo", "socket", "p1/srv/t/plain",
    "pself/srv/t/plain", "/etc/hosts", "/etc/hostname", "/dev/null", "/proc/1/cmdline", "/", "//srv//t/./plain",
    "/../../srv/t/plain",
]


def outcome(read: Callable[[], bytes | None]) -> Any:
    try:
        found = read()
    except Exception as exc:  # an error is an answer too: the same error class on both sides
        return type(exc).__name__ if not isinstance(exc, ProbeError) else "ProbeError"
    return None if found is None else (len(found), found[:16])


@pytest.mark.parametrize("path", PATHS)
def test_a_file_reads_as_the_docker_api_reads_it(office_range: Range, traps: str, path: str) -> None:
    absolute = path if path.startswith("/") else f"{traps}/{path}"
    _, container_id = office_range.container("ws01")
    probe = office_range.probe()
    through_docker = outcome(lambda: office_range.engine.backend.get_file(container_id, absolute, 1 << 20,
                                                                          follow=True))
    assert outcome(lambda: probe.read_file("ws01", absolute, 1 << 20)) == (
        through_docker if through_docker != "DockerFailure" else "ProbeError")


def test_what_the_host_read_answers_itself(office_range: Range, traps: str) -> None:
    pid, container_id = office_range.container("ws01")

    def read(path: str, max_bytes: int = 1 << 20) -> bytes | None:
        return hostread.read_file(pid, container_id, f"{traps}/{path}", max_bytes)

    assert read("plain") == read("hard") == b"plain\n", "a file without permissions: root reads it"
    assert read("big", 1000) == bytes(1000) and len(read("big") or b"") == 1 << 20
    assert read("empty") == b""
    for absent in ("dir", "nope", "to-plain", "dangling", "fifo", "to-fifo", "socket", "up", "dots/srv", "loop1"):
        assert read(absent) is None, absent
    assert hostread.read_file(pid, container_id, f"{traps}/to-plain", 1 << 20, follow=True) == b"plain\n"
    for no_file in ("loop1", "dangling", "to-fifo", "to-dir", "to-host"):
        assert hostread.read_file(pid, container_id, f"{traps}/{no_file}", 1 << 20, follow=True) is None, no_file
    for docker_decides in ("plain/x", "loop1/x", "p1/srv/t/plain", "pself/srv/t/plain"):
        with pytest.raises(hostread.HostReadUnavailable):
            read(docker_decides)
    with pytest.raises(hostread.HostReadUnavailable):  # a bind mount: Docker's archive reads it
        hostread.read_file(pid, container_id, "/etc/hosts", 1 << 20)


def test_symlinks_never_reach_the_docker_hosts_files(office_range: Range, traps: str, host_secret: Path) -> None:
    secret = host_secret.read_bytes()
    pid, container_id = office_range.container("ws01")
    probe = office_range.probe()
    inside = [f"{traps}/to-host", f"{traps}/to-host-relative", f"{traps}/up{host_secret}", f"{traps}/dots{host_secret}"]
    for path in inside:
        assert hostread.read_file(pid, container_id, path, 1 << 20) is None, path
        assert probe.read_file("ws01", path, 1 << 20) is None, path
    magic = [f"{traps}/p1{host_secret}", f"{traps}/pself{host_secret}", f"/proc/1/root{host_secret}",
             f"/proc/self/root{host_secret}", f"/proc/{os.getpid()}/root{host_secret}"]
    for path in magic:
        with pytest.raises(hostread.HostReadUnavailable):
            hostread.read_file(pid, container_id, path, 1 << 20)
        found = outcome(lambda: probe.read_file("ws01", path, 1 << 20))
        assert found is None or found == "ProbeError", (path, found)
    assert host_secret.read_bytes() == secret


def test_a_mark_made_from_the_host_lands_inside_and_never_follows_a_link_out(office_range: Range, traps: str,
                                                                             host_secret: Path) -> None:
    pid, container_id = office_range.container("ws01")
    hostread.create_empty(pid, container_id, "/var/tmp/mark")
    hostread.create_empty(pid, container_id, "/var/tmp/mark")  # already there: nothing changes
    assert office_range.sh("ws01", "stat -c '%s %a %U' /var/tmp/mark").strip() == "0 644 root"
    secret = host_secret.read_bytes()
    # A link at the path (to the host's file, absolute or through ..) is refused, never written through.
    for path in (f"{traps}/to-host", f"{traps}/up{host_secret}", f"{traps}/dots{host_secret}"):
        with pytest.raises(hostread.HostReadUnavailable):
            hostread.create_empty(pid, container_id, path)
    assert host_secret.read_bytes() == secret and not host_secret.with_name("mark").exists()


def test_a_fifo_at_a_checked_path_answers_at_once(office_range: Range, traps: str) -> None:
    probe = office_range.probe()
    started = time.monotonic()
    assert probe.read_file("ws01", f"{traps}/fifo", 1 << 20) is None
    assert probe.read_file("ws01", f"{traps}/to-fifo", 1 << 20) is None
    assert time.monotonic() - started < 1.0


def test_a_pid_of_another_container_or_of_the_host_is_refused(office_range: Range) -> None:
    pid, container_id = office_range.container("ws01")
    web_pid, _ = office_range.container("web01")
    for wrong in (web_pid, os.getpid(), 1, 0):
        with pytest.raises(hostread.NotThisContainer):
            hostread.read_file(wrong, container_id, "/etc/passwd", 1 << 20)
        with pytest.raises(hostread.NotThisContainer):
            hostread.processes(wrong, container_id)
        with pytest.raises(hostread.NotThisContainer):
            netns.run_in_network_namespace(wrong, container_id, lambda opened: None, 1)


# Processes --------------------------------------------------------------------------------------

ODD_TITLES = [
    "sleep 6101", "  lead  and   runs  of spaces  ", "tab\there", "new\nline", "日本語 の 引数",
    "ctl\x01\x1b[31m", "", "   ", "a\u00a0b\u3000c", "c1\u0085x", "ls\u2028x", "pu\ue000x",
]


def test_process_rows_equal_docker_tops(office_range: Range) -> None:
    script = " ".join(f"perl -e '$0 = shift; sleep 600' {_shell_quote(title)} >/dev/null 2>&1 &"
                       for title in ODD_TITLES[1:])
    pid, container_id = office_range.container("ws01")
    before = {p.pid for p in hostread.processes(pid, container_id)}
    office_range.sh("ws01", f"sleep 6101 & {script} true")
    office_range.sh("ws01", "perl -e '$0 = \"tanaka-job\"; sleep 600' >/dev/null 2>&1 &", user="tanaka")
    try:
        for attempt in range(5):  # a process may start or end between the two reads
            mine = [(p.pid, p.ppid, p.uid, p.user, p.command) for p in hostread.processes(pid, container_id)]
            top = [(p.pid, p.ppid, p.uid, p.user, p.command)
                   for p in office_range.engine.backend.processes(container_id)]
            if mine == top:
                break
            time.sleep(0.3)
        assert mine == top
        commands = [row[4] for row in mine]
        assert "sleep 6101" in commands and "lead and runs of spaces" in commands and "日本語 の 引数" in commands
        assert any(row[3] == "tanaka" and row[4] == "tanaka-job" for row in mine)
        rows = office_range.probe().processes("ws01")
        assert [(r.pid, r.uid, r.user, r.command) for r in rows] == [(m[0], m[2], m[3], m[4]) for m in mine]
    finally:
        for started in {p.pid for p in hostread.processes(pid, container_id)} - before:
            os.kill(started, signal.SIGKILL)  # host PIDs, just read as ws01's; ws01's pkill would match its shell


def test_a_giant_command_line_is_read_to_a_cap(office_range: Range) -> None:
    args = " ".join(['"$x"'] * 15)  # 1.5 MB of arguments
    office_range.sh("ws01", f"x=$(head -c 100000 /dev/zero | tr '\\0' x); perl -e 'sleep 600' giant {args} &")
    try:
        pid, container_id = office_range.container("ws01")
        started = time.monotonic()
        rows = hostread.processes(pid, container_id)
        assert time.monotonic() - started < 2.0
        giant = next(r for r in rows if r.command.startswith("perl -e sleep 600 giant xxx"))
        assert len(giant.command) <= hostread.MAX_COMMAND_BYTES
    finally:
        office_range.sh("ws01", "pkill -KILL -f '[s]leep 600 giant'; true")


def test_ps_command_shows_what_ps_shows() -> None:
    assert hostread.ps_command(b"sleep\x00600\x00") == "sleep 600"
    assert hostread.ps_command(b"  a\x00\x00b  c\x00\x00\x00") == "a b c"
    assert hostread.ps_command(b"tab\there\x00new\nline\x00") == "tab?here new line"
    assert hostread.ps_command(b"bad\xff\x80utf8\x00") == "bad??utf8"
    assert hostread.ps_command(b"\x00") == "?"
    assert hostread.ps_command(b"", "kworker") == "[kworker]"


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


# The network, from a thread in the container's namespace ----------------------------------------

def namespaces() -> tuple[int, int]:
    """The network namespace of this (main) thread and that of a fresh thread."""
    fresh: list[int] = []
    thread = threading.Thread(target=lambda: fresh.append(os.stat("/proc/thread-self/ns/net").st_ino))
    thread.start()
    thread.join()
    return os.stat("/proc/thread-self/ns/net").st_ino, fresh[0]


def test_many_probes_leave_this_process_in_its_own_network_namespace(office_range: Range) -> None:
    before, threads = namespaces(), threading.active_count()
    assert before[0] == before[1] == os.stat("/proc/self/ns/net").st_ino
    pid, container_id = office_range.container("ws01")
    seen = netns.run_in_network_namespace(pid, container_id,
                                          lambda opened: os.stat("/proc/thread-self/ns/net").st_ino, 5)
    assert seen == os.stat(f"/proc/{pid}/ns/net").st_ino != before[0], "the probe ran in ws01's namespace"
    probe = office_range.probe()
    for _ in range(20):
        assert probe.tcp("ws01", "web01", 80, 2)
        assert not probe.tcp("ws01", "web01", 81, 2)
        assert probe.http("ws01", "http://web01/", "GET", 5, 4096).status == 200
    with pytest.raises(ZeroDivisionError):  # a failing probe: handed over, and the thread still goes back
        netns.run_in_network_namespace(pid, container_id, lambda opened: 1 // 0, 5)
    assert namespaces() == before
    assert threading.active_count() == threads, "every probe thread has ended"


def test_a_server_dripping_bytes_cannot_hold_a_probe(office_range: Range) -> None:
    office_range.sh("web01", """cat > /tmp/drip.py <<'EOF'
import socket, time
server = socket.create_server(("", 8099))
while True:
    client, _ = server.accept()
    try:
        client.sendall(b"HTTP/1.1 200 OK\\r\\n")
        while True:
            client.sendall(b"X-Drip: 1\\r\\n")
            time.sleep(0.3)
    except OSError:
        client.close()
EOF
python3 /tmp/drip.py >/dev/null 2>&1 &
for n in $(seq 50); do ss -ltnH | grep -q ':8099 ' && break; sleep 0.1; done""")
    threads = threading.active_count()
    try:
        started = time.monotonic()
        with pytest.raises(ProbeError, match="did not finish within 3 s"):
            office_range.probe().http("ws01", "http://web01:8099/", "GET", 1, 4096)
        assert time.monotonic() - started < 4.5
        time.sleep(0.5)
        assert threading.active_count() == threads, "the probe's thread ended once its socket was shut down"
    finally:
        office_range.sh("web01", "pkill -KILL -f '[d]rip.py'; true")


def test_without_setns_or_openat2_the_old_ways_answer_alike(office_range: Range, traps: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    fast = office_range.probe()
    expected = (fast.tcp("ws01", "web01", 80, 2), fast.tcp("ws01", "web01", 81, 2),
                fast.http("ws01", "http://web01/", "GET", 5, 1 << 16).body,
                fast.read_file("ws01", f"{traps}/plain", 100), fast.read_file("ws01", f"{traps}/fifo", 100))

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise hostread.HostReadUnavailable("not here")

    monkeypatch.setattr(netns, "_setns", unavailable)
    monkeypatch.setattr(hostread, "_openat2", unavailable)
    slow = office_range.probe()
    asked: list[str] = []
    for name in ("_nsenter",):
        monkeypatch.setattr(slow, name, _counting(asked, name, getattr(slow, name)))
    monkeypatch.setattr(slow.engine, "get_file", _counting(asked, "get_file", slow.engine.get_file))
    assert (slow.tcp("ws01", "web01", 80, 2), slow.tcp("ws01", "web01", 81, 2),
            slow.http("ws01", "http://web01/", "GET", 5, 1 << 16).body,
            slow.read_file("ws01", f"{traps}/plain", 100), slow.read_file("ws01", f"{traps}/fifo", 100)) == expected
    assert asked == ["_nsenter"] * 3 + ["get_file"] * 2


def _counting(asked: list[str], name: str, call: Callable[..., Any]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        asked.append(name)
        return call(*args, **kwargs)
    return counted


def test_a_host_restarted_mid_round_is_found_again(office_range: Range) -> None:
    probe = office_range.probe()
    assert probe.read_file("web01", "/etc/passwd", 1 << 16)
    old_pid, container_id = office_range.container("web01")
    office_range.engine.backend.stop(container_id, timeout=1)
    office_range.engine.backend.start(container_id)
    try:
        new_pid, _ = office_range.container("web01")
        assert new_pid != old_pid
        assert probe.read_file("web01", "/etc/passwd", 1 << 16)
        assert any(p.command.startswith("/sbin/docker-init") for p in probe.processes("web01"))
        assert probe.tcp("web01", "ws01", 22, 2)
        assert probe._host("web01").pid == new_pid, "found again on the Docker host, not read through Docker"
    finally:
        office_range.engine.reconcile(office_range.spec)
