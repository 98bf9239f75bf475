"""Fixtures for range tests against the real Docker Engine, cleaned up by label."""
from __future__ import annotations

import uuid
from typing import Iterator

import pytest

from range import labels
from range.docker_backend import DockerBackend
from range.engine import DockerRangeEngine
from range.errors import EngineUnavailable

from tests.conftest import SESSION_TAG

TEST_EXERCISE_PREFIX = SESSION_TAG


@pytest.fixture(scope="session")
def docker_backend() -> DockerBackend:
    try:
        return DockerBackend()
    except EngineUnavailable as exc:
        pytest.fail(f"these tests need a Docker Engine (`make test` starts one): {exc}")


@pytest.fixture(scope="session", autouse=True)
def no_leftover_ranges(docker_backend: DockerBackend) -> Iterator[None]:
    """Whatever a failed test left behind is removed by label at the end of the session."""
    yield
    engine = DockerRangeEngine(docker_backend)
    leftovers = {
        c.labels.get(labels.EXERCISE, "")
        for c in docker_backend.containers(labels.filters())
    } | {n.labels.get(labels.EXERCISE, "") for n in docker_backend.networks(labels.filters())}
    for exercise in leftovers:
        if exercise.startswith(TEST_EXERCISE_PREFIX):
            engine.teardown(exercise)


def new_exercise_id() -> str:
    return TEST_EXERCISE_PREFIX + uuid.uuid4().hex[:6]
