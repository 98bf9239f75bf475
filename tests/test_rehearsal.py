"""``mamori rehearse``: every bundled scenario holds its promises on real ranges; broken copies fail loudly.

The rehearsal makes its own SQLite database and range labels, so these tests
run once (in the SQLite pass). The bundled rehearsals are what CI spends its
time on: each runs every day of the scenario with three scripted teams.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.models import InjectRun, RequestRun, RequestStatus, RunStatus
from app.scenario import load_scenario_file
from app.scenario.model import After, Expectations, MessageStep, Text
from app.services import rehearsal
from app.services.ranges import compile_model
from range import labels, ssh
from range.docker_backend import DockerBackend
from range.engine import DockerRangeEngine
from range.probes import RangeProbe
from range.results import ExecResult

from tests.conftest import SESSION_TAG
from tests.test_range.conftest import docker_backend  # noqa: F401  (the fixture)

# Rehearsals are slow and use their own SQLite database: the SQLite pass runs them.
sqlite_pass = pytest.mark.skipif(bool(os.environ.get("MAMORI_TEST_DATABASE_URL")),
                                 reason="the rehearsal has its own SQLite database")
ROOT = Path(__file__).resolve().parent.parent
MAMORI = Path(sys.executable).parent / "mamori"
SPEED = "600"  # as fast as the work allows
MINIMAL = ROOT / "tests" / "scenarios" / "valid" / "minimal.yaml"
ORGANISATION = ROOT / "tests" / "scenarios" / "organisation.yaml"
NEVER_PASSES = """  - id: never-passes
    title: {ja: 決して成功しないチェック, en: A check that never passes}
    type: process
    params: {host: ws01, pattern: "no-such-process-anywhere", expect: present}
    scoring: {mode: objective, points: 10}
"""


def mamori(tmp_path: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MAMORI), *args], env=environment(tmp_path), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAMORI_") and k != "DATABASE_URL"}
    # The operator's database is one the rehearsal must never need: this one does not exist.
    env.update(MAMORI_INSTANCE_PATH=str(tmp_path / "instance"), MAMORI_SCENARIOS_DIR=str(ROOT / "scenarios"),
               DATABASE_URL=f"sqlite:///{tmp_path / 'absent' / 'mamori.sqlite3'}", TZ="Asia/Tokyo")
    return env


def rehearsal_labels(backend: DockerBackend) -> set[str]:
    """Exercise labels of rehearsal ranges on the engine (other rehearsals may be running too)."""
    found = {c.labels.get(labels.EXERCISE, "") for c in backend.containers(labels.filters())}
    found |= {n.labels.get(labels.EXERCISE, "") for n in backend.networks(labels.filters())}
    return {label for label in found if label.startswith("rh")}


def minimal_copy(tmp_path: Path, *, length: str = "00:35", extra_check: str = "") -> Path:
    """The minimal test scenario on a short day (its response is done by 00:30), maybe with one more check."""
    text = MINIMAL.read_text(encoding="utf-8").replace('  - length: "02:00"', f'  - length: "{length}"', 1)
    text = text.replace("tasks:\n", extra_check + "tasks:\n", 1)
    path = tmp_path / "minimal.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# The verdict, on plain data ---------------------------------------------------------------------

def team(defender: str, score: int, maximum: int = 1000) -> rehearsal.TeamResult:
    return rehearsal.TeamResult(1, f"Team {defender}", defender, score, maximum, 0, 0, 0, 0)


def check(check_id: str, mode: str = "objective", active_from: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(id=check_id, active_from=active_from, scoring=SimpleNamespace(mode=mode))


def test_defenders_are_assigned_in_turn() -> None:
    assert rehearsal.defenders(1) == ["perfect"]
    assert rehearsal.defenders(5) == ["perfect", "passive", "late", "perfect", "passive"]


def test_the_maximum_is_every_objective_task_and_rubric_point() -> None:
    model = load_scenario_file(MINIMAL).scenario
    assert rehearsal.maximum(model, {"beacon-stopped": 99}) == 100 + 50 + 20


def test_the_maximum_counts_every_request_with_points() -> None:
    model = load_scenario_file(ORGANISATION).scenario  # the vendor's isolate gives 10; nothing else has points
    assert rehearsal.maximum(model, {}) == 100 + 50 + (20 + 10) + 10


def test_the_perfect_teams_requests_with_actions_must_have_run() -> None:
    model = load_scenario_file(ORGANISATION).scenario
    step = MessageStep(do="message", at=After(after="police-call"), to="vendor", request="isolate",
                       params={"host": "ws01"}, text=Text(ja="ws01 を隔離してください", en="Please isolate ws01"))
    asked = model.model_copy(update={"model_response": [*model.model_response, step]})

    def run(request: str, status: RequestStatus, result: str = "") -> RequestRun:
        return RequestRun(character_id="vendor", request_id=request, status=status, result=result,
                          params={"host": "ws01"})

    done = [run("isolate", RequestStatus.FULFILLED, "isolate: ws01 isolated")]
    assert rehearsal.judge_requests(asked, done, perfect=True) == ([], [])
    refused = [run("isolate", RequestStatus.REFUSED, "refused: the condition does not hold"),
               run("logs", RequestStatus.FAILED, "attach syslog.txt: /var/log/syslog on ws01 does not exist")]
    problems, notes = rehearsal.judge_requests(asked, refused, perfect=True)
    assert problems == [
        "依頼 vendor/isolate（host=ws01）が断られました: refused: the condition does not hold",
        "依頼 vendor/logs（host=ws01）が失敗しました: attach syslog.txt: /var/log/syslog on ws01 does not exist"]
    assert notes == []
    assert rehearsal.judge_requests(asked, [], perfect=True)[0] == [
        "依頼 vendor/isolate の対応（actions）が実行されませんでした（依頼の記録なし）"]
    waiting = [run("isolate", RequestStatus.SCHEDULED)]
    assert rehearsal.judge_requests(asked, waiting, perfect=True)[0] == [
        "依頼 vendor/isolate の対応（actions）が実行されませんでした（scheduled: ）"]
    assert rehearsal.judge_requests(asked, refused, perfect=False) == ([], problems)  # the late team: notes
    assert rehearsal.judge_requests(model, [], perfect=True) == ([], [])  # not asked by the model response


def test_scores_must_match_the_expectations() -> None:
    expect = Expectations(perfect_at_least=0.8, passive_at_most=0)
    assert rehearsal.judge_scores(expect, [team("perfect", 800), team("passive", 0), team("late", 500)]) == []
    problems = rehearsal.judge_scores(expect, [team("perfect", 799), team("passive", 5), team("late", 799)])
    assert len(problems) == 3
    assert "expectations.perfect_at_least" in problems[0] and "800 点" in problems[0]
    assert "expectations.passive_at_most" in problems[1]
    assert "Team late" in problems[2]
    assert rehearsal.judge_scores(expect, [team("perfect", 900)]) == []  # --teams 1


def test_every_check_must_be_seen_failing_and_passing() -> None:
    checks = [check("fine"), check("never-up"), check("never-down"), check("guard", mode="availability"),
              check("after-prevented-attack", mode="penalty", active_from="exfil"), check("never-run", active_from="x")]
    seen = {"fine": {"up", "down"}, "never-up": {"down", "error"}, "never-down": {"up"}, "guard": {"up"},
            "after-prevented-attack": {"down"}}
    problems, notes = rehearsal.judge_checks(checks, seen, defended={"fine", "never-up", "never-down", "guard"})
    assert problems == ["チェック never-up は一度も成功（up）しませんでした",
                        "チェック never-down は一度も失敗（down）しませんでした（攻撃の前後を見分けていません）",
                        "チェック never-run は一度も実行されませんでした（active_from: x がどのチームでも起きていません）"]
    assert [n for n in notes if "after-prevented-attack" in n and "active_from: exfil" in n]
    assert [n for n in notes if "never-up" in n and "error" in n]


def test_every_inject_must_fire_somewhere_and_never_fail() -> None:
    injects = load_scenario_file(MINIMAL).scenario.injects  # beacon, then police-call after it

    def runs(**states: RunStatus) -> dict[str, InjectRun]:
        return {k.replace("_", "-"): InjectRun(inject_id=k, status=v, result="exit 1") for k, v in states.items()}

    done = runs(beacon=RunStatus.DONE, police_call=RunStatus.DONE)
    assert rehearsal.judge_injects(injects, {"A": done, "B": done}, passive={"B"}) == []
    failed = runs(beacon=RunStatus.FAILED, police_call=RunStatus.SKIPPED)
    assert rehearsal.judge_injects(injects, {"A": failed}, passive=set()) == [
        "インジェクト beacon はどのチームでも実行されませんでした（failed）",
        "インジェクト beacon が A で失敗しました: exit 1",
        "インジェクト police-call はどのチームでも実行されませんでした（skipped）"]
    missed = runs(beacon=RunStatus.DONE, police_call=RunStatus.MISSED)
    assert rehearsal.judge_injects(injects, {"A": done, "B": missed}, passive={"B"}) == [
        "インジェクト police-call が B（無対応）で実行されませんでした（missed）"]


# Real rehearsals ---------------------------------------------------------------------------------

@pytest.mark.docker
@sqlite_pass
@pytest.mark.parametrize("scenario_id", ["targeted-mail", "web-deface", "ransomware", "usb-worm", "vendor-vpn"])
def test_a_bundled_scenario_rehearses_cleanly(tmp_path: Path, docker_backend: DockerBackend,
                                              scenario_id: str) -> None:
    done = mamori(tmp_path, "rehearse", scenario_id, "--json", "--speed", SPEED, "--teams", "3", timeout=2400)
    assert done.stdout.strip(), done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["problems"] == [], "\n".join(result["problems"])
    assert (result["ok"], done.returncode) == (True, 0)
    scores = {team["defender"]: team["score"] for team in result["teams"]}
    assert scores["passive"] < scores["late"] < scores["perfect"]
    for team in result["teams"]:
        assert 0 < team["injects_fired"] <= team["injects_total"]
        assert sum(line["points"] for line in team["breakdown"]) == team["score"]
    teams = {team["defender"]: team for team in result["teams"]}
    asked = [s for s in load_scenario_file(ROOT / "scenarios" / f"{scenario_id}.yaml").scenario.model_response
             if s.do == "message"]
    assert teams["perfect"]["messages_sent"] == len(asked)
    assert teams["perfect"]["requests_fulfilled"] == len([s for s in asked if s.request])
    assert {line["source"] for line in teams["perfect"]["breakdown"]} >= {"check", "task", "report", "request"}
    assert teams["perfect"]["reports_late"] == 0 < teams["late"]["reports_late"]
    assert (teams["passive"]["messages_sent"], teams["passive"]["requests_fulfilled"]) == (0, 0)
    assert teams["passive"]["reports_late"] == len(load_scenario_file(
        ROOT / "scenarios" / f"{scenario_id}.yaml").scenario.reports)
    assert isinstance(result["notes"], list) and result["seconds"] > 0
    # Other rehearsals may run meanwhile (pytest-xdist): only this one's label must be gone.
    assert result["range_label"].startswith("rh")
    assert result["range_label"] not in rehearsal_labels(docker_backend), "the rehearsal left ranges behind"


@pytest.mark.docker
@sqlite_pass
def test_a_command_runs_over_ssh_through_the_gateway(docker_backend: DockerBackend) -> None:
    engine = DockerRangeEngine(docker_backend)
    spec = compile_model(load_scenario_file(MINIMAL).scenario, {}, exercise=f"{SESSION_TAG}ssh{uuid.uuid4().hex[:4]}",
                         team="1", gateway_user="team01", gateway_password="gateway-pass-1")
    try:
        port = engine.provision(spec).gateway_port
        assert port is not None
        target = RangeProbe(engine, spec).address(labels.GATEWAY_HOST, "ws01")

        def run(command: str, password: str = "Minato2024!", timeout: float = 30,
                max_output: int = ssh.MAX_COMMAND_OUTPUT) -> ExecResult:
            return ssh.run_command("127.0.0.1", port, "team01", "gateway-pass-1", target, "staff", password,
                                   command, timeout, max_output)

        done = run("hostname; echo oops >&2; exit 3")
        assert (done.exit_code, done.text.split(), done.timed_out) == (3, ["ws01", "oops"], False)
        big = run("head -c 200000 /dev/zero", max_output=1000)
        assert (big.exit_code, len(big.output), big.truncated) == (0, 1000, True)
        slow = run("sleep 20", timeout=2)
        assert (slow.exit_code, slow.timed_out) == (None, True)
        with pytest.raises(ssh.SshUnavailable, match="refused the password of 'staff'"):
            run("true", password="wrong-password")
    finally:
        engine.teardown(spec.exercise)


@pytest.mark.docker
@sqlite_pass
def test_a_check_that_can_never_pass_is_named(tmp_path: Path, docker_backend: DockerBackend) -> None:
    source = minimal_copy(tmp_path, extra_check=NEVER_PASSES)
    instance = f"{SESSION_TAG}rh{uuid.uuid4().hex[:4]}"  # the session's clean-up finds it if all else fails
    result = rehearsal.rehearse(source, DockerRangeEngine(docker_backend), teams=1, speed=600, instance_id=instance)
    assert not result.ok
    assert [p for p in result.problems if "never-passes" in p] == ["チェック never-passes は一度も成功（up）しませんでした"]
    assert [p for p in result.problems if "never-passes" not in p] == []
    assert [t.defender for t in result.teams] == ["perfect"]
    assert result.teams[0].steps_done == result.teams[0].steps_total == 3
    assert docker_backend.containers(labels.filters(f"{instance}-1")) == []
    assert docker_backend.networks(labels.filters(f"{instance}-1")) == []


@pytest.mark.docker
@sqlite_pass
def test_an_inject_on_a_missing_host_fails_with_the_validators_message(tmp_path: Path) -> None:
    broken = tmp_path / "targeted-mail.yaml"
    text = (ROOT / "scenarios" / "targeted-mail.yaml").read_text(encoding="utf-8")
    recon = 'params: {host: vps01, command: "/usr/local/bin/c2-task /etc/c2/queue/recon.txt'
    assert text.count(recon) == 1
    broken.write_text(text.replace(recon, recon.replace("vps01", "vps99")), encoding="utf-8")
    (tmp_path / "targeted-mail").symlink_to(ROOT / "scenarios" / "targeted-mail")
    line = text[:text.index(recon)].count("\n") + 1

    done = mamori(tmp_path, "rehearse", str(broken), "--json", timeout=120)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout) == {
        "scenario": "targeted-mail", "title": "", "expectations": None, "ok": False, "teams": [], "notes": [],
        "seconds": 0.0, "range_label": "", "problems": [f"{broken}:{line}: injects[2].actions[0].params.host: unknown host 'vps99'"]}

    readable = mamori(tmp_path, "rehearse", str(broken), timeout=120)
    assert readable.returncode == 1
    assert "injects[2].actions[0].params.host: unknown host 'vps99'" in readable.stdout
    assert "リハーサル結果: 不合格" in readable.stdout


def test_an_unknown_scenario_is_one_line(tmp_path: Path) -> None:
    done = mamori(tmp_path, "rehearse", "no-such-scenario", timeout=60)
    assert done.returncode == 1
    assert "no-such-scenario: no such scenario file, nor a scenario" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.docker
@sqlite_pass
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_rehearsal_removes_its_ranges(tmp_path: Path, docker_backend: DockerBackend,
                                                     signum: int) -> None:
    source = minimal_copy(tmp_path, length="02:00")
    process = subprocess.Popen([str(MAMORI), "rehearse", str(source), "--teams", "1", "--speed", "2"],
                               env=environment(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True)
    try:
        assert process.stderr is not None
        seen = []
        for line in process.stderr:  # the clock runs once the range is up
            seen.append(line)
            if line.startswith("1 日目"):
                break
        mine = re.search(r"ラベル (rh\S+?)）", "".join(seen))
        assert mine is not None, "".join(seen)
        assert mine.group(1) in rehearsal_labels(docker_backend), "".join(seen)
        process.send_signal(signum)
        _, rest = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, rest
    assert "リハーサルを中断しました" in rest
    assert mine.group(1) not in rehearsal_labels(docker_backend)  # other rehearsals may still run
