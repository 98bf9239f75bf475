"""Every inject action type against a real range: its real effect, bounded, failures as results.

One small range is provisioned for the module and every case restores what
it changed; a second, throw-away range has its host stopped and removed.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest

from range import actions, labels
from range.actions import ACTION_TYPES, MAX_OUTPUT, ActionResult, ActionType, register, run_action
from range.actions_target import RangeActionTarget
from range.docker_backend import DockerBackend
from range.engine import DockerRangeEngine
from range.images import build_image, image_tag
from range.results import ProcessInfo
from range.spec import Account, HostSpec, RangeSpec
from tests.test_range.conftest import new_exercise_id
from tests.test_range.ranges import small_range

pytestmark = pytest.mark.docker

SYSUPD = "#!/bin/sh\n# システム更新ツール\necho updated as $(id -un)\n".encode()
BUNDLE = {"tools/sysupd.sh": SYSUPD}
BEACON = "while true; do curl -s http://update.minato-cdn.example:8080/beacon; sleep 1; done"
BEACON_LOG = "/var/log/c2/beacons.log"
ACCESS_LOG = "/var/log/apache2/access.log"
TOKEN = uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class Team:
    """One team's range, the actions run in it and what the tests read back through the engine."""

    engine: DockerRangeEngine
    spec: RangeSpec

    def act(self, kind: str, within: float = 30, **params: Any) -> ActionResult:
        """Run one action of *kind* as the runtime would, giving it *within* seconds."""
        target = RangeActionTarget(self.engine, self.spec, BUNDLE)
        return run_action(kind, ACTION_TYPES[kind].Params(**params), target, within)

    def sh(self, host: str, script: str) -> str:
        result = self.engine.exec(self.spec.exercise, self.spec.team, host, ["sh", "-c", script], timeout=20)
        assert result.ok, f"{host}: {script}: {result.text}"
        return result.text

    def read(self, host: str, path: str) -> bytes:
        return self.engine.get_file(self.spec.exercise, self.spec.team, host, path) or b""

    def owner_and_mode(self, host: str, path: str) -> str:
        return self.sh(host, f"stat -c '%U:%G %a' {path}").strip()

    def processes(self, host: str, start: str) -> list[ProcessInfo]:
        return [p for p in self.engine.processes(self.spec.exercise, self.spec.team, host)
                if p.command.startswith(start)]

    def address(self, host: str) -> str:
        state = next(h for h in self.engine.status(self.spec).hosts if h.name == host)
        return next(iter(state.addresses.values()))


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:g} s for {what}"
        time.sleep(0.2)


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


def ran_as_tanaka(team: Team, result: ActionResult) -> None:
    assert team.read("ws01", "/var/tmp/ran-as") == b"tanaka\n"
    assert team.owner_and_mode("ws01", "/var/tmp/ran-as").startswith("tanaka:")
    assert "exit 0" in result.summary and "実行済み".encode() in result.output


def wrote_the_note(team: Team, result: ActionResult) -> None:
    assert team.read("ws01", "/home/tanaka/Desktop/お知らせ.txt") == "パスワードを更新してください\n".encode()
    assert team.owner_and_mode("ws01", "/home/tanaka/Desktop/お知らせ.txt") == "tanaka:tanaka 600"


def copied_the_tool(team: Team, result: ActionResult) -> None:
    assert team.read("ws01", "/home/tanaka/.local/bin/sysupd") == SYSUPD
    assert team.owner_and_mode("ws01", "/home/tanaka/.local/bin/sysupd") == "tanaka:tanaka 4750"
    assert "updated as tanaka" in team.sh("ws01", "su tanaka -c /home/tanaka/.local/bin/sysupd")


def beacons_to_the_c2(team: Team, result: ActionResult) -> None:
    [beacon] = team.processes("ws01", "sh -c while true; do curl")
    assert beacon.user == "tanaka" and f"host pid {beacon.pid}" in result.summary
    seen_from = f" {team.address('ws01')} GET /beacon "
    wait_for(lambda: seen_from in team.read("attacker", BEACON_LOG).decode(), "a beacon line in the C2 log")


def probed_the_site(team: Team, result: ActionResult) -> None:
    log = team.read("web01", ACCESS_LOG).decode()
    hits = [line for line in log.splitlines() if f"probe={TOKEN}" in line]
    assert len(hits) == 5 and all('" 200 ' in line for line in hits), hits
    assert "5 of 5 requests: 5× 200" in result.summary


def reaches(team: Team, source: str, url: str) -> bool:
    """Whether *source* gets an HTTP answer from *url* within 3 s."""
    done = team.engine.exec(team.spec.exercise, team.spec.team, source,
                            ["curl", "-s", "-o", "/dev/null", "--max-time", "3", url], timeout=10)
    return done.ok


def connects(team: Team, source: str, host: str, port: int) -> bool:
    """Whether a TCP connection from *source* to *host*:*port* opens within 3 s."""
    done = team.engine.exec(team.spec.exercise, team.spec.team, source,
                            ["timeout", "3", "bash", "-c", f"echo > /dev/tcp/{host}/{port}"], timeout=10)
    return done.ok


def cut_off(team: Team, result: ActionResult) -> None:
    assert "ws01 isolated" in result.summary
    assert not reaches(team, "ws01", "http://web01/"), "ws01 still reaches the DMZ"
    assert not connects(team, "fw01", "ws01", 22), "the firewall still reaches ws01"
    assert connects(team, labels.GATEWAY_HOST, "ws01", 22), "the team's own way in (its SSH gateway) must stay open"


def back_on_the_network(team: Team, result: ActionResult) -> None:
    assert reaches(team, "ws01", "http://web01/")
    assert connects(team, "fw01", "ws01", 22)


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    params: dict[str, Any]
    effect: Callable[[Team, ActionResult], None]
    undo: str = ""  # a shell script on `host` that restores the range
    host: str = "ws01"


CASES = [
    Case("run", "run", {"host": "ws01", "user": "tanaka", "command": "id -un > /var/tmp/ran-as && echo 実行済み"},
         ran_as_tanaka, "rm -f /var/tmp/ran-as"),
    Case("write_file", "write_file", {"host": "ws01", "path": "/home/tanaka/Desktop/お知らせ.txt",
                                      "content": "パスワードを更新してください\n", "owner": "tanaka", "mode": "0600"},
         wrote_the_note, "rm -rf /home/tanaka/Desktop"),
    Case("copy_file", "copy_file", {"host": "ws01", "source": "tools/sysupd.sh",
                                    "path": "/home/tanaka/.local/bin/sysupd", "owner": "tanaka", "mode": "4750"},
         copied_the_tool, "rm -rf /home/tanaka/.local/bin"),
    Case("background-beacon", "background", {"host": "ws01", "user": "tanaka", "command": BEACON},
         beacons_to_the_c2, "pkill -KILL -u tanaka -f '^sh -c while true; do curl'; true"),
    Case("request", "request", {"from": "attacker", "url": f"http://www.city.minato.example/?probe={TOKEN}",
                                "count": 5, "interval": 0.2},
         probed_the_site, host="attacker"),
    Case("isolate", "isolate", {"host": "ws01"}, cut_off),
    Case("reconnect", "reconnect", {"host": "ws01"}, back_on_the_network),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_every_action_type_really_acts_in_the_range(team: Team, case: Case) -> None:
    try:
        result = team.act(case.kind, **case.params)
        assert result.ok, result
        assert result.summary and 0 < result.seconds < 15
        case.effect(team, result)
    finally:
        if case.undo:
            team.sh(case.host, case.undo)


def test_every_registered_action_type_runs_and_has_a_case() -> None:
    assert {case.kind for case in CASES} == set(ACTION_TYPES)
    for kind in ACTION_TYPES.values():
        assert "run" in vars(kind), f"{kind.name} has no run()"
    with pytest.raises(TypeError, match="defines no run"):
        register("no-run-yet")(type("NoRunAction", (ActionType,), {"summary": "…"}))
    assert "no-run-yet" not in ACTION_TYPES


def test_a_failing_command_reports_its_exit_status(team: Team) -> None:
    result = team.act("run", host="ws01", user="tanaka", command="echo ディスクがいっぱいです >&2; exit 3")
    assert not result.ok and "exit 3 on ws01 as tanaka" in result.summary, result
    assert "ディスクがいっぱいです".encode() in result.output


@pytest.mark.parametrize(("own", "caller"), [(2, 30), (60, 2)], ids=["own-timeout", "caller-timeout"])
def test_a_hanging_command_is_killed_at_its_timeout(team: Team, own: float, caller: float) -> None:
    command = f"sleep {600 + own}"
    result = team.act("run", within=caller, host="ws01", user="tanaka", command=command, timeout=own)
    assert not result.ok and "timed out after 2 s on ws01" in result.summary, result
    assert 2 <= result.seconds < 4
    assert team.processes("ws01", command) == [], "the hung command is killed"


def test_a_flood_is_bounded(team: Team) -> None:
    try:
        result = team.act("run", host="ws01", command="yes 攻撃者", timeout=10)
        assert not result.ok and "printed more than 64 KiB" in result.summary, result
        assert len(result.output) == MAX_OUTPUT and result.seconds < 5
        wait_for(lambda: team.processes("ws01", "yes") == [], "the flood killed")
    finally:
        team.sh("ws01", "pkill -KILL -x yes; true")


@pytest.mark.parametrize("command", ["echo starting; exit 1", "no-such-beacon --daemon"])
def test_a_background_command_that_dies_at_once_fails(team: Team, command: str) -> None:
    result = team.act("background", host="ws01", user="tanaka", command=command)
    assert not result.ok and "exited within 1 s on ws01 (as tanaka)" in result.summary, result


def test_a_background_command_of_an_unknown_user_fails(team: Team) -> None:
    result = team.act("background", host="ws01", user="nobody-here", command="sleep 300")
    assert not result.ok, result
    assert team.processes("ws01", "sleep 300") == []


def test_copying_an_unknown_bundled_file_fails(team: Team) -> None:
    result = team.act("copy_file", host="ws01", source="tools/missing.sh", path="/var/tmp/missing.sh")
    assert not result.ok and "no file 'tools/missing.sh' is bundled" in result.summary, result
    assert team.read("ws01", "/var/tmp/missing.sh") == b""


def test_writing_for_an_unknown_owner_fails(team: Team) -> None:
    try:
        result = team.act("write_file", host="ws01", path="/var/tmp/orphan.txt", content="x", owner="nobody-here")
        assert not result.ok and "chown nobody-here: /var/tmp/orphan.txt on ws01 failed" in result.summary, result
    finally:
        team.sh("ws01", "rm -f /var/tmp/orphan.txt")


def test_requests_nobody_answers_count_as_failures(team: Team) -> None:
    result = team.act("request", **{"from": "attacker", "url": "http://www.city.minato.example:81/", "count": 3})
    assert not result.ok and "3 of 3 requests: 3× curl exit 7" in result.summary, result


def test_requests_are_bounded_by_the_timeout(team: Team) -> None:
    result = team.act("request", within=2, **{"from": "attacker", "url": f"http://web01/?slow={TOKEN}",
                                                "count": 100, "interval": 0.5})
    assert not result.ok and "timed out after 2 s" in result.summary, result
    assert " of 100 requests: " in result.summary and result.seconds < 4


def test_writing_over_a_directory_is_refused(team: Team) -> None:
    result = team.act("write_file", host="ws01", path="/home/tanaka", content="x")
    assert not result.ok and "/home/tanaka on ws01 is a directory" in result.summary, result
    assert "住民データ.csv" in team.sh("ws01", "ls /home/tanaka")


def lonely_range(exercise: str) -> RangeSpec:
    """One workstation behind the team's gateway: the range whose host goes down and away."""
    return RangeSpec(exercise=exercise, team="b", segments=("office",), access_segments=("office",),
                     hosts=(HostSpec(name="ws01", image=image_tag("workstation"), segments=("office",),
                                     accounts=(Account("tanaka", "tanaka-pass-1"),)),),
                     gateway_image=image_tag("base"), gateway_user="team", gateway_password="gateway-pass-1")


def test_actions_on_a_host_that_is_down_or_removed_fail_with_the_reason(team: Team) -> None:
    lonely = Team(team.engine, lonely_range(new_exercise_id()))
    backend = team.engine.backend
    on_ws01 = [{**case.params, **({"from": "ws01"} if "from" in case.params else {"host": "ws01"})} for case in CASES]
    try:
        team.engine.provision(lonely.spec)
        container = team.engine.container_id(lonely.spec.exercise, "b", "ws01")
        backend.stop(container, timeout=1)
        for case, params in zip(CASES, on_ws01):
            down = lonely.act(case.kind, **params)
            assert not down.ok and "is not running" in down.summary, (case.id, down)
        backend.remove_container(container)
        for case, params in zip(CASES, on_ws01):
            gone = lonely.act(case.kind, **params)
            assert not gone.ok and "team b has no host 'ws01'" in gone.summary, (case.id, gone)
            assert gone.seconds < 2
    finally:
        team.engine.teardown(lonely.spec.exercise)


class ExplodingTarget:
    """A target whose every method fails the way no engine should."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"the engine exploded ({name})")


class HangingTarget:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: time.sleep(3)


def test_run_action_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    for case in CASES:
        result = run_action(case.kind, ACTION_TYPES[case.kind].Params(**case.params), ExplodingTarget(), 5)
        assert not result.ok and "RuntimeError: the engine exploded" in result.summary, (case.id, result)
    assert run_action("launch_missiles", None, ExplodingTarget(), 5).summary == "unknown action type 'launch_missiles'"
    monkeypatch.setattr(actions, "GRACE_SECONDS", 0.2)
    hung = run_action("write_file", ACTION_TYPES["write_file"].Params(host="ws01", path="/x", content=""),
                      HangingTarget(), 0.3)
    assert not hung.ok and "did not finish within 0.5 s" in hung.summary and hung.seconds < 1, hung
    assert len(ActionResult(False, "x" * 1000, b"y" * (MAX_OUTPUT + 1)).summary) == 300
