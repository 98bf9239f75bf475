"""Browser terminals at the WebSocket level, on a real range: who may open one, the Origin, the cap,
the idle timeout, the asciicast recording, instructors watching read-only, a host reset, a dead server's rows.

One range (the minimal scenario's ws01 behind its gateway) is provisioned for the module;
each test points a fresh exercise's team at it and talks to the app served on loopback.
"""
from __future__ import annotations

import json
import os
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from flask import Flask
from simple_websocket import Client, ConnectionClosed
from simple_websocket import ConnectionError as HandshakeRefused
from sqlalchemy import select

from app.models import RangeHost, RangeState, Role, Team, TerminalSession
from app.scenario import load_scenario_file
from app.services import exercises, ranges, terminal_recordings, terminals
from range import labels
from range.docker_backend import DockerBackend, DockerFailure
from range.engine import DockerRangeEngine
from range.images import build_image
from range.spec import RangeSpec
from tests.conftest import SESSION_TAG
from tests.factories import MINIMAL, PASSWORD, add_member, make_scenario, make_user
from tests.liveserver import served
from tests.test_range.conftest import docker_backend, no_leftover_ranges  # noqa: F401

pytestmark = pytest.mark.docker
GATEWAY_USER, GATEWAY_PASSWORD = "team01", "terminal-gw-pass"
AGENT = "mamori-terminal-test"


@dataclass(frozen=True)
class TerminalRange:
    engine: DockerRangeEngine
    spec: RangeSpec
    port: int


@pytest.fixture(scope="module")
def terminal_range(docker_backend: DockerBackend) -> Iterator[TerminalRange]:  # noqa: F811
    """The minimal scenario's range for one team, provisioned once and removed by label."""
    for name in ("base", "workstation", "attacker"):
        build_image(docker_backend, name, log=lambda line: None)
    engine = DockerRangeEngine(docker_backend)
    spec = ranges.compile_model(load_scenario_file(MINIMAL).scenario, {},
                                exercise=f"{SESSION_TAG}term{uuid.uuid4().hex[:4]}", team="1",
                                gateway_user=GATEWAY_USER, gateway_password=GATEWAY_PASSWORD)
    try:
        for attempt in range(3):
            try:
                port = engine.provision(spec).gateway_port
                break
            except DockerFailure:
                # Another session on this Docker Engine may take the same free /24 between our look and our create.
                engine.teardown(spec.exercise)
                if attempt == 2:
                    raise
        assert port is not None
        yield TerminalRange(engine, spec, port)
    finally:
        engine.teardown(spec.exercise)


@dataclass
class World:
    base: str
    team_a: int
    team_b: int
    instance: Path
    opened: list["Terminal"] = field(default_factory=list)


def point_team_at(db, team, terminal_range: TerminalRange) -> None:  # type: ignore[no-untyped-def]
    """The team's range row as provisioning would leave it, for the module's range."""
    row = ranges.team_range(db, team)
    row.state, row.gateway_port = RangeState.READY, terminal_range.port
    row.gateway_user, row.gateway_password = GATEWAY_USER, GATEWAY_PASSWORD
    row.hosts = [RangeHost(name="ws01", state="running", addresses={})]


@pytest.fixture
def world(app: Flask, db, terminal_range: TerminalRange) -> Iterator[World]:  # type: ignore[no-untyped-def]
    sensei = make_user(db, role=Role.INSTRUCTOR, login="sensei")
    exercise = exercises.create_exercise(db, make_scenario(db, slug=f"term{uuid.uuid4().hex[:6]}"),
                                         exercises.ExerciseDraft(name="端末演習", team_count=2),
                                         actor=sensei)  # the instructor who made it runs it (watches, replays)
    team_a, team_b = exercise.teams
    point_team_at(db, team_a, terminal_range)
    for login, team in (("kenshu-a", team_a), ("kenshu-b", team_b)):
        add_member(db, team, make_user(db, role=Role.TRAINEE, login=login))
    db.commit()
    with served(app) as url:
        world = World(url, team_a.id, team_b.id, app.config["MAMORI_SETTINGS"].instance_path)
        yield world
        for terminal in world.opened:  # a failed test's terminals: closed before the tables are emptied
            terminal.close()
        deadline = time.monotonic() + 10
        while any(r.ended_at is None for r in rows(db, world)) and time.monotonic() < deadline:
            time.sleep(0.1)


def session_cookie(base: str, login: str) -> str:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", AGENT)]  # the login is bound to the browser (strong session protection)
    form = urllib.parse.urlencode({"login": login, "password": PASSWORD}).encode()
    opener.open(f"{base}/login", data=form).close()
    return "; ".join(f"{c.name}={c.value}" for c in jar)


class Terminal:
    """A WebSocket client as the terminal page is: it reads output and the server's status messages."""

    def __init__(self, ws: Client) -> None:
        self.ws = ws
        self.output = ""
        self.messages: list[dict[str, Any]] = []

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            assert left > 0, f"waited {timeout:g} s for {what}; output so far: {self.output[-500:]!r}"
            try:
                message = self.ws.receive(min(left, 0.5))
            except ConnectionClosed:
                assert condition(), f"the socket closed before {what}; output: {self.output[-500:]!r}"
                return
            if isinstance(message, bytes):
                self.output += message.decode("utf-8", "replace")
            elif message is not None:
                self.messages.append(json.loads(message))

    def message(self, kind: str, timeout: float = 20) -> dict[str, Any]:
        self.wait(lambda: any(m["type"] == kind for m in self.messages), f"a {kind!r} message", timeout)
        return next(m for m in self.messages if m["type"] == kind)

    def type(self, text: str) -> None:
        self.ws.send(json.dumps({"type": "input", "data": text}))

    def close(self) -> None:
        try:
            self.ws.close()
        except ConnectionClosed:
            pass


class BrowserLikeClient(Client):
    """simple_websocket's client names the host without its port; browsers send both."""

    def handshake(self) -> None:
        self.host = f"{self.host}:{self.port}"
        try:
            super().handshake()
        except HandshakeRefused:
            self.sock.close()
            raise


def connect(world: World, login: str, path: str, origin: str | None = "") -> Client:
    headers = {"Cookie": session_cookie(world.base, login), "User-Agent": AGENT}
    if origin is not None:
        headers["Origin"] = origin or world.base
    return BrowserLikeClient("ws" + world.base.removeprefix("http") + path, headers=headers)


def open_terminal(world: World, login: str = "kenshu-a", host: str = "ws01", query: str = "") -> Terminal:
    terminal = Terminal(connect(world, login, f"/teams/{world.team_a}/terminal/{host}/socket{query}"))
    world.opened.append(terminal)
    return terminal


def rows(db, world: World) -> list[TerminalSession]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return list(db.scalars(select(TerminalSession).where(TerminalSession.team_id == world.team_a)
                           .order_by(TerminalSession.id)))


def wait_for_row(db, world: World, condition: Callable[[list[TerminalSession]], bool],  # type: ignore[no-untyped-def]
                 what: str) -> list[TerminalSession]:
    deadline = time.monotonic() + 15
    while not condition(found := rows(db, world)):
        assert time.monotonic() < deadline, f"waited for {what}: {[(r.id, r.end_reason) for r in found]}"
        time.sleep(0.1)
    return found


def read_cast(world: World, row: TerminalSession) -> tuple[dict[str, Any], list[list[Any]]]:
    lines = (world.instance / row.recording).read_text(encoding="utf-8").splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


def test_a_member_types_a_command_sees_its_output_and_it_is_recorded(world: World, db,  # type: ignore[no-untyped-def]
                                                                    app: Flask) -> None:
    terminal = open_terminal(world, query="?cols=100&rows=30")
    opened = terminal.message("open")
    assert (opened["host"], opened["account"]) == ("ws01", "staff")
    terminal.type("echo 日本語テスト; whoami; stty size\r")
    # staff is the scenario's administrator: a uid-0 account under its own name.
    terminal.wait(lambda: "日本語テスト\r\nroot\r\n30 100" in terminal.output, "the command's output")
    terminal.ws.send(json.dumps({"type": "resize", "cols": 120, "rows": 40}))
    terminal.type("stty size\r")
    terminal.wait(lambda: "40 120" in terminal.output, "the new terminal size")
    terminal.close()

    [row] = wait_for_row(db, world, lambda found: bool(found) and found[0].ended_at is not None, "the end")
    assert (row.host, row.account, row.end_reason) == ("ws01", "staff", "closed")
    assert row.recording == f"recordings/{row.exercise_id}/{world.team_a}/{row.id}.cast"
    header, events = read_cast(world, row)
    assert (header["version"], header["width"], header["height"]) == (2, 100, 30)
    assert header["timestamp"] > 0 and header["env"]["TERM"] == "xterm-256color"
    assert "".join(e[2] for e in events if e[1] == "i") == "echo 日本語テスト; whoami; stty size\rstty size\r"
    assert "日本語テスト" in "".join(e[2] for e in events if e[1] == "o")
    assert [e[2] for e in events if e[1] == "r"] == ["120x40"]
    times = [e[0] for e in events]
    assert times == sorted(times) and times[-1] > 0
    assert row.recorded_bytes == (world.instance / row.recording).stat().st_size > 0
    assert oct((world.instance / row.recording).stat().st_mode & 0o777) == "0o600"

    staff = app.test_client()
    staff.post("/login", data={"login": "sensei", "password": PASSWORD})
    listing = staff.get(f"/teams/{world.team_a}/terminal/sessions").get_data(as_text=True)
    assert "staff@ws01" in listing and "kenshu-a" in listing and "ブラウザで閉じました" in listing
    replay = staff.get(f"/teams/{world.team_a}/terminal/sessions/{row.id}/replay").get_data(as_text=True)
    assert "echo 日本語テスト; whoami" in replay
    cast = staff.get(f"/teams/{world.team_a}/terminal/sessions/{row.id}/recording.cast")
    assert cast.status_code == 200 and cast.data == (world.instance / row.recording).read_bytes()


def test_only_members_open_terminals_and_only_on_their_own_hosts(world: World, db) -> None:  # type: ignore[no-untyped-def]
    for login, host, status in (("kenshu-b", "ws01", 403),  # another team's trainee
                                ("sensei", "ws01", 403),  # staff watch, they do not type in a team's name
                                ("kenshu-a", "attacker", 404),  # a hidden host of their own range
                                ("kenshu-a", "nosuchhost", 404)):
        with pytest.raises(HandshakeRefused) as refused:
            open_terminal(world, login, host)
        assert refused.value.status_code == status, (login, host)
    with pytest.raises(HandshakeRefused) as refused:
        Terminal(connect(world, "kenshu-b", f"/teams/{world.team_b}/terminal/ws01/socket"))
    assert refused.value.status_code == 404, "team B's range is not built"
    assert rows(db, world) == []


def test_the_handshake_must_come_from_this_site(world: World, db) -> None:  # type: ignore[no-untyped-def]
    path = f"/teams/{world.team_a}/terminal/ws01/socket"
    for origin in ("http://evil.example", "http://127.0.0.1:1", None):
        with pytest.raises(HandshakeRefused) as refused:
            connect(world, "kenshu-a", path, origin=origin)
        assert refused.value.status_code == 403, origin
    assert rows(db, world) == []


def test_a_team_has_at_most_its_cap_of_terminals(world: World, db, app: Flask) -> None:  # type: ignore[no-untyped-def]
    app.config["MAMORI_TERMINAL_MAX_PER_TEAM"] = 2
    first, second = open_terminal(world), open_terminal(world)
    first.message("open"), second.message("open")
    third = open_terminal(world)
    refused = third.message("end")
    assert refused["reason"] == "limit" and "2" in refused["message"] and "ターミナル" in refused["message"]
    first.close()
    wait_for_row(db, world, lambda found: found[0].ended_at is not None, "the first terminal's end")
    fourth = open_terminal(world)
    fourth.message("open")
    fourth.type("echo fourth-$((40+2))\r")
    fourth.wait(lambda: "fourth-42" in fourth.output, "the fourth terminal's output")
    fourth.type("exit\r")
    ended = fourth.message("end")
    assert (ended["reason"], ended["message"], ended["reconnect"]) == ("exited", "シェルが終了しました。", True)
    second.close()


def test_an_idle_terminal_is_closed_and_says_why(world: World, db, app: Flask) -> None:  # type: ignore[no-untyped-def]
    app.config["MAMORI_TERMINAL_IDLE_SECONDS"] = 2
    terminal = open_terminal(world)
    terminal.message("open")
    terminal.type("echo still-here\r")
    terminal.wait(lambda: "still-here\r\n" in terminal.output, "the echo")
    ended = terminal.message("end", timeout=10)
    assert ended["reason"] == "idle" and ended["message"] == "2 秒間操作がなかったため切断しました。"
    assert ended["reconnect"] is True
    [row] = wait_for_row(db, world, lambda found: found[0].ended_at is not None, "the end")
    assert row.end_reason == "idle"


def test_an_instructor_watches_live_and_cannot_type(world: World, db) -> None:  # type: ignore[no-untyped-def]
    terminal = open_terminal(world)
    session_id = terminal.message("open")["session"]
    terminal.type("echo before-$((1+1))\r")
    terminal.wait(lambda: "before-2" in terminal.output, "the first echo")

    path = f"/teams/{world.team_a}/terminal/sessions/{session_id}/watch/socket"
    with pytest.raises(HandshakeRefused) as refused:
        connect(world, "kenshu-a", path)
    assert refused.value.status_code == 403, "trainees do not watch terminals"
    watcher = Terminal(connect(world, "sensei", path))
    shown: list[str] = []

    def seen(marker: str) -> bool:
        shown.extend(m["data"] for m in watcher.messages[len(shown):] if m["type"] == "o")
        return marker in "".join(shown)

    assert watcher.message("header")["cols"] == 80
    watcher.wait(lambda: seen("before-2"), "what happened before the instructor came")
    terminal.type("echo after-$((2+2))\r")
    watcher.wait(lambda: seen("after-4"), "the trainee's next command, live")
    watcher.type("echo intruder\r")  # read-only: ignored
    terminal.type("echo last-$((3+3))\r")
    terminal.wait(lambda: "last-6" in terminal.output, "the last echo")
    watcher.wait(lambda: seen("last-6"), "the last command, live")
    terminal.close()
    assert watcher.message("end")["message"] == "セッションは終了しました。"
    [row] = rows(db, world)
    assert "intruder" not in (world.instance / row.recording).read_text(encoding="utf-8")
    assert "intruder" not in terminal.output


def test_a_host_reset_is_reported_and_the_terminal_reconnects(world: World, db,  # type: ignore[no-untyped-def]
                                                                terminal_range: TerminalRange) -> None:
    terminal = open_terminal(world)
    terminal.message("open")
    terminal_range.engine.reset_host(terminal_range.spec, "ws01")
    ended = terminal.message("end", timeout=60)
    assert ended["reason"] == "lost" and ended["reconnect"] is True
    assert ended["message"].startswith("ws01 との接続が切れました")
    again = open_terminal(world)
    again.message("open", timeout=60)
    again.type("echo back-$((5*5))\r")
    again.wait(lambda: "back-25" in again.output, "a shell on the new host")
    again.close()
    assert [r.end_reason for r in wait_for_row(db, world, lambda f: f[-1].ended_at is not None, "the end")] == \
        ["lost", "closed"]


def test_a_terminal_left_open_by_a_stopped_server_no_longer_counts(world: World, db,  # type: ignore[no-untyped-def]
                                                                  app: Flask) -> None:
    app.config["MAMORI_TERMINAL_MAX_PER_TEAM"] = 1
    # What a killed server leaves behind: the row still open, its recording no longer touched.
    team = db.get(Team, world.team_a)
    left = TerminalSession(exercise_id=team.exercise_id, team_id=team.id, host="ws01", account="staff",
                           recording=f"recordings/{team.exercise_id}/{team.id}/left.cast")
    db.add(left)
    db.commit()
    terminal_recordings.Recorder(world.instance / left.recording, 80, 24, "left").close()
    stale = time.time() - terminals.STALE_SECONDS - 5
    os.utime(world.instance / left.recording, (stale, stale))

    terminal = open_terminal(world)
    terminal.message("open")
    terminal.close()
    found = wait_for_row(db, world, lambda f: len(f) == 2 and f[1].ended_at is not None, "the new terminal's end")
    assert [r.end_reason for r in found] == ["interrupted", "closed"]


# --- sessions that end, a cap that holds (issue 14, item 4) ----------------------------------------------------

def ssh_sessions(docker_backend: DockerBackend, terminal_range: TerminalRange) -> dict[str, int]:  # noqa: F811
    """The logged-in SSH sessions on ws01 (as staff) and on the gateway (as the team), from the hosts' process tables."""
    found = {}
    for host, user in (("ws01", "staff"), (labels.GATEWAY_HOST, GATEWAY_USER)):
        [container] = docker_backend.containers(labels.filters(terminal_range.spec.exercise, host=host), inspect=False)
        top = docker_backend.api.top(container.id, ps_args="-eo pid,args")  # Docker needs the pid column
        found[host] = sum(1 for _pid, args in top["Processes"] if args.startswith(f"sshd: {user}"))
    return found


def handshake(world: World, cookie: str) -> Terminal:
    """A terminal on ws01 with an existing login (many at once: one login each would be the slow part)."""
    path = f"/teams/{world.team_a}/terminal/ws01/socket"
    terminal = Terminal(BrowserLikeClient("ws" + world.base.removeprefix("http") + path, headers={
        "Cookie": cookie, "User-Agent": AGENT, "Origin": world.base}))
    world.opened.append(terminal)
    return terminal


def test_parallel_handshakes_never_open_more_than_the_cap(world: World, db, app: Flask) -> None:  # type: ignore[no-untyped-def]
    assert app.config["MAMORI_TERMINAL_MAX_PER_TEAM"] == 4
    cookie = session_cookie(world.base, "kenshu-a")
    start = threading.Barrier(12)
    outcomes: list[str] = []

    def one() -> None:
        start.wait()
        terminal = handshake(world, cookie)
        terminal.wait(lambda: any(m["type"] in ("open", "end") for m in terminal.messages), "open or refused", 60)
        outcomes.append(next(m["type"] if m["type"] == "open" else m["reason"] for m in terminal.messages
                             if m["type"] in ("open", "end")))

    threads = [threading.Thread(target=one) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert sorted(outcomes) == ["limit"] * 8 + ["open"] * 4
    assert len([r for r in rows(db, world) if r.ended_at is None]) == 4
    for terminal in world.opened:
        terminal.close()
    found = wait_for_row(db, world, lambda f: all(r.ended_at is not None for r in f), "every terminal's end")
    assert [r.end_reason for r in found] == ["closed"] * 4


def test_closing_right_after_the_handshake_leaves_nothing_open(world: World, db,  # type: ignore[no-untyped-def]
                                                               docker_backend: DockerBackend,  # noqa: F811
                                                               terminal_range: TerminalRange) -> None:
    before = ssh_sessions(docker_backend, terminal_range)
    cookie = session_cookie(world.base, "kenshu-a")
    for _ in range(3):
        handshake(world, cookie).close()  # the 101 came: the server is now opening a shell for nobody
    found = wait_for_row(db, world, lambda f: len(f) == 3 and all(r.ended_at is not None for r in f),
                         "the rows of the abandoned terminals to end")
    assert [r.end_reason for r in found] == ["closed"] * 3
    deadline = time.monotonic() + 10
    while (now := ssh_sessions(docker_backend, terminal_range)) != before and time.monotonic() < deadline:
        time.sleep(0.25)
    assert now == before, "the SSH sessions (host and gateway) of the abandoned terminals are closed"
    later = open_terminal(world)  # and the cap was not used up by them
    later.message("open")
    later.close()


# --- a recording has a size limit (issue 14, item 3) ----------------------------------------------------------

def test_a_recording_stops_at_its_limit_and_the_terminal_goes_on(world: World, db, app: Flask) -> None:  # type: ignore[no-untyped-def]
    limit = 256 * 1024
    app.config["MAMORI_TERMINAL_RECORDING_MAX_BYTES"] = limit
    terminal = open_terminal(world)
    terminal.message("open")
    terminal.type("head -c 2000000 /dev/zero | tr '\\0' x; echo; echo flood-$((6*7))\r")  # 2 MB printed
    terminal.wait(lambda: "flood-42" in terminal.output[-200:], "the end of the flood", 120)
    assert terminal.output.count("x") >= 2_000_000, "the browser got everything the shell printed"
    terminal.type("echo after-$((7*7))\r")
    terminal.wait(lambda: "after-49" in terminal.output, "the terminal going on after the recording stopped")
    terminal.close()

    [row] = wait_for_row(db, world, lambda found: found[0].ended_at is not None, "the end")
    size = (world.instance / row.recording).stat().st_size
    assert row.end_reason == "closed" and row.recorded_bytes == size <= limit
    header, events = read_cast(world, row)
    assert header["version"] == 2 and events[-1][1] == "o"
    assert "記録はここで終わります" in events[-1][2] and "0.25 MB" in events[-1][2]
    assert "after-49" not in "".join(e[2] for e in events)
    assert row.recording_truncated
    staff = app.test_client()
    staff.post("/login", data={"login": "sensei", "password": PASSWORD})
    listing = staff.get(f"/teams/{world.team_a}/terminal/sessions").get_data(as_text=True)
    assert "上限に達したため記録を停止" in listing
