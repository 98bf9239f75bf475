"""Every bundled scenario becomes a working range: all hosts up, services answering, logins working."""
from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from app.scenario import load_scenario_file, variables
from app.services.ranges import compile_model
from range.docker_backend import DockerBackend
from range.engine import DockerRangeEngine
from range.images import build_image
from tests.test_range.conftest import new_exercise_id

pytestmark = pytest.mark.docker
SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_bundled_scenario_provisions_and_trainees_can_log_in(path: Path, docker_backend: DockerBackend) -> None:
    loaded = load_scenario_file(path)
    for name in {h.image for h in loaded.scenario.network.hosts} | {"base"}:
        build_image(docker_backend, name, log=lambda line: None)
    engine = DockerRangeEngine(docker_backend)
    exercise = new_exercise_id()
    # A scenario with variables is built as a team would get it: with the values the validator checked.
    values = variables.sample(list(loaded.scenario.variables))
    spec = compile_model(loaded.scenario, variables.fill_templates(loaded.bundle(), loaded.scenario, values),
                         exercise=exercise, team="1",
                         gateway_user="team01", gateway_password="gateway-pass-1")
    try:
        state = engine.provision(spec)
        assert state.complete, state
        login_host = next(h for h in loaded.scenario.network.hosts if h.trainee_login)
        account = login_host.accounts[0]
        gateway = paramiko.SSHClient()
        gateway.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        gateway.connect("127.0.0.1", port=state.gateway_port, username="team01", password="gateway-pass-1",
                        timeout=10, allow_agent=False, look_for_keys=False)
        try:
            channel = gateway.get_transport().open_channel("direct-tcpip", (login_host.id, 22), ("127.0.0.1", 0))
            host = paramiko.SSHClient()
            host.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            host.connect(login_host.id, sock=channel, username=account.user, password=account.password,
                         timeout=10, allow_agent=False, look_for_keys=False)
            _, out, _ = host.exec_command("hostname; date +%Z")
            assert out.read().decode().split() == [login_host.id, "JST"]
            host.close()
        finally:
            gateway.close()
        auth_log = engine.exec(exercise, "1", login_host.id, ["sh", "-c", "sleep 1; cat /var/log/auth.log"])
        assert f"Accepted password for {account.user}" in auth_log.text, "sshd logs to syslog"
    finally:
        engine.teardown(exercise)
