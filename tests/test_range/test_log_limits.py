"""A root trainee printing to PID 1's stdout cannot grow the container's log on the Docker host without end."""
from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from app.cli.ranges import range_engine
from app.settings import Settings
from range.docker_backend import DockerBackend
from range.engine import DockerRangeEngine
from range.spec import LogLimits

from tests.test_range.conftest import new_exercise_id
from tests.test_range.plain_hosts import plain_host

pytestmark = pytest.mark.docker
MB = 1024 * 1024


def log_bytes(backend: DockerBackend, container_id: str) -> int:
    """Every file of the container's log: the current one and the rotated ones beside it."""
    current = Path(backend.api.inspect_container(container_id)["LogPath"])
    return sum(p.stat().st_size for p in current.parent.iterdir() if p.name.startswith(current.name))


def test_a_container_printing_20_mb_keeps_its_log_under_the_limit() -> None:
    backend = DockerBackend(logs=LogLimits("1m", 2))
    exercise = new_exercise_id()
    try:
        container = plain_host(backend, exercise, "1", "ws01")
        # As a trainee would: root in the host, writing to the stdout of PID 1 (the container's log).
        result = backend.exec(container, ["sh", "-c", "yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghij "
                                          "| head -c 20000000 > /proc/1/fd/1; echo written"], timeout=120)
        assert result.text.strip() == "written"
        assert log_bytes(backend, container) < 3 * MB  # 2 files of 1 MB, plus Docker's JSON framing slack
    finally:
        DockerRangeEngine(backend).teardown(exercise)


def test_the_settings_reach_every_container_the_platform_creates(app: Flask, settings: Settings) -> None:
    configured = Settings.from_env(environ={"DATABASE_URL": settings.database_url, "MAMORI_RANGE_LOG_MAX_SIZE": "3m",
                                            "MAMORI_RANGE_LOG_MAX_FILES": "4"},
                                   instance_path=settings.instance_path)
    app.config["MAMORI_SETTINGS"] = configured
    with app.app_context():
        backend = range_engine().backend
    assert backend.logs == LogLimits("3m", 4)
    exercise = new_exercise_id()
    try:
        container = plain_host(backend, exercise, "1", "ws01")
        config = backend.api.inspect_container(container)["HostConfig"]["LogConfig"]
        assert config == {"Type": "json-file", "Config": {"max-size": "3m", "max-file": "4"}}
        # The layer's quota (MAMORI_RANGE_DISK_LIMIT_MB) is tried at the first create; a driver that cannot
        # enforce it (overlay2 on ext4) is remembered, and the container is made without it.
        storage = backend.api.inspect_container(container)["HostConfig"].get("StorageOpt") or {}
        if backend.layer_quota_supported:
            assert storage == {"size": str(512 * MB)}
        else:
            assert backend.layer_quota_supported is False and storage == {}
    finally:
        DockerRangeEngine(backend).teardown(exercise)
