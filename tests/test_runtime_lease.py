"""Two engines started by mistake: the second waits while the first holds the lease."""
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
