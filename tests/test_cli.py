"""The ``mamori`` console script as an operator runs it, in a subprocess.

Bad input must give one clear line and a non-zero exit, never a traceback.
Each test has its own instance folder, SQLite file and scenarios folder.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from app import create_app, migrate
from app.db import Database
from app.settings import Settings

MAMORI = Path(sys.executable).parent / "mamori"
MINIMAL_SCENARIO = (
    (Path(__file__).parent / "scenarios" / "valid" / "minimal.yaml")
    .read_text(encoding="utf-8")
    .replace("id: suspicious-beacon", "id: mini", 1)
    .replace("ja: 不審な通信の発見", "ja: 最小シナリオ", 1)
    .replace("en: Finding a suspicious beacon", "en: Minimal scenario", 1)
)
ADMIN_PASSWORD = "kanri-sha-password-1"


class Operator:
    """Runs ``mamori`` with a private environment, like a shell with exported variables."""

    def __init__(self, tmp_path: Path) -> None:
        self.database_url = f"sqlite:///{tmp_path / 'mamori.sqlite3'}"
        self.instance = tmp_path / "instance"
        self.scenarios = tmp_path / "scenarios"
        self.scenarios.mkdir()
        self.env = {
            k: v for k, v in os.environ.items()
            if not k.startswith("MAMORI_") and k not in {"DATABASE_URL", "DOCKER_HOST", "SECRET_KEY"}
        }
        self.env.update(
            MAMORI_INSTANCE_PATH=str(self.instance),
            MAMORI_SCENARIOS_DIR=str(self.scenarios),
            DATABASE_URL=self.database_url,
            TZ="Asia/Tokyo",
        )

    def run(self, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(MAMORI), *args], env={**self.env, **env}, capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL,
        )

    def migrate(self) -> None:
        database = Database(self.database_url)
        try:
            migrate.upgrade(database)
        finally:
            database.dispose()

    def register_scenario(self) -> None:
        (self.scenarios / "mini.yaml").write_text(MINIMAL_SCENARIO, encoding="utf-8")
        result = self.run("scenario", "register")
        assert result.returncode == 0, result.stderr

    def login_status(self, login: str, password: str) -> int:
        """Log in through the web app on this database; 302 means it worked."""
        settings = Settings.from_env(
            environ={"DATABASE_URL": self.database_url, "TZ": "Asia/Tokyo"},
            instance_path=self.instance, testing=True,
        )
        app = create_app(settings)
        app.config["WTF_CSRF_ENABLED"] = False
        try:
            return app.test_client().post("/login", data={"login": login, "password": password}).status_code
        finally:
            app.extensions["mamori.db"].dispose()


@pytest.fixture
def operator(tmp_path: Path) -> Operator:
    return Operator(tmp_path)


def assert_one_clear_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Non-zero exit, a short message on stderr containing *needles*, no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, result.stderr
    for needle in needles:
        assert needle in result.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Database ---------------------------------------------------------------------


def test_db_upgrade_brings_an_empty_database_to_the_newest_migration(operator: Operator) -> None:
    head = migrate.head_revision()
    before = operator.run("db", "current")
    assert before.returncode == 0, before.stderr
    assert "current: (empty)" in before.stdout

    upgrade = operator.run("db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert f"database at {head}" in upgrade.stdout

    current = operator.run("db", "current")
    assert current.returncode == 0, current.stderr
    assert f"current: {head}" in current.stdout
    assert f"newest:  {head}" in current.stdout


# A URL the engine cannot be made from fails the same way for every command;
# an unreachable server fails in each command's own first query.
@pytest.mark.parametrize(("url", "command"), [
    ("nosuchdb://x", ("db", "current")),
    ("not a url", ("db", "current")),
    # SQLAlchemy's default driver for postgresql:// is psycopg2, which is not installed.
    ("postgresql://u:p@127.0.0.1:1/x", ("db", "current")),
    ("postgresql+psycopg://u:p@127.0.0.1:1/x", ("db", "current")),
    ("postgresql+psycopg://u:p@127.0.0.1:1/x", ("db", "upgrade")),
    ("postgresql+psycopg://u:p@127.0.0.1:1/x", ("user", "list")),
])
def test_wrong_database_url_gives_one_clear_line(operator: Operator, url: str, command: tuple[str, ...]) -> None:
    result = operator.run(*command, DATABASE_URL=url)

    assert_one_clear_error(result)
    assert "DATABASE_URL" in result.stderr or "database" in result.stderr


@pytest.mark.parametrize("url", [
    "nosuchdb://mamori:s3cret-pw@db.example/x",
    "postgresql+psycopg://mamori:s3cret-pw@127.0.0.1:1/x",
])
def test_database_password_is_not_printed(operator: Operator, url: str) -> None:
    result = operator.run("db", "current", DATABASE_URL=url)

    assert result.returncode != 0
    assert "s3cret-pw" not in result.stderr + result.stdout


# serve ------------------------------------------------------------------------


def test_serve_refuses_a_database_that_is_not_migrated(operator: Operator) -> None:
    result = operator.run("serve", "--port", str(free_port()))

    assert_one_clear_error(result, "mamori db upgrade")


@pytest.mark.parametrize("command", [("user", "list"), ("exercise", "list")])
def test_commands_on_a_database_not_migrated_say_what_to_run(operator: Operator, command: tuple[str, ...]) -> None:
    result = operator.run(*command)

    assert_one_clear_error(result, "mamori db upgrade")


def test_serve_refuses_a_port_in_use(operator: Operator) -> None:
    operator.migrate()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]

        result = operator.run("serve", "--port", str(port))

    assert_one_clear_error(result, f"port {port}", "already in use")


def test_serve_answers_in_japanese(operator: Operator) -> None:
    setup = operator.run("setup", MAMORI_ADMIN_PASSWORD=ADMIN_PASSWORD)
    assert setup.returncode == 0, setup.stderr
    port = free_port()
    log = (operator.instance / "serve.log").open("w+", encoding="utf-8")
    server = subprocess.Popen(
        [str(MAMORI), "serve", "--port", str(port)], env=operator.env,
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            assert server.poll() is None, f"the server exited: {log_text(log)}"
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=5) as health:
                    if health.status == 200:
                        break
            except OSError:  # not listening yet, or a worker still starting (URLError, refused, timed out)
                pass
            assert time.monotonic() < deadline, f"/healthz never answered 200: {log_text(log)}"
            time.sleep(0.2)
        with urllib.request.urlopen(f"{base}/login", timeout=5) as page:
            assert page.status == 200
            assert "ログイン" in page.read().decode("utf-8")
    finally:
        stop(server)
        log.close()


def log_text(log) -> str:  # type: ignore[no-untyped-def]
    log.flush()
    log.seek(0)
    return log.read()[-2000:]


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)


# images -------------------------------------------------------------------------


def test_images_check_names_an_unreachable_docker_engine(operator: Operator) -> None:
    result = operator.run("images", "check", DOCKER_HOST="tcp://127.0.0.1:1")

    assert_one_clear_error(result, "Docker", "tcp://127.0.0.1:1")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.docker
def test_images_check_reports_the_local_docker_engine(operator: Operator) -> None:
    result = operator.run("images", "check")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Docker Engine ") and "answers" in result.stdout


# setup ----------------------------------------------------------------------------


def test_setup_with_admin_password_is_idempotent(operator: Operator) -> None:
    first = operator.run("setup", MAMORI_ADMIN_PASSWORD=ADMIN_PASSWORD)
    assert first.returncode == 0, first.stderr
    assert "administrator: login admin" in first.stdout
    assert ADMIN_PASSWORD not in first.stdout

    second = operator.run("setup", MAMORI_ADMIN_PASSWORD="another-password-2")
    assert second.returncode == 0, second.stderr
    assert "administrator" not in second.stdout

    users = operator.run("user", "list")
    assert users.returncode == 0, users.stderr
    admins = [line for line in users.stdout.splitlines() if line.split("\t")[1:2] == ["admin"]]
    assert [line.split("\t")[0] for line in admins] == ["admin"]
    assert operator.login_status("admin", ADMIN_PASSWORD) == 302
    assert operator.login_status("admin", "another-password-2") == 401


def test_setup_without_password_prints_a_generated_one_once(operator: Operator) -> None:
    first = operator.run("setup")
    assert first.returncode == 0, first.stderr
    # \b: the temporary folder's name ("..._password_...") is not a mention of a password.
    lines = [line for line in first.stdout.splitlines() if re.search(r"\bpassword\b", line)]
    assert len(lines) == 1, first.stdout
    password = re.split(r"\bpassword\b", lines[0], maxsplit=1)[1].split()[0]
    assert len(password) >= 10

    second = operator.run("setup")
    assert second.returncode == 0, second.stderr
    assert not re.search(r"\bpassword\b", second.stdout), second.stdout
    assert password not in second.stdout
    assert operator.login_status("admin", password) == 302


def test_setup_migrates_the_database(operator: Operator) -> None:
    assert operator.run("setup", MAMORI_ADMIN_PASSWORD=ADMIN_PASSWORD).returncode == 0
    current = operator.run("db", "current")
    assert f"current: {migrate.head_revision()}" in current.stdout


# scenarios and exercises ----------------------------------------------------------


def test_scenario_list_json(operator: Operator) -> None:
    operator.migrate()
    operator.register_scenario()

    result = operator.run("scenario", "list", "--json")

    assert result.returncode == 0, result.stderr
    scenarios = json.loads(result.stdout)
    assert isinstance(scenarios, list)
    assert [(s["id"], s["title"], s["days"]) for s in scenarios] == [
        ("mini", {"ja": "最小シナリオ", "en": "Minimal scenario"}, 1)
    ]


def test_scenario_register_names_the_bad_file_and_field(operator: Operator) -> None:
    operator.migrate()
    (operator.scenarios / "broken.yaml").write_text(
        MINIMAL_SCENARIO.replace("level: beginner", "level: expert"), encoding="utf-8"
    )

    result = operator.run("scenario", "register")

    assert_one_clear_error(result, "broken.yaml", "level")


def test_exercise_create_prints_only_the_new_id(operator: Operator) -> None:
    operator.migrate()
    operator.register_scenario()

    result = operator.run("exercise", "create", "--scenario", "mini", "--teams", "3")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().isdigit(), result.stdout
    listed = json.loads(operator.run("exercise", "list", "--json").stdout)
    assert [(e["id"], e["scenario"], e["teams"]) for e in listed] == [
        (int(result.stdout.strip()), "mini", 3)
    ]


def test_exercise_create_with_unknown_scenario(operator: Operator) -> None:
    operator.migrate()
    operator.register_scenario()

    result = operator.run("exercise", "create", "--scenario", "no-such-scenario", "--teams", "3")

    assert_one_clear_error(result, "no-such-scenario", "mamori scenario register")
    assert result.stdout == ""


# users ------------------------------------------------------------------------------


def test_user_create_prints_a_one_time_password(operator: Operator) -> None:
    operator.migrate()

    result = operator.run("user", "create", "tanaka", "--role", "instructor")

    assert result.returncode == 0, result.stderr
    assert "created instructor tanaka" in result.stdout
    password = result.stdout.split("one-time password:", 1)[1].strip()
    assert len(password) >= 10
    assert operator.login_status("tanaka", password) == 302
    assert "tanaka\tinstructor" in operator.run("user", "list").stdout


def test_user_create_duplicate_is_refused(operator: Operator) -> None:
    operator.migrate()
    assert operator.run("user", "create", "tanaka", "--role", "instructor").returncode == 0

    result = operator.run("user", "create", "tanaka", "--role", "instructor")

    assert_one_clear_error(result, "tanaka", "already taken")
    assert "one-time password" not in result.stdout


def test_user_create_bad_login_is_refused(operator: Operator) -> None:
    operator.migrate()

    result = operator.run("user", "create", "田中 先生", "--role", "instructor")

    assert_one_clear_error(result, "ASCII")
    assert "田中" not in operator.run("user", "list").stdout
