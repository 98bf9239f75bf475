"""``mamori serve`` for real, on a free loopback port: slow clients, a dying engine, Ctrl-C, a quick restart.

Each test starts the console script in its own session (as a terminal runs a command in its own
process group) and talks HTTP to it; nothing is mocked.
"""
from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path
from typing import IO, Iterator

import pytest

from app.cli.serve import ensure_port_free
from tests.test_cli import MAMORI, Operator, free_port, stop

READ_SECONDS = 3  # MAMORI_REQUEST_READ_SECONDS for these tests


@pytest.fixture
def operator(tmp_path: Path) -> Operator:
    made = Operator(tmp_path)
    made.migrate()
    return made


class Served:
    def __init__(self, process: subprocess.Popen[bytes], log: IO[str], port: int) -> None:
        self.process, self.log, self.port = process, log, port
        self.base = f"http://127.0.0.1:{port}"

    def text(self) -> str:
        """The log without gunicorn's access lines."""
        self.log.flush()
        self.log.seek(0)
        return "".join(line for line in self.log if not re.search(r'" \d{3} \d+ "', line))[-3000:]

    def health(self, timeout: float = 3) -> int:
        with urllib.request.urlopen(f"{self.base}/healthz", timeout=timeout) as response:
            return response.status


@contextmanager
def served(operator: Operator, port: int, *args: str) -> Iterator[Served]:
    log = (operator.instance.parent / f"serve-{uuid.uuid4().hex[:6]}.log").open("w+", encoding="utf-8")
    process = subprocess.Popen(
        [str(MAMORI), "serve", "--port", str(port), *args],
        env={**operator.env, "MAMORI_REQUEST_READ_SECONDS": str(READ_SECONDS)},
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    server = Served(process, log, port)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"the server exited: {server.text()}"
            try:
                if server.health() == 200:
                    break
            except OSError:  # not listening yet, or a worker still booting
                pass
            assert time.monotonic() < deadline, f"/healthz never answered 200: {server.text()}"
            time.sleep(0.2)
        yield server
    finally:
        stop(process)
        log.close()


def descendants(pid: int) -> dict[int, str]:
    """Every process below *pid*: pid → command line."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, todo = {}, [pid]
    while todo:
        parent = todo.pop()
        for child, its_parent in parents.items():
            if its_parent == parent:
                try:
                    found[child] = (Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode())
                except OSError:
                    continue
                todo.append(child)
    return found


def engine_pid(server: Served) -> int | None:
    return next((pid for pid, cmd in descendants(server.process.pid).items() if " engine run" in cmd), None)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# Item 7: slow clients ------------------------------------------------------------------------------


def test_half_open_requests_do_not_stall_the_server(operator: Operator) -> None:
    """80 connections that send half a request line (and 40 that send a head and half a body, and 40
    kept-alive ones that start a second request) never take the threads: /healthz answers at once."""
    with served(operator, free_port(), "--no-engine", "--workers", "1", "--threads", "8") as server, \
            ExitStack() as sockets:
        def connect() -> socket.socket:
            return sockets.enter_context(socket.create_connection(("127.0.0.1", server.port), timeout=10))

        slow = []
        for _ in range(80):
            slow.append(connect())
            slow[-1].sendall(b"GET /healthz HT")
        for _ in range(40):
            slow.append(connect())
            slow[-1].sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                             b"Content-Type: application/x-www-form-urlencoded\r\n\r\nlogin=")
        for _ in range(40):
            kept = sockets.enter_context(closing(http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)))
            kept.request("GET", "/healthz")
            assert kept.getresponse().read() == b'{"status":"ok"}\n'
            kept.sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")  # type: ignore[union-attr]
            slow.append(kept.sock)
        time.sleep(0.5)

        for _ in range(5):
            started = time.monotonic()
            assert server.health(timeout=3) == 200
            assert time.monotonic() - started < 2, "the server answered, but slowly"
            time.sleep(0.2)

        # Past the read timeout the server has closed every one of them.
        time.sleep(READ_SECONDS + 2)
        still_open = 0
        for sock in slow:
            sock.settimeout(0.5)
            try:
                still_open += sock.recv(1) != b""
            except TimeoutError:
                still_open += 1
            except OSError:  # reset: closed too
                pass
        assert still_open == 0, f"{still_open} slow connection(s) still open after the read timeout"


def test_a_big_upload_and_a_chunked_body_still_reach_the_app(operator: Operator) -> None:
    """Bodies beyond what the event loop reads ahead go to the app as before (here: the login form's 400)."""
    with served(operator, free_port(), "--no-engine", "--workers", "1") as server:
        for body, headers in ((b"login=x&password=" + b"y" * 200_000, {"Content-Type": "application/x-www-form-urlencoded"}),
                              (iter([b"login=x&", b"password=y"]), {"Content-Type": "application/x-www-form-urlencoded",
                                                                   "Transfer-Encoding": "chunked"})):
            request = urllib.request.Request(f"{server.base}/login", data=body, headers=headers, method="POST")
            try:
                urllib.request.urlopen(request, timeout=10)
            except urllib.error.HTTPError as answer:
                assert answer.code == 400  # no CSRF token: refused by the app itself, after reading the body
            else:
                pytest.fail("a login without a CSRF token was accepted")


# Item 8: the engine, Ctrl-C, a quick restart -------------------------------------------------------


def test_a_killed_engine_is_restarted_and_the_web_stays_up(operator: Operator) -> None:
    with served(operator, free_port()) as server:
        deadline = time.monotonic() + 20
        while (first := engine_pid(server)) is None:
            assert time.monotonic() < deadline, f"no engine process: {server.text()}"
            time.sleep(0.2)
        os.kill(first, signal.SIGKILL)

        deadline = time.monotonic() + 20
        while (second := engine_pid(server)) in (None, first):
            assert server.health(timeout=3) == 200  # the web answers all along
            assert server.process.poll() is None, server.text()
            assert time.monotonic() < deadline, f"the engine was not restarted: {server.text()}"
            time.sleep(0.2)
        assert server.health() == 200
        text = server.text()
        assert re.search(r"engine died \(killed by SIGKILL\) after \d+ s; restarting in 1 s", text), text
        assert f"engine restarted (pid {second})" in text, text


@pytest.mark.docker
def test_ctrl_c_stops_web_and_engine_and_leaves_docker_and_ranges_up(operator: Operator) -> None:
    label = f"mamori.test=serve-{uuid.uuid4().hex[:8]}"
    container = subprocess.run(
        ["docker", "run", "-d", "--rm", "--label", label, "--network", "none", "mamori/base:latest",
         "sleep", "600"], capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    try:
        with served(operator, free_port()) as server:
            deadline = time.monotonic() + 30
            while not re.search(r"engine \S+ running", server.text()):
                assert time.monotonic() < deadline, server.text()
                time.sleep(0.2)
            children = descendants(server.process.pid)
            assert any("gunicorn" in cmd for cmd in children.values()), children

            os.killpg(server.process.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends
            assert server.process.wait(timeout=40) == 0, server.text()

            text = server.text()
            assert "engine stopped" in text and "mamori serve: stopped" in text, text
            assert "died" not in text and "ended" not in text, text  # a stop, not a crash
            assert [pid for pid in children if alive(pid)] == [], "a child outlived mamori serve"
            with pytest.raises(OSError):
                server.health(timeout=2)
        assert subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
        running = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", container],
                                 capture_output=True, text=True, timeout=30)
        assert running.stdout.strip() == "true", running.stderr
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, timeout=60)


def time_wait_sockets(port: int) -> int:
    """Sockets in TIME-WAIT whose local port is *port* (/proc/net/tcp: state 06)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        count += state == "06" and int(local.rsplit(":", 1)[1], 16) == port
    return count


def test_serve_starts_again_at_once_on_a_port_left_in_time_wait(operator: Operator) -> None:
    port = free_port()
    with served(operator, port, "--no-engine", "--workers", "1") as server:
        browsers = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(5)]
        for browser in browsers:
            browser.request("GET", "/healthz")
            assert browser.getresponse().read()
        # As with a browser's idle connections: the server ends them (keep-alive timeout) and the
        # browser follows, so the server's side of each goes to TIME-WAIT on the port.
        for browser in browsers:
            assert browser.sock.recv(1) == b""  # type: ignore[union-attr]
            browser.close()
    assert time_wait_sockets(port) > 0, "the test needs TIME-WAIT sockets on the port"

    with served(operator, port, "--no-engine", "--workers", "1") as again:
        assert again.health() == 200


def test_the_port_probe_takes_a_port_whose_only_sockets_are_in_time_wait() -> None:
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn's listener
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server side closes first: its end goes to TIME-WAIT
        client.close()
    time.sleep(0.1)
    assert time_wait_sockets(port) > 0

    ensure_port_free("127.0.0.1", port)  # no ConfigurationError


def test_a_websocket_idle_longer_than_the_read_timeout_stays_open() -> None:
    """The read timeout is for request heads: an upgraded socket (a browser terminal) keeps none."""
    from simple_websocket import Client

    port = free_port()
    root = Path(__file__).resolve().parent.parent
    web = subprocess.Popen(
        [str(MAMORI.parent / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
         "--worker-class", "app.serving.worker.PrereadWorker", "--pythonpath", str(root),
         "tests.websocket_echo:app"],
        env={**os.environ, "MAMORI_REQUEST_READ_SECONDS": "1"}, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn never listened"
                time.sleep(0.2)
        client = Client.connect(f"ws://127.0.0.1:{port}/")
        client.send("a")
        assert client.receive(timeout=5) == "echo:a"
        time.sleep(3)  # three read timeouts
        client.send("b")
        assert client.receive(timeout=5) == "echo:b"
        client.close()
    finally:
        stop(web)
