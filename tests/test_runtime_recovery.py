"""Two engines started by mistake, and an engine that died mid-inject: lease and recovery."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from app.runtime import lease

T0 = datetime(2026, 11, 27, tzinfo=timezone.utc)


def test_one_engine_at_a_time(db) -> None:  # type: ignore[no-untyped-def]
    assert lease.hold(db, "engine-a", T0)
    assert not lease.hold(db, "engine-b", T0 + timedelta(seconds=5)), "a live lease is not taken"
    assert lease.hold(db, "engine-a", T0 + timedelta(seconds=10)), "the holder renews"
    assert not lease.hold(db, "engine-b", T0 + timedelta(seconds=20))
    assert lease.hold(db, "engine-b", T0 + timedelta(seconds=10 + lease.TTL_SECONDS + 1)), "a dead engine's lease expires"
    lease.release(db, "engine-b")
    assert lease.hold(db, "engine-a", T0 + timedelta(seconds=40)), "a released lease is free at once"


def test_recovery_reruns_only_idempotent_injects(app, db) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from app.models import InjectRun, RunStatus
    from app.runtime.engine import Engine
    from tests.factories import make_exercise, make_scenario

    scenario = make_scenario(db, slug="recover")
    document = {**scenario.document}
    document["injects"] = [dict(i) for i in document["injects"]]
    document["injects"][0]["idempotent"] = True  # "beacon" may run again; "police-call" may not
    scenario.document = document
    exercise = make_exercise(db, teams=1, scenario=scenario)
    team = exercise.teams[0]
    for inject_id in ("beacon", "police-call"):
        db.add(InjectRun(exercise_id=exercise.id, team_id=team.id, inject_id=inject_id, status=RunStatus.RUNNING,
                         engine="dead-engine:1"))
    db.commit()
    assert Engine(app.extensions["mamori.db"], None, "x").recover() == 2  # type: ignore[arg-type]
    db.expire_all()
    state = {r.inject_id: r for r in db.scalars(select(InjectRun).where(InjectRun.exercise_id == exercise.id))}
    assert state["beacon"].status is RunStatus.REQUESTED and state["beacon"].attempt == 1
    assert state["police-call"].status is RunStatus.INTERRUPTED and "not re-run" in state["police-call"].result
