"""The range engine against the real Docker Engine: two teams, probed from inside their containers."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from typing import Iterator

import paramiko
import pytest

from range import labels
from range.docker_backend import DockerBackend
from range.engine import DockerRangeEngine, HostNotFound
from range.images import build_image
from tests.test_range.conftest import new_exercise_id
from tests.test_range.ranges import small_range

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def engine(docker_backend: DockerBackend) -> DockerRangeEngine:
    for name in ("base", "router", "workstation", "webserver", "attacker"):
        build_image(docker_backend, name, log=lambda line: None)
    return DockerRangeEngine(docker_backend)


@pytest.fixture(scope="module")
def two_teams(engine: DockerRangeEngine) -> Iterator[tuple[str, dict]]:
    exercise = new_exercise_id()
    specs = {team: small_range(exercise, team) for team in ("a", "b")}
    results: dict[str, object] = {}

    def build(team: str) -> None:
        results[team] = engine.provision(specs[team])

    threads = [threading.Thread(target=build, args=(team,)) for team in specs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    yield exercise, specs
    engine.teardown(exercise)


def sh(engine: DockerRangeEngine, exercise: str, team: str, host: str, script: str, timeout: float = 20) -> str:
    result = engine.exec(exercise, team, host, ["sh", "-c", script], timeout=timeout)
    assert not result.timed_out, f"{host}: {script} timed out"
    return result.text


def connects(engine: DockerRangeEngine, exercise: str, team: str, host: str, address: str, port: int) -> bool:
    probe = f"nc -z -w 3 {address} {port} && echo OPEN || echo CLOSED"
    return sh(engine, exercise, team, host, probe).strip().endswith("OPEN")


def test_both_teams_are_ready_with_every_host_running(engine: DockerRangeEngine, two_teams) -> None:  # type: ignore[no-untyped-def]
    exercise, specs = two_teams
    for team, spec in specs.items():
        state = engine.status(spec)
        assert state.complete, state
        assert {h.name for h in state.hosts} == {"fw01", "ws01", "web01", "attacker", labels.GATEWAY_HOST}
        assert state.gateway_port and state.networks == 4


def test_accounts_files_and_startup_are_in_place(engine: DockerRangeEngine, two_teams) -> None:  # type: ignore[no-untyped-def]
    exercise, _ = two_teams
    out = sh(engine, exercise, "a", "ws01",
             "id -u staff; id -un tanaka; stat -c '%U %a' /home/tanaka/住民データ.csv /home/tanaka; "
             "cat /var/tmp/startup-ran")
    assert out.split() == ["0", "tanaka", "tanaka", "600", "tanaka", "755", "provisioned"]


def test_traffic_between_segments_goes_through_the_router(engine: DockerRangeEngine, two_teams) -> None:  # type: ignore[no-untyped-def]
    exercise, _ = two_teams
    page = sh(engine, exercise, "a", "ws01", "curl -s -m 5 http://www.city.minato.example/")
    assert "みなと" in page or "公式" in page
    route = sh(engine, exercise, "a", "ws01", "ip route show default")
    fw01 = engine.status(small_range(exercise, "a")).hosts[0].addresses["office"]
    assert f"via {fw01}" in route
    beacon = sh(engine, exercise, "a", "ws01", "curl -s -m 5 http://update.minato-cdn.example:8080/beacon")
    assert beacon.strip()
    log = sh(engine, exercise, "a", "attacker", "tail -n 1 /var/log/c2/beacons.log")
    assert "GET /beacon" in log


def test_a_team_cannot_reach_another_team(engine: DockerRangeEngine, two_teams) -> None:  # type: ignore[no-untyped-def]
    exercise, specs = two_teams
    theirs = {h.name: h for h in engine.status(specs["b"]).hosts}
    ours = {h.name: h for h in engine.status(specs["a"]).hosts}
    # Positive control from the same place: our own web server answers.
    assert connects(engine, exercise, "a", "ws01", ours["web01"].addresses["dmz"], 80)
    assert not connects(engine, exercise, "a", "ws01", theirs["web01"].addresses["dmz"], 80)
    assert not connects(engine, exercise, "a", "ws01", theirs["ws01"].addresses["office"], 22)
    assert not connects(engine, exercise, "a", "fw01", theirs["fw01"].addresses["office"], 22)


def test_no_range_host_reaches_the_docker_host(engine: DockerRangeEngine, two_teams) -> None:  # type: ignore[no-untyped-def]
    exercise, specs = two_teams
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        ours = {h.name: h for h in engine.status(specs["a"]).hosts}
        for host, segment in (("ws01", "office"), ("fw01", "internet"), ("attacker", "internet")):
            bridge_side = ours[host].addresses[segment].rsplit(".", 1)[0] + ".1"
            assert connects(engine, exercise, "a", host, ours["fw01"].addresses[segment], 22), host
            assert not connects(engine, exercise, "a", host, bridge_side, port), f"{host} reached the host"
    finally:
        listener.close()


def test_no_range_host_has_a_way_out(engine: DockerRangeEngine, two_teams) -> None:  # type: ignore[no-untyped-def]
    exercise, _ = two_teams
    # Asked of the kernel, so no packet is sent anywhere: the router and the hosts without
    # a router have no route out; the others' default route leads to the router.
    fw01 = {h.name: h for h in engine.status(small_range(exercise, "a")).hosts}["fw01"]
    for host in ("fw01", labels.GATEWAY_HOST):
        out = sh(engine, exercise, "a", host, "ip route get 192.0.2.1 2>&1")
        assert "unreachable" in out, f"{host}: {out}"
    for host in ("ws01", "web01", "attacker"):
        route = sh(engine, exercise, "a", host, "ip route show default")
        assert route.startswith("default via ") and route.split()[2] in fw01.addresses.values(), route
    rules = subprocess.run(["iptables", "-S", "DOCKER-USER"], capture_output=True, text=True).stdout
    assert "mamori: ranges have no way out" in rules and "mamori: nothing enters a range" in rules
    assert "mamori: ranges never reach the host" in subprocess.run(
        ["iptables", "-S", "INPUT"], capture_output=True, text=True).stdout


def test_hardening_reads_back_from_docker_inspect(engine: DockerRangeEngine, two_teams, docker_backend) -> None:  # type: ignore[no-untyped-def]
    exercise, _ = two_teams
    for container in docker_backend.containers(labels.filters(exercise, "a")):
        config = docker_backend.api.inspect_container(container.id)["HostConfig"]
        name = container.labels[labels.HOST]
        assert config["Privileged"] is False, name
        assert config["CapDrop"] == ["ALL"], name
        assert ("NET_ADMIN" in (config["CapAdd"] or [])) == (name == "fw01"), name
        assert "no-new-privileges:true" in config["SecurityOpt"], name
        assert config["Memory"] > 0 and config["NanoCpus"] > 0 and config["PidsLimit"] > 0, name
        assert config["RestartPolicy"]["Name"] == "unless-stopped", name
        assert not config.get("Binds") and not docker_backend.api.inspect_container(container.id)["Mounts"], name


def test_trainees_reach_hosts_through_the_gateway(engine: DockerRangeEngine, two_teams) -> None:  # type: ignore[no-untyped-def]
    exercise, specs = two_teams
    state = engine.status(specs["a"])
    gateway = paramiko.SSHClient()
    gateway.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    gateway.connect("127.0.0.1", port=state.gateway_port, username="team", password="gateway-pass-1",
                    timeout=10, allow_agent=False, look_for_keys=False)
    try:
        channel = gateway.get_transport().open_channel("direct-tcpip", ("ws01", 22), ("127.0.0.1", 0))
        host = paramiko.SSHClient()
        host.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        host.connect("ws01", sock=channel, username="tanaka", password="tanaka-pass-1", timeout=10,
                     allow_agent=False, look_for_keys=False)
        _, out, _ = host.exec_command("hostname; whoami")
        assert out.read().decode().split() == ["ws01", "tanaka"]
        host.close()
    finally:
        gateway.close()


def test_exec_is_bounded_in_time_and_output(engine: DockerRangeEngine, two_teams) -> None:  # type: ignore[no-untyped-def]
    exercise, _ = two_teams
    slow = engine.exec(exercise, "a", "ws01", ["sh", "-c", "echo started; sleep 300"], timeout=1.5)
    assert slow.timed_out and slow.exit_code is None and b"started" in slow.output
    assert "sleep 300" not in " ".join(p.command for p in engine.processes(exercise, "a", "ws01"))
    flood = engine.exec(exercise, "a", "ws01", ["sh", "-c", "yes mamori"], timeout=10, max_output=4096)
    assert flood.truncated and len(flood.output) == 4096
    with pytest.raises(HostNotFound):
        engine.exec(exercise, "a", "ws99", ["true"])


def test_files_and_processes_are_read_as_the_engine_sees_them(engine: DockerRangeEngine, two_teams) -> None:  # type: ignore[no-untyped-def]
    exercise, _ = two_teams
    engine.put_file(exercise, "a", "ws01", "/tmp/mamori/engine.txt", "確認\n".encode())
    assert engine.get_file(exercise, "a", "ws01", "/tmp/mamori/engine.txt") == "確認\n".encode()
    assert engine.get_file(exercise, "a", "ws01", "/nope") is None
    engine.start_detached(exercise, "a", "ws01", ["sh", "-c", "exec sleep 4321"], user="tanaka")
    sh(engine, exercise, "a", "ws01", "printf '#!/bin/sh\\necho nothing\\n' > /bin/ps; chmod +x /bin/ps")
    time.sleep(0.5)
    seen = [p for p in engine.processes(exercise, "a", "ws01") if "sleep 4321" in p.command]
    assert seen and seen[0].user == "tanaka"


def test_reset_restores_one_host_and_touches_nothing_else(engine: DockerRangeEngine, two_teams) -> None:  # type: ignore[no-untyped-def]
    exercise, specs = two_teams
    for team in ("a", "b"):
        sh(engine, exercise, team, "ws01", "echo defaced > /var/tmp/mark; userdel -r tanaka")
    before_a = {h.name: h.container_id for h in engine.status(specs["a"]).hosts}
    before_b = {h.name: h.container_id for h in engine.status(specs["b"]).hosts}
    after = {h.name: h.container_id for h in engine.reset_host(specs["a"], "ws01").hosts}
    assert after["ws01"] != before_a["ws01"]
    assert {k: v for k, v in after.items() if k != "ws01"} == {k: v for k, v in before_a.items() if k != "ws01"}
    assert sh(engine, exercise, "a", "ws01", "cat /var/tmp/mark 2>/dev/null; id -un tanaka").split() == ["tanaka"]
    assert {h.name: h.container_id for h in engine.status(specs["b"]).hosts} == before_b
    assert sh(engine, exercise, "b", "ws01", "cat /var/tmp/mark").strip() == "defaced"


def test_pause_and_resume_keep_files_and_processes(engine: DockerRangeEngine, two_teams) -> None:  # type: ignore[no-untyped-def]
    exercise, specs = two_teams
    engine.start_detached(exercise, "b", "ws01", ["sh", "-c", "exec sleep 7777"])
    sh(engine, exercise, "b", "ws01", "echo overnight > /var/tmp/kept")
    time.sleep(0.3)
    pid = next(p.pid for p in engine.processes(exercise, "b", "ws01") if "sleep 7777" in p.command)
    assert engine.pause(exercise, "b") == 5
    assert {h.state for h in engine.status(specs["b"]).hosts} == {"paused"}
    assert {h.state for h in engine.status(specs["a"]).hosts} == {"running"}
    state = engine.resume(specs["b"])
    assert state.complete
    assert any(p.pid == pid for p in engine.processes(exercise, "b", "ws01") if "sleep 7777" in p.command)
    assert sh(engine, exercise, "b", "ws01", "cat /var/tmp/kept").strip() == "overnight"


def test_a_restarted_range_is_reconciled(engine: DockerRangeEngine, two_teams, docker_backend) -> None:  # type: ignore[no-untyped-def]
    exercise, specs = two_teams
    for container in docker_backend.containers(labels.filters(exercise, "b")):
        docker_backend.api.restart(container.id, timeout=2)
    fw01 = {h.name: h for h in engine.status(specs["b"]).hosts}["fw01"].addresses["office"]
    # Docker gives a restarted container its bridge (the Docker host) as default route again.
    assert f"via {fw01}" not in sh(engine, exercise, "b", "ws01", "ip route show default")
    state = engine.reconcile(specs["b"])
    assert state.complete
    assert f"via {fw01}" in sh(engine, exercise, "b", "ws01", "ip route show default")
    assert "unreachable" in sh(engine, exercise, "b", "fw01", "ip route get 192.0.2.1 2>&1")
    assert connects(engine, exercise, "b", "ws01", "web01", 80)


PROVISION_SCRIPT = """
import sys
from range.docker_backend import DockerBackend
from range.engine import DockerRangeEngine
from tests.test_range.ranges import small_range
DockerRangeEngine(DockerBackend()).provision(small_range(sys.argv[1], "c"), progress=lambda m: print(m, flush=True))
"""


def test_provisioning_resumes_after_the_control_plane_is_killed(engine: DockerRangeEngine, docker_backend) -> None:  # type: ignore[no-untyped-def]
    exercise = new_exercise_id()
    spec = small_range(exercise, "c")
    child = subprocess.Popen([sys.executable, "-c", PROVISION_SCRIPT, exercise], stdout=subprocess.PIPE, text=True)
    try:
        for line in child.stdout:  # type: ignore[union-attr]
            if line.startswith("create web01"):
                break
        child.kill()
        child.wait(timeout=10)
        partial = engine.status(spec)
        assert not partial.complete
        state = engine.provision(spec)
        assert state.complete
        assert len(docker_backend.containers(labels.filters(exercise))) == len(spec.hosts) + 1
        assert len(docker_backend.networks(labels.filters(exercise))) == len(spec.segments) + 1
    finally:
        child.kill()
        child.wait(timeout=10)
        child.stdout.close()  # type: ignore[union-attr]
        engine.teardown(exercise)


def test_teardown_leaves_nothing_and_can_be_repeated(engine: DockerRangeEngine, docker_backend) -> None:  # type: ignore[no-untyped-def]
    exercise = new_exercise_id()
    engine.provision(small_range(exercise, "d"))
    assert engine.teardown(exercise) == 5 + 4
    assert docker_backend.containers(labels.filters(exercise)) == []
    assert docker_backend.networks(labels.filters(exercise)) == []
    assert docker_backend.client.volumes.list(filters={"label": f"{labels.EXERCISE}={exercise}"}) == []
    assert engine.teardown(exercise) == 0


def test_faults_fail_the_team_with_a_reason_and_leave_nothing_unremovable(docker_backend) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from range.addressing import PoolExhausted
    from range.docker_backend import DockerFailure

    small = DockerRangeEngine(docker_backend, pool="10.250.0.0/22")  # room for one team's 4 segments
    exercise = new_exercise_id()
    try:
        small.provision(small_range(exercise, "a"))
        with pytest.raises(PoolExhausted, match="no 4 free"):
            small.provision(small_range(exercise, "b"))
        broken = small_range(exercise, "a")
        broken = replace(broken, hosts=tuple(
            replace(h, image="mamori/no-such-image:1") if h.name == "web01" else h for h in broken.hosts))
        small.teardown(exercise, "a")
        with pytest.raises(DockerFailure, match="no-such-image"):
            small.provision(broken)
    finally:
        assert small.teardown(exercise) >= 0
        assert docker_backend.containers(labels.filters(exercise)) == []
        assert docker_backend.networks(labels.filters(exercise)) == []


def test_gateway_ports_are_fixed_and_distinct(engine: DockerRangeEngine, two_teams, docker_backend) -> None:  # type: ignore[no-untyped-def]
    exercise, specs = two_teams
    ports = {team: engine.status(spec).gateway_port for team, spec in specs.items()}
    assert len(set(ports.values())) == 2
    assert all(engine.gateway_ports[0] <= port <= engine.gateway_ports[1] for port in ports.values())
    gateway = next(c for c in docker_backend.containers(labels.filters(exercise, "a", labels.GATEWAY_HOST)))
    docker_backend.api.restart(gateway.id, timeout=2)
    assert engine.status(specs["a"]).gateway_port == ports["a"], "a restart keeps the published port"


def test_a_builder_that_chose_a_port_another_gateway_holds_gives_way(  # type: ignore[no-untyped-def]
        engine: DockerRangeEngine, two_teams, docker_backend) -> None:
    # Two control planes on one Docker Engine choose a port at the same moment: the later one
    # sees the clash once its gateway exists, removes it and takes another port; the first keeps its own.
    exercise, specs = two_teams
    held = engine.status(specs["a"]).gateway_port
    racer = DockerRangeEngine(docker_backend)
    choices = iter([held])
    real_choice = racer._gateway_port
    racer._gateway_port = lambda refused=frozenset(): next(choices, None) or real_choice(refused)  # type: ignore[method-assign]
    spec = small_range(exercise, "c")
    try:
        state = racer.provision(spec)
        assert state.gateway_port and state.gateway_port != held
        assert engine.status(specs["a"]).gateway_port == held
        gateways = docker_backend.containers(labels.filters(exercise, "c", labels.GATEWAY_HOST))
        assert [g.status for g in gateways] == ["running"], "the clashing gateway was removed, the new one runs"
    finally:
        racer.teardown(exercise, "c")


def test_a_port_some_other_program_took_meanwhile_is_left_for_another(  # type: ignore[no-untyped-def]
        engine: DockerRangeEngine, two_teams, docker_backend) -> None:
    # The gateway range lies within Linux's ephemeral ports: between the look and the start, any program
    # (an outgoing connection, a test server) may bind the chosen port. The start fails; another port is used.
    exercise, _specs = two_teams
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    racer = DockerRangeEngine(docker_backend)
    choices = iter([taken])
    real_choice = racer._gateway_port
    racer._gateway_port = lambda refused=frozenset(): next(choices, None) or real_choice(refused)  # type: ignore[method-assign]
    try:
        state = racer.provision(small_range(exercise, "d"))
        assert state.gateway_port and state.gateway_port != taken
        gateways = docker_backend.containers(labels.filters(exercise, "d", labels.GATEWAY_HOST))
        assert [g.status for g in gateways] == ["running"]
    finally:
        squatter.close()
        racer.teardown(exercise, "d")


def test_a_root_trainee_who_adds_a_route_out_still_gets_nowhere(engine: DockerRangeEngine, two_teams) -> None:  # type: ignore[no-untyped-def]
    exercise, specs = two_teams
    engine.reconcile(specs["a"])
    ours = {h.name: h for h in engine.status(specs["a"]).hosts}
    theirs = {h.name: h for h in engine.status(specs["b"]).hosts}
    bridge = ours["fw01"].addresses["internet"].rsplit(".", 1)[0] + ".1"
    # fw01 has NET_ADMIN: a trainee with root there can point a default route at the bridge.
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", 0))
    listener.listen()
    sh(engine, exercise, "a", "fw01", f"ip route replace default via {bridge}")
    try:
        assert connects(engine, exercise, "a", "fw01", ours["web01"].addresses["dmz"], 80)  # control
        assert not connects(engine, exercise, "a", "fw01", theirs["web01"].addresses["dmz"], 80)
        assert not connects(engine, exercise, "a", "ws01", theirs["fw01"].addresses["office"], 22)
        assert not connects(engine, exercise, "a", "fw01", bridge, listener.getsockname()[1]), "the Docker host"
    finally:
        sh(engine, exercise, "a", "fw01", "ip route del default")
        listener.close()


def test_a_team_that_failed_in_a_start_up_command_can_be_retried(engine: DockerRangeEngine, docker_backend) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from range.provision import ProvisionError

    exercise = new_exercise_id()
    spec = small_range(exercise, "r")
    flaky = "test -e /var/tmp/second-try || { touch /var/tmp/second-try; echo not yet >&2; exit 1; }"
    spec = replace(spec, hosts=tuple(
        replace(h, startup=(*h.startup, flaky)) if h.name == "ws01" else h for h in spec.hosts))
    try:
        with pytest.raises(ProvisionError, match=r"(?s)ws01: start-up command 2 .* failed \(exit 13: .*not yet\)"):
            engine.provision(spec)
        state = engine.provision(spec)
        assert state.complete
        assert sh(engine, exercise, "r", "ws01", "id -un tanaka; test -e /etc/mamori/.passwords || echo gone").split() \
            == ["tanaka", "gone"]
    finally:
        engine.teardown(exercise)
