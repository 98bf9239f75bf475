"""Every team's range of an exercise built on the real Docker Engine, for tests of what happens in ranges."""
from __future__ import annotations

from flask import Flask

from app.models import Exercise
from app.services import provisioning, ranges
from range.docker_backend import DockerBackend
from range.engine import DockerRangeEngine


def build_ranges(app: Flask, backend: DockerBackend, exercise: Exercise) -> tuple[DockerRangeEngine, str]:
    """Provision *exercise* (committed) and return the range engine and its label; every team must be ready.

    A team that fails is a test failure, and nothing is left behind by it.
    """
    settings = app.config["MAMORI_SETTINGS"]
    range_engine = DockerRangeEngine(backend)
    label = ranges.range_label(settings.instance_id, exercise)
    outcomes = provisioning.provision_exercise(app.extensions["mamori.db"], range_engine, settings.instance_id,
                                               exercise.id)
    if {o.state.value for o in outcomes} != {"ready"}:
        range_engine.teardown(label)
        raise AssertionError(f"not every team's range is ready: {[o.reason for o in outcomes]}")
    return range_engine, label
